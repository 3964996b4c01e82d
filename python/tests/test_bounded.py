"""Every call the package makes is bounded (issue 20, item 10(a)).

Another session takes a uid's lock row in a transaction that it keeps open
(``lock_acquire`` in ``BEGIN``, never committed), as a stuck worker or a
hostile role with ``lockable_user`` can.  Before, every other call on that
uid waited in ``heap_update`` with no bound, holding its thread.  Now each
call runs under ``LOCKABLE_LOCK_TIMEOUT`` and raises ``LockTimeout``, the
REST view answers 503 with ``Retry-After``, and a waiting acquire waits
until its own ``wait`` ends.  A statement_timeout of a few seconds is the
tests' safety net: without the bound the calls end with 57014, not
``LockTimeout``, and the tests fail rather than hang.
"""
import time
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, Iterator

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings

import django_lockable
from django_lockable import _db, acquire, owner_of, release, release_all, verify
from django_lockable.drf import exception_handler

from .drivers import connect, sql

BOUND = 0.3
"""LOCKABLE_LOCK_TIMEOUT of these tests, in seconds."""
SAFETY_NET = "4s"
"""statement_timeout: what ends a call that nothing else bounds."""


class Intruder:
    """A superuser's session that holds uids' lock rows in an open transaction."""

    def __init__(self, dsn: Any) -> None:
        self.conn = connect(dsn)
        self.open = False
        with self.conn.cursor() as cur:
            cur.execute("SET statement_timeout = '10s'")  # never hang the run

    def hold(self, uid: str) -> None:
        """Lock uid's lock row (made first if there is none) in a transaction
        that stays open."""
        with self.conn.cursor() as cur:
            cur.execute("SELECT lockable.lock_acquire(%s, 'intruder:0')", [uid])
            cur.execute("SELECT lockable.lock_release(%s, 'intruder:0')", [uid])
            cur.execute("BEGIN")
            self.open = True
            cur.execute("SELECT uid FROM lockable.locks WHERE uid = %s FOR UPDATE", [uid])

    def let_go(self) -> None:
        if self.open:
            with self.conn.cursor() as cur:
                cur.execute("ROLLBACK")
            self.open = False

    def close(self) -> None:
        self.let_go()
        self.conn.close()


@pytest.fixture
def intruder(cluster: Any) -> Iterator[Intruder]:
    found = Intruder(cluster.superuser_dsn())
    yield found
    found.close()


@contextmanager
def safety_net(cluster: Any, cursor: Any) -> Iterator[None]:
    """statement_timeout on the session of cursor() for the block.  Not through
    PgBouncer in transaction mode: a session's SET would land on any server
    connection (there the tests rely on the bound alone)."""
    if not cluster.pooled:
        with cursor() as cur:
            cur.execute("SELECT pg_catalog.set_config('statement_timeout', %s, false)", [SAFETY_NET])
    try:
        yield
    finally:
        if not cluster.pooled:
            with cursor() as cur:
                cur.execute("RESET statement_timeout")


@pytest.fixture
def bounded(using: Any, cluster: Any) -> Iterator[Any]:
    """``using`` (Django's connection or one's own, in autocommit: what is
    written is committed, so the intruder's session sees it) with the safety
    net, and the tests' short bound."""
    cursor = connection.cursor if isinstance(using, str) else using.cursor
    with safety_net(cluster, cursor), override_settings(LOCKABLE_LOCK_TIMEOUT=BOUND):
        yield using


def timed_out(using: Any, call: Any) -> float:
    """Run call, which must raise LockTimeout (in a savepoint of Django's
    connection, as a request's atomic block would); return how long it took."""
    started = time.monotonic()
    with pytest.raises(django_lockable.LockTimeout) as raised:
        if isinstance(using, str):
            with transaction.atomic(using=using):
                call()
        else:
            call()
    elapsed = time.monotonic() - started
    assert _db.sqlstate(raised.value) == "55P03"
    assert raised.value.lock_timeout == timedelta(seconds=BOUND)
    assert "try again" in str(raised.value)
    return elapsed


@pytest.mark.django_db(transaction=True)
def test_calls_on_a_lock_row_held_open_time_out(bounded, uid, intruder, cluster):
    intruder.hold(uid)
    calls = [lambda: acquire(uid, "user:7", using=bounded)]  # free, so it writes: a grant
    if cluster.has_queue:
        calls.append(lambda: acquire(uid, "user:7", queue=True, using=bounded))
    for call in calls:
        elapsed = timed_out(bounded, call)
        assert BOUND * 0.9 <= elapsed < BOUND + 1.5, elapsed
    intruder.let_go()
    held = acquire(uid, "user:7", using=bounded)
    intruder.hold(uid)
    calls = [
        lambda: acquire(uid, "user:7", using=bounded),   # the holder's renewal
        lambda: release(uid, "user:7", using=bounded),
        lambda: release_all("user:7", using=bounded),
    ]
    if cluster.has_queue:
        calls.append(lambda: acquire(uid, "user:8", queue=True, using=bounded))  # a place in line
    for call in calls:
        elapsed = timed_out(bounded, call)
        assert BOUND * 0.9 <= elapsed < BOUND + 1.5, elapsed
    # reads never wait for the row
    assert owner_of(uid, using=bounded) == "user:7"
    assert verify(uid, "user:7", held.token, using=bounded) is True
    intruder.let_go()
    assert acquire(uid, "user:7", using=bounded).token == held.token
    assert release(uid, "user:7", using=bounded) is True


