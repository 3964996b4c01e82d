"""The low-level API of moving locks (lockable 1.4): take_over, hand_over,
request, decline, history and displaced_by, on Django's connection and on
connections of one's own from both drivers; LockAdminRequired without
lockable_admin, TransferNotSupported before 1.4."""
from contextlib import nullcontext
from datetime import datetime, timedelta

import pytest
from django.db import DataError, ProgrammingError, transaction

from django_lockable import (
    HistoryEvent,
    LockAdminRequired,
    TakeOverStatus,
    acquire,
    decline,
    displaced_by,
    hand_over,
    history,
    owner_of,
    release,
    request,
    take_over,
    verify,
)
from django_lockable._transfer import EVENTS, can_read_history, can_take_over

from .drivers import is_psycopg2, psycopg, psycopg2
from .drivers import sql as driver_sql

pytestmark = pytest.mark.needs_transfer


@pytest.fixture
def admin_using(using, cluster, superuser):
    """``using``, with lockable_admin granted to the application's role (as
    the fixture lockable_admin does for Django's connection)."""
    role = driver_sql.Identifier(cluster.role)
    superuser.run(driver_sql.SQL("GRANT lockable_admin TO {}").format(role))
    if using == "default":
        from django.db import connection

        with connection.cursor() as cur:  # see the new membership in the test's transaction
            cur.execute("SELECT FROM lockable.lock_history LIMIT 0")
    yield using
    superuser.run(driver_sql.SQL("REVOKE lockable_admin FROM {}").format(role))


def refused(using):
    """A block whose database error leaves Django's test transaction usable."""
    return transaction.atomic() if using == "default" else nullcontext()


def data_error(using):
    """The DataError that ``using``'s driver raises."""
    if using == "default":
        return DataError
    return psycopg2.DataError if is_psycopg2(using) else psycopg.DataError


# --- take over ----------------------------------------------------------------------


def test_take_over_of_a_live_lock(admin_using, uid):
    using = admin_using
    held = acquire(uid, "user:79", ttl=timedelta(hours=1), using=using)
    status = take_over(uid, "user:89", ttl=timedelta(minutes=5), reason="urgent fix", using=using)
    assert isinstance(status, TakeOverStatus)
    assert (status.granted, status.uid, status.owner, status.user_id) == (True, uid, "user:89", 89)
    assert status.token > held.token
    assert status.expires_at - status.acquired_at == timedelta(minutes=5)
    assert (status.previous_owner, status.previous_user_id, status.previous_token) == ("user:79", 79, held.token)
    assert (status.waiters, status.position) == (0, None)
    assert owner_of(uid, using=using) == "user:89"
    assert verify(uid, "user:79", held.token, using=using) is False
    [event] = history(uid, using=using, limit=1)
    assert (event.event, event.owner, event.previous_owner, event.token, event.reason) == (
        "take_over", "user:89", "user:79", status.token, "urgent fix")


def test_take_over_of_a_free_lock_displaces_nobody(admin_using, uid):
    status = take_over(uid, "user:89", using=admin_using)
    assert status.granted and status.owner == "user:89"
    assert (status.previous_owner, status.previous_token, status.previous_user_id) == (None, None, None)
    assert status.expires_at - status.acquired_at == timedelta(minutes=1)  # the default ttl


def test_take_over_with_requeue_puts_the_holder_first_in_line(admin_using, uid):
    using = admin_using
    acquire(uid, "user:79", ttl=3600, using=using)
    assert acquire(uid, "user:99", ttl=3600, queue=True, using=using).position == 1
    status = take_over(uid, "user:89", ttl=60, requeue=True, using=using)
    assert status.waiters == 2
    assert acquire(uid, "user:79", ttl=3600, queue=True, using=using).position == 1
    assert acquire(uid, "user:99", ttl=3600, queue=True, using=using).position == 2


def test_take_over_without_lockable_admin_raises_lock_admin_required(using, uid):
    acquire(uid, "user:79", using=using)
    with pytest.raises(LockAdminRequired, match="GRANT lockable_admin TO") as raised:
        with refused(using):
            take_over(uid, "user:89", using=using)
    assert isinstance(raised.value, ProgrammingError)  # what the database's error is, too
    assert owner_of(uid, using=using) == "user:79"


def test_take_over_refuses_bad_arguments(admin_using, uid):
    using = admin_using
    with pytest.raises(TypeError, match="ttl"):
        take_over(uid, "user:89", ttl="a minute", using=using)
    with pytest.raises(TypeError, match="reason"):
        take_over(uid, "user:89", reason=42, using=using)
    expected = data_error(using)
    with pytest.raises(expected, match="reason is too long"):
        with refused(using):
            take_over(uid, "user:89", reason="r" * 1001, using=using)
    with pytest.raises(expected):
        with refused(using):
            take_over(uid, "user:89", ttl=-1, using=using)
    assert owner_of(uid, using=using) is None


# --- hand over, request, decline -----------------------------------------------------------


def test_hand_over_to_someone_in_the_line(using, uid):
    held = acquire(uid, "user:79", ttl=3600, using=using)
    acquire(uid, "user:89", ttl=3600, queue=True, using=using)
    acquire(uid, "user:99", ttl=600, queue=True, using=using)
    assert hand_over(uid, "user:79", "user:99", using=using) is True
    status = acquire(uid, "user:99", ttl=600, using=using)
    assert status.granted and status.token > held.token
    assert acquire(uid, "user:89", ttl=3600, queue=True, using=using).position == 1


