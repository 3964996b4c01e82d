"""The waiting line (lockable 1.2, issue 9) through the package.

Every test here is marked ``needs_waiting_line``: skipped while the
database's lockable has no line (``lockable.lock_status`` without
``waiters``), run once it has; LOCKABLE_TEST_REQUIRE_QUEUE=1 makes a run
without the line stop at its start instead of skipping them.
"""
from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction

from django_lockable import Mutex, ResourceLocked, _db, acquire, owner_of, release, release_all

from .testapp.models import Document

pytestmark = pytest.mark.needs_waiting_line


def test_joining_the_line(using, uid):
    assert acquire(uid, "user:1", using=using).granted
    bob = acquire(uid, "user:2", queue=True, using=using)
    assert (bob.granted, bob.owner, bob.token, bob.position, bob.waiters) == (False, "user:1", None, 1, 1)
    carol = acquire(uid, "user:3", queue=True, using=using)
    assert (carol.position, carol.waiters) == (2, 2)
    # a renewed place keeps its position
    assert acquire(uid, "user:2", queue=True, ttl=timedelta(minutes=5), using=using).position == 1
    # the holder renews as usual, and sees the line
    holder = acquire(uid, "user:1", queue=True, using=using)
    assert (holder.granted, holder.position, holder.waiters) == (True, None, 2)


def test_release_hands_the_lock_to_the_head_of_the_line(using, uid):
    first = acquire(uid, "user:1", using=using)
    acquire(uid, "user:2", queue=True, ttl=timedelta(seconds=45), using=using)
    acquire(uid, "user:3", queue=True, using=using)
    assert release(uid, "user:1", using=using) is True
    assert owner_of(uid, using=using) == "user:2"
    bob = acquire(uid, "user:2", queue=True, using=using)  # bob's heartbeat finds him the holder
    assert bob.granted and bob.token > first.token and bob.waiters == 1
    assert acquire(uid, "user:3", queue=True, using=using).position == 1


def test_no_barging_while_the_line_has_a_place(using, uid):
    acquire(uid, "user:1", using=using)
    acquire(uid, "user:2", queue=True, using=using)
    release(uid, "user:1", using=using)
    stranger = acquire(uid, "user:9", using=using)
    assert (stranger.granted, stranger.owner) == (False, "user:2")


def test_leaving_the_line(using, uid):
    acquire(uid, "user:1", using=using)
    acquire(uid, "user:2", queue=True, using=using)
    acquire(uid, "user:3", queue=True, using=using)
    assert release(uid, "user:2", using=using) is True  # gave up a live place
    assert release(uid, "user:2", using=using) is False
    assert acquire(uid, "user:3", queue=True, using=using).position == 1


def test_release_all_counts_locks_and_places(using, uid):
    # owners of this test's own, so that other tests' locks do not count
    holder, leaver = f"holder:{uid}", f"leaver:{uid}"
    acquire(f"{uid}:a", holder, using=using)
    acquire(f"{uid}:b", holder, using=using)
    acquire(f"{uid}:b", leaver, queue=True, using=using)
    acquire(f"{uid}:c", leaver, using=using)
    assert release_all(leaver, using=using) == 2  # the lock on c and the place on b
    assert acquire(f"{uid}:b", holder, using=using).waiters == 0
    assert owner_of(f"{uid}:c", using=using) is None


def test_mutex_with_queue_raises_with_the_position(alice, bob, carol, uid):
    Mutex(uid, 60, alice).acquire()
    with pytest.raises(ResourceLocked) as waiting:
        Mutex(uid, 60, bob, queue=True).acquire()
    assert (waiting.value.position, waiting.value.waiters, waiting.value.user_id) == (1, 1, alice.pk)
    Mutex(uid, 60, alice).release()
    assert Mutex(uid, 60, bob, queue=True).acquire().granted


def test_lockable_model_lock_with_queue(alice, bob, db):
    document = Document.objects.create(title="Minutes")
    document.lock(alice)
    with pytest.raises(ResourceLocked) as waiting:
        document.lock(bob, queue=True)
    assert waiting.value.position == 1
    assert document.lock_status().waiters == 1
    document.unlock(alice)
    assert document.locked_by == bob.pk


def test_rest_post_queue_joins_the_line(client_of, alice, bob, carol, uid):
    url = f"/api/lock/{uid}/"
    assert client_of(alice).post(url).status_code == 200
    response = client_of(bob).post(url + "?queue=1")
    assert response.status_code == 423
    assert (response.json()["position"], response.json()["waiters"]) == (1, 1)
    assert client_of(carol).post(url + "?queue=1").json()["position"] == 2
    # DELETE leaves the line
    assert client_of(bob).delete(url).status_code == 204
    assert client_of(carol).post(url + "?queue=1").json()["position"] == 1
    # the holder's 200 counts the waiters
    assert client_of(alice).post(url).json()["waiters"] == 1
    assert client_of(alice).delete(url).status_code == 204
    granted = client_of(carol).post(url + "?queue=1")
    assert granted.status_code == 200 and granted.json()["user_id"] == carol.pk


def test_a_null_queue_is_refused_by_the_database(uid, db):
    """The package never sends NULL; the contract says 22004 for it."""
    from django.db import connection

    with pytest.raises(DatabaseError) as refused:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SELECT * FROM lockable.lock_acquire(%s, %s, queue => NULL)", [uid, "user:1"])
    assert _db.sqlstate(refused.value) == "22004"


@pytest.mark.django_db(transaction=True)
def test_a_place_taken_by_a_refused_mutex_survives_atomic_requests(client_of, django_user_model, uid):
    """ResourceLocked is not rolled back by the exception handler: with one
    transaction per request, bob's place in line still commits."""
    from django.db import connection

    alice, bob, carol = (django_user_model.objects.create_user(name) for name in ("alice", "bob", "carol"))
    connection.settings_dict["ATOMIC_REQUESTS"] = True
    try:
        assert client_of(alice).post(f"/mutex/{uid}/").status_code == 200
        response = client_of(bob).post(f"/mutex/{uid}/?queue=1")
        assert (response.status_code, response.json()["position"]) == (423, 1)
        assert client_of(carol).post(f"/mutex/{uid}/?queue=1").json()["position"] == 2
    finally:
        connection.settings_dict["ATOMIC_REQUESTS"] = False
