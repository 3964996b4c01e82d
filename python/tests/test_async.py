"""The async twins (aacquire, arelease, arelease_all, aowner_of, averify;
atake_over, ahand_over, arequest, adecline, ahistory, adisplaced_by;
Mutex.aacquire, arenew, arelease, async with; LockableModel.alock, aunlock,
alock_status), named as Django's own async methods are: the same arguments
as the sync call, and the same results.  The last tests run an async view
through Django's AsyncClient, on every Django of the matrix (5.2 and later
among them)."""
import inspect
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

import django_lockable
from django_lockable import (
    Mutex,
    ResourceLocked,
    aacquire,
    aowner_of,
    arelease,
    arelease_all,
    averify,
    owner_for,
    owner_of,
)
from django_lockable.models import LockableModel

from .testapp.models import Document

TWINS = [
    (django_lockable.acquire, aacquire),
    (django_lockable.release, arelease),
    (django_lockable.release_all, arelease_all),
    (django_lockable.owner_of, aowner_of),
    (django_lockable.verify, averify),
    (django_lockable.take_over, django_lockable.atake_over),
    (django_lockable.hand_over, django_lockable.ahand_over),
    (django_lockable.request, django_lockable.arequest),
    (django_lockable.decline, django_lockable.adecline),
    (django_lockable.history, django_lockable.ahistory),
    (django_lockable.displaced_by, django_lockable.adisplaced_by),
    (Mutex.acquire, Mutex.aacquire),
    (Mutex.renew, Mutex.arenew),
    (Mutex.release, Mutex.arelease),
    (LockableModel.lock, LockableModel.alock),
    (LockableModel.unlock, LockableModel.aunlock),
    (LockableModel.lock_status, LockableModel.alock_status),
]


@pytest.mark.parametrize("sync, twin", TWINS, ids=[twin.__qualname__ for _, twin in TWINS])
def test_each_async_twin_is_named_and_called_as_its_sync_call(sync, twin):
    assert twin.__name__ == "a" + sync.__name__
    assert inspect.iscoroutinefunction(twin)
    assert inspect.signature(twin).parameters == inspect.signature(sync).parameters
    assert inspect.signature(twin).return_annotation == inspect.signature(sync).return_annotation


def test_the_low_level_twins_lock_verify_and_release(db, uid):
    status = async_to_sync(aacquire)(uid, "user:7", ttl=timedelta(seconds=30))
    assert status.granted and status.owner == "user:7"
    assert async_to_sync(aowner_of)(uid) == "user:7" == owner_of(uid)
    assert async_to_sync(averify)(uid, "user:7", status.token) is True
    refused = async_to_sync(aacquire)(uid, "user:8")
    assert (refused.granted, refused.owner) == (False, "user:7")
    assert async_to_sync(arelease)(uid, "user:8") is False
    assert async_to_sync(arelease)(uid, "user:7") is True
    assert async_to_sync(aowner_of)(uid) is None
    async_to_sync(aacquire)(uid, "user:7")
    assert async_to_sync(arelease_all)("user:7") == 1


def test_the_twins_raise_what_the_sync_calls_raise(db, uid):
    with pytest.raises(TypeError, match="ttl"):
        async_to_sync(aacquire)(uid, "user:7", ttl="a minute")
    with pytest.raises(ValueError, match="queue and wait"):
        async_to_sync(aacquire)(uid, "user:7", wait=1, queue=True)


@pytest.mark.needs_transfer
def test_the_twins_of_moving_locks(lockable_admin, uid):
    from django_lockable import adecline, adisplaced_by, ahand_over, ahistory, arequest, atake_over

    async def body():
        await aacquire(uid, "user:7")
        await aacquire(uid, "user:8", queue=True)
        assert await arequest(uid, "user:8", "please") is True
        assert await adecline(uid, "user:7", "user:8") is True
        taken = await atake_over(uid, "user:9", ttl=30, reason="audit")
        assert (taken.owner, taken.previous_owner) == ("user:9", "user:7")
        assert (await adisplaced_by(uid, "user:7")).owner == "user:9"
        assert await ahand_over(uid, "user:9", "user:8") is True
        assert await aowner_of(uid) == "user:8"
        events = await ahistory(uid, limit=3)
        assert [e.event for e in events] == ["hand_over", "take_over", "decline"]

    async_to_sync(body)()


def test_async_with_mutex_acquires_and_releases(alice, bob, uid):
    async def body():
        async with Mutex(uid, 30, alice) as status:
            assert status.granted
            assert await aowner_of(uid) == owner_for(alice)
            with pytest.raises(ResourceLocked) as refused:
                await Mutex(uid, 30, bob).aacquire()
            assert refused.value.owner == owner_for(alice)
            renewed = await Mutex(uid, 30, alice).arenew()
            assert renewed.token == status.token
        assert await aowner_of(uid) is None

    async_to_sync(body)()


def test_a_models_twins(alice, bob):
    document = Document.objects.create(title="async")
    status = async_to_sync(document.alock)(alice)
    assert async_to_sync(document.alock_status)().owner == owner_for(alice) == status.owner
    with pytest.raises(ResourceLocked):
        async_to_sync(document.alock)(bob)
    assert async_to_sync(document.aunlock)(alice) is True
    assert async_to_sync(document.alock_status)() is None


def post(client, url):
    """AsyncClient.post from a sync test (Django 3.2's is no coroutine function)."""
    async def call():
        return await client.post(url)

    return async_to_sync(call)()


def test_an_async_view_holds_the_lock_for_its_block(alice, uid):
    client = AsyncClient()
    client.force_login(alice)
    response = post(client, f"/mutex-async/{uid}/")
    assert response.status_code == 200, response.content
    assert response.json()["holder_inside"] == owner_for(alice)
    assert owner_of(uid) is None  # released when the block ended


def test_an_async_view_refused_by_another_holder_is_423(alice, bob, uid):
    django_lockable.acquire(uid, owner_for(bob), ttl=30)
    client = AsyncClient()
    client.force_login(alice)
    response = post(client, f"/mutex-async/{uid}/")
    assert (response.status_code, response.json()) == (423, {"owner": owner_for(bob), "user_id": bob.pk})
    assert owner_of(uid) == owner_for(bob)
