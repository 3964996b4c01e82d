"""The low-level API on both drivers: Django's connection (psycopg2, or
psycopg 3 from Django 4.2 when it is installed) and connections of one's
own from psycopg2 and psycopg 3 (each where the cell has it)."""
import dataclasses
from datetime import datetime, timedelta

import pytest
from django.db import DataError, transaction

from django_lockable import (
    LockStatus,
    QueueNotSupported,
    TransferNotSupported,
    _db,
    acquire,
    decline,
    displaced_by,
    hand_over,
    history,
    owner_of,
    release,
    release_all,
    request,
    take_over,
    verify,
)

from .drivers import is_psycopg2, psycopg, psycopg2


def test_acquire_grants_a_free_lock(using, uid, cluster):
    status = acquire(uid, "user:7", ttl=timedelta(minutes=2), using=using)
    assert isinstance(status, LockStatus)
    assert (status.granted, status.uid, status.owner, status.user_id) == (True, uid, "user:7", 7)
    assert isinstance(status.token, int) and status.token > 0
    assert isinstance(status.acquired_at, datetime) and status.acquired_at.tzinfo is not None
    assert status.expires_at - status.acquired_at == timedelta(minutes=2)
    # 1.2 reports the line (empty here); 1.1 has none
    assert (status.waiters, status.position) == ((0, None) if cluster.has_queue else (None, None))


def test_acquire_renews_the_holders_lock_with_the_same_token(using, uid):
    first = acquire(uid, "user:7", ttl=timedelta(seconds=30), using=using)
    renewed = acquire(uid, "user:7", ttl=timedelta(minutes=5), using=using)
    assert renewed.granted
    assert (renewed.token, renewed.acquired_at) == (first.token, first.acquired_at)
    assert renewed.expires_at > first.expires_at


def test_acquire_reports_another_holder(using, uid):
    held = acquire(uid, "user:7", using=using)
    refused = acquire(uid, "user:8", using=using)
    assert (refused.granted, refused.owner, refused.user_id, refused.token) == (False, "user:7", 7, None)
    assert refused.expires_at == held.expires_at


def test_ttl_and_wait_in_seconds(using, uid):
    granted = acquire(uid, "user:7", ttl=90, using=using)
    assert granted.expires_at - granted.acquired_at == timedelta(seconds=90)
    # a waiting acquire that the holder never lets through returns the holder
    waited = acquire(uid, "user:8", wait=0.05, using=using)
    assert (waited.granted, waited.owner) == (False, "user:7")


def test_release(using, uid):
    acquire(uid, "user:7", using=using)
    assert release(uid, "user:8", using=using) is False  # not the holder
    assert owner_of(uid, using=using) == "user:7"
    assert release(uid, "user:7", using=using) is True
    assert release(uid, "user:7", using=using) is False  # already released
    assert owner_of(uid, using=using) is None


def test_release_all(using, uid):
    for n in range(3):
        assert acquire(f"{uid}:{n}", "user:release-all", using=using).granted
    assert release_all("user:release-all", using=using) == 3
    assert release_all("user:release-all", using=using) == 0
    assert owner_of(f"{uid}:0", using=using) is None


def test_owner_of(using, uid):
    assert owner_of(uid, using=using) is None
    acquire(uid, "user:7", using=using)
    assert owner_of(uid, using=using) == "user:7"


def test_verify_checks_owner_and_token(using, uid):
    status = acquire(uid, "user:7", using=using)
    assert verify(uid, "user:7", status.token, using=using) is True
    assert verify(uid, "user:7", status.token + 1, using=using) is False
    assert verify(uid, "user:8", status.token, using=using) is False
    release(uid, "user:7", using=using)
    assert verify(uid, "user:7", status.token, using=using) is False


def test_lock_status_is_frozen_and_parses_user_ids():
    status = LockStatus(granted=True, uid="doc:1", owner="user:42", token=1, acquired_at=None, expires_at=None)
    assert status.user_id == 42
    with pytest.raises(dataclasses.FrozenInstanceError):
        status.owner = "user:43"
    assert LockStatus(False, "doc:1", "service:billing", None, None, None).user_id is None
    assert LockStatus(False, "doc:1", "user:not-a-number", None, None, None).user_id is None
    assert LockStatus(False, "doc:1", None, None, None, None).user_id is None