def test_hand_over_to_someone_outside_the_line_with_a_ttl(using, uid):
    acquire(uid, "user:79", using=using)
    assert hand_over(uid, "user:79", "user:89", ttl=timedelta(minutes=5), using=using) is True
    assert owner_of(uid, using=using) == "user:89"


def test_hand_over_by_someone_not_holding_it_changes_nothing(using, uid):
    acquire(uid, "user:79", using=using)
    assert hand_over(uid, "user:89", "user:99", using=using) is False
    assert hand_over(f"{uid}:free", "user:89", "user:99", using=using) is False
    assert owner_of(uid, using=using) == "user:79"


def test_hand_over_to_the_holder_itself_is_22023(using, uid):
    acquire(uid, "user:79", using=using)
    expected = data_error(using)
    with pytest.raises(expected, match="cannot hand a lock over to its own holder"):
        with refused(using):
            hand_over(uid, "user:79", "user:79", using=using)
    with pytest.raises(TypeError, match="ttl"):
        hand_over(uid, "user:79", "user:89", ttl="soon", using=using)


def test_request_and_decline(using, uid):
    acquire(uid, "user:79", using=using)
    assert request(uid, "user:89", "may I?", using=using) is False  # no place in line
    acquire(uid, "user:89", queue=True, using=using)
    assert request(uid, "user:89", "may I?", using=using) is True
    assert request(uid, "user:89", using=using) is True
    assert decline(uid, "user:79", "user:89", using=using) is True
    assert decline(uid, "user:89", "user:79", using=using) is False  # not the holder
    release(uid, "user:79", using=using)  # hands on to user:8
    assert request(uid, "user:89", using=using) is False  # the holder asks nobody
    assert owner_of(uid, using=using) == "user:89"
    with pytest.raises(TypeError, match="message"):
        request(uid, "user:89", message=b"bytes", using=using)


# --- the history -------------------------------------------------------------------------


def test_history_is_newest_first_with_every_column(admin_using, uid, cluster):
    using = admin_using
    held = acquire(uid, "user:79", using=using)
    acquire(uid, "user:89", queue=True, using=using)
    request(uid, "user:89", "please", using=using)
    taken = take_over(uid, "user:99", reason="audit", using=using)
    events = history(uid, using=using)
    assert [e.event for e in events] == ["take_over", "request", "place_taken", "grant"]
    assert all(isinstance(e, HistoryEvent) and e.uid == uid and e.role == cluster.role for e in events)
    assert all(isinstance(e.at, datetime) and e.at.tzinfo is not None for e in events)
    assert events[0].at >= events[1].at >= events[2].at >= events[3].at
    take, ask, place, grant = events
    assert (take.owner, take.user_id, take.previous_owner, take.previous_user_id, take.token, take.reason) == (
        "user:99", 99, "user:79", 79, taken.token, "audit")
    assert (ask.owner, ask.previous_owner, ask.reason, ask.token) == ("user:89", "user:79", "please", None)
    assert (grant.owner, grant.token, grant.previous_owner) == ("user:79", held.token, None)
    assert set(e.event for e in events) <= set(EVENTS)


def test_history_filters_and_pages(admin_using, uid):
    using = admin_using
    for n in range(3):
        acquire(f"{uid}:{n}", "user:79", using=using)
        take_over(f"{uid}:{n}", "user:89", using=using)
    acquire(f"{uid}:0", "user:99", queue=True, using=using)
    assert [e.event for e in history(f"{uid}:0", using=using)] == ["place_taken", "take_over", "grant"]
    mine = history(owner="user:79", using=using, limit=1000)
    # user:7's grants, and the take overs that displaced user:7
    assert {(e.uid, e.event) for e in mine if e.uid.startswith(uid)} == {
        (f"{uid}:{n}", event) for n in range(3) for event in ("grant", "take_over")}
    assert history(f"{uid}:1", "user:99", using=using) == []
    whole = history(f"{uid}:0", using=using)
    assert history(f"{uid}:0", limit=2, using=using) + history(f"{uid}:0", limit=2, offset=2, using=using) == whole
    with pytest.raises(ValueError, match="limit"):
        history(uid, limit=0, using=using)
    with pytest.raises(ValueError, match="offset"):
        history(uid, offset=-1, using=using)
    with pytest.raises(TypeError, match="limit"):
        history(uid, limit="10", using=using)


def test_history_without_lockable_admin_raises_lock_admin_required(using, uid):
    with pytest.raises(LockAdminRequired, match="read the lock history"):
        with refused(using):
            history(uid, using=using)
    assert can_read_history(using) is False and can_take_over(using) is False


def test_can_take_over_and_read_history_with_lockable_admin(admin_using):
    assert can_read_history(admin_using) is True and can_take_over(admin_using) is True


def test_displaced_by_names_the_take_over_that_ended_a_grant(admin_using, uid):
    using = admin_using
    assert displaced_by(uid, "user:79", using=using) is None  # never held
    acquire(uid, "user:79", using=using)
    assert displaced_by(uid, "user:79", using=using) is None  # still holds it
    take_over(uid, "user:89", reason="mine now", using=using)
    event = displaced_by(uid, "user:79", using=using)
    assert (event.event, event.owner, event.previous_owner, event.reason) == (
        "take_over", "user:89", "user:79", "mine now")
    assert displaced_by(uid, "user:89", using=using) is None  # the taker holds it
    release(uid, "user:89", using=using)
    assert displaced_by(uid, "user:79", using=using) == event  # still the last thing that happened to user:7
    acquire(uid, "user:79", using=using)
    release(uid, "user:79", using=using)
    assert displaced_by(uid, "user:79", using=using) is None  # released, not displaced