@pytest.mark.needs_transfer
@pytest.mark.django_db(transaction=True)
def test_the_calls_that_move_locks_time_out_too(bounded, uid, intruder):
    from django_lockable import decline, hand_over, request

    held = acquire(uid, "user:7", using=bounded)
    acquire(uid, "user:8", queue=True, using=bounded)
    intruder.hold(uid)
    elapsed = timed_out(bounded, lambda: hand_over(uid, "user:7", "user:8", using=bounded))
    assert BOUND * 0.9 <= elapsed < BOUND + 1.5, elapsed
    # asking and declining change no lock: they do not wait for the row
    assert request(uid, "user:8", "please", using=bounded) is True
    assert decline(uid, "user:7", "user:8", using=bounded) is True
    intruder.let_go()
    assert hand_over(uid, "user:7", "user:8", using=bounded) is True
    assert owner_of(uid, using=bounded) == "user:8" and held.token
    release(uid, "user:8", using=bounded)


@pytest.mark.django_db(transaction=True)
def test_a_waiting_acquire_waits_for_the_open_transaction_until_its_wait_ends(bounded, uid, intruder):
    intruder.hold(uid)
    started = time.monotonic()
    status = acquire(uid, "user:7", wait=1.0, using=bounded)
    elapsed = time.monotonic() - started
    assert not status.granted
    assert 0.9 <= elapsed < 3, elapsed


def test_the_bound_is_put_back_in_a_transaction(db, uid):
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL lock_timeout = '7s'")
        acquire(uid, "user:7")
        from django_lockable._core import peek

        assert peek(f"{uid}:free") is None  # a call that returns no row puts it back too
        assert peek(uid) is not None
        release(uid, "user:7")
        with connection.cursor() as cur:
            cur.execute("SELECT pg_catalog.current_setting('lock_timeout')")
            assert cur.fetchone()[0] == "7s"


def test_the_bound_is_left_off_a_connection_of_ones_own(psycopg3_connection, uid):
    acquire(uid, "user:7", using=psycopg3_connection)
    release(uid, "user:7", using=psycopg3_connection)
    assert psycopg3_connection.execute("SHOW lock_timeout").fetchone()[0] == "0"


def test_the_bound_is_lockable_lock_timeout(db, uid, intruder):
    intruder.hold(uid)
    for seconds in (0.2, 1.0):
        with override_settings(LOCKABLE_LOCK_TIMEOUT=seconds), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SET LOCAL statement_timeout = '4s'")
            started = time.monotonic()
            with pytest.raises(django_lockable.LockTimeout), transaction.atomic():
                acquire(uid, "user:7")
            assert seconds * 0.9 <= time.monotonic() - started < seconds + 1.5


@pytest.mark.django_db(transaction=True)
def test_the_rest_view_answers_503_try_again(alice, client_of, uid, intruder, cluster):
    client = client_of(alice)
    assert client.post(f"/api/lock/{uid}/").status_code == 200  # so that DELETE writes too
    intruder.hold(uid)
    with override_settings(LOCKABLE_LOCK_TIMEOUT=BOUND), safety_net(cluster, connection.cursor):
        for method in (client.post, client.delete):
            started = time.monotonic()
            response = method(f"/api/lock/{uid}/")
            assert response.status_code == 503, (method, response.status_code)
            assert response["Retry-After"] == "1"
            assert "try again" in response.json()["detail"]
            assert time.monotonic() - started < BOUND + 1.5
    intruder.let_go()
    assert client.post(f"/api/lock/{uid}/").status_code == 200
    assert client.delete(f"/api/lock/{uid}/").status_code == 204
    assert acquire(uid, "user:8").granted  # released indeed
    release(uid, "user:8")


def test_the_exception_handler_answers_503_for_a_lock_timeout():
    response = exception_handler(_db.LockTimeout("busy", lock_timeout=timedelta(seconds=2)), {})
    assert response is not None
    assert (response.status_code, response["Retry-After"]) == (503, "1")


def test_a_model_lock_times_out(db, alice, intruder):
    from .testapp.models import Document

    document = Document(pk=2**31 - 7, title="held")  # unsaved: only its uid matters
    intruder.hold(document.lock_uid)
    with override_settings(LOCKABLE_LOCK_TIMEOUT=BOUND):
        with connection.cursor() as cur:
            cur.execute("SET LOCAL statement_timeout = '4s'")
        with pytest.raises(django_lockable.LockTimeout), transaction.atomic():
            document.lock(alice)
        with pytest.raises(django_lockable.LockTimeout), transaction.atomic():
            django_lockable.Mutex(document.lock_uid, 30, alice).acquire()


@pytest.mark.django_db(transaction=True)
def test_the_sweep_command_says_try_again(superuser, uid, intruder, cluster):
    role = sql.Identifier(connection.settings_dict["USER"])
    superuser.run(sql.SQL("GRANT EXECUTE ON FUNCTION lockable.lock_sweep(interval) TO {}").format(role))
    try:
        # a lock that ended, so the sweep must delete the row the intruder holds
        intruder.hold(uid)
        with override_settings(LOCKABLE_LOCK_TIMEOUT=BOUND), safety_net(cluster, connection.cursor):
            with pytest.raises(CommandError, match="try again"):
                call_command("lockable_sweep")
    finally:
        superuser.run(sql.SQL("REVOKE EXECUTE ON FUNCTION lockable.lock_sweep(interval) FROM {}").format(role))


@pytest.mark.parametrize("value", [0, -1, "2", True, timedelta(0)])
def test_a_bad_lock_timeout_setting_is_refused(value):
    from django.core.exceptions import ImproperlyConfigured

    with override_settings(LOCKABLE_LOCK_TIMEOUT=value), pytest.raises(ImproperlyConfigured):
        acquire("x", "user:7")