def _sqlstate_of(error_info):
    return _db.sqlstate(error_info.value)


BAD_ARGUMENTS = [
    pytest.param({"uid": "x" * 513}, "22023", id="uid over 512 bytes"),
    pytest.param({"uid": ""}, "22023", id="empty uid"),
    pytest.param({"owner": ""}, "22023", id="empty owner"),
    pytest.param({"owner": "ü" * 257}, "22023", id="owner over 512 bytes, 257 characters"),
    pytest.param({"ttl": timedelta(0)}, "22023", id="ttl zero"),
    pytest.param({"ttl": timedelta(days=2)}, "22023", id="ttl over lockable.max_ttl"),
    pytest.param({"wait": -1}, "22023", id="negative wait"),
    pytest.param({"uid": None}, "22004", id="None uid"),
    pytest.param({"owner": None}, "22004", id="None owner"),
]


@pytest.mark.parametrize("bad, sqlstate", BAD_ARGUMENTS)
def test_bad_arguments_are_refused(using, uid, bad, sqlstate):
    arguments = {"uid": uid, "owner": "user:7", **bad}
    if isinstance(using, str):
        expected = DataError
    else:  # the driver's own error on a connection of one's own
        expected = psycopg2.DataError if is_psycopg2(using) else psycopg.DataError
    with pytest.raises(expected) as error:
        if isinstance(using, str):
            with transaction.atomic():
                acquire(using=using, **arguments)
        else:
            acquire(using=using, **arguments)
    assert _sqlstate_of(error) == sqlstate
    assert owner_of(uid, using=using) is None


def test_ttl_of_another_type_is_a_type_error(uid):
    with pytest.raises(TypeError, match="ttl must be a timedelta or a number of seconds"):
        acquire(uid, "user:7", ttl="2 minutes")
    with pytest.raises(TypeError):
        acquire(uid, "user:7", ttl=True)


def test_queue_with_wait_is_refused(uid):
    with pytest.raises(ValueError, match="queue and wait exclude each other"):
        acquire(uid, "user:7", wait=timedelta(seconds=1), queue=True)


@pytest.mark.without_waiting_line
def test_queue_without_the_waiting_line_raises_queue_not_supported(using, uid):
    with pytest.raises(QueueNotSupported, match="needs lockable 1.2"):
        acquire(uid, "user:7", queue=True, using=using)
    # nothing was taken, and the connection is fine
    assert owner_of(uid, using=using) is None


def test_a_connection_of_ones_own_keeps_its_transaction(psycopg3_connection, uid):
    """A grant made in a psycopg 3 transaction that rolls back was never made."""
    psycopg3_connection.autocommit = False
    with pytest.raises(psycopg.errors.DataError):  # the fixture skips without psycopg 3
        with psycopg3_connection.transaction():
            assert acquire(uid, "user:7", using=psycopg3_connection).granted
            acquire("", "user:7", using=psycopg3_connection)
    assert owner_of(uid, using=psycopg3_connection) is None
    psycopg3_connection.rollback()


def test_features_are_detected_once_per_connection(db, superuser, cluster):
    found = _db.features("default")
    [(version,)] = superuser.run("SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'lockable'")
    assert found == _db.Features(version=version, queue=cluster.has_queue, transfer=cluster.has_transfer,
                                 presence=cluster.has_presence)
    assert _db.features("default") is found  # cached on the connection
    _db.forget_features("default")
    assert _db.features("default") == found and _db.features("default") is not found


@pytest.mark.without_transfer
@pytest.mark.parametrize("call", [
    lambda uid, using: take_over(uid, "user:8", using=using),
    lambda uid, using: hand_over(uid, "user:7", "user:8", using=using),
    lambda uid, using: request(uid, "user:8", using=using),
    lambda uid, using: decline(uid, "user:7", "user:8", using=using),
    lambda uid, using: history(uid, using=using),
    lambda uid, using: displaced_by(uid, "user:7", using=using),
], ids=["take_over", "hand_over", "request", "decline", "history", "displaced_by"])
def test_before_1_4_each_transfer_call_raises_transfer_not_supported(using, uid, call):
    with pytest.raises(TransferNotSupported, match="need lockable 1.4"):
        call(uid, using)
    assert owner_of(uid, using=using) is None  # the connection is fine
