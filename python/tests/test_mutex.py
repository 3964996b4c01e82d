"""Owners from users, and Mutex (seed 004's API)."""
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from django_lockable import Mutex, ResourceLocked, owner_for, owner_of


def name_by_username(user):
    return f"person:{user.username}"


def test_the_default_owner_is_user_pk(alice):
    assert owner_for(alice) == f"user:{alice.pk}"


def test_lockable_owner_names_a_callable_or_its_dotted_path(alice):
    with override_settings(LOCKABLE_OWNER=lambda user: f"staff:{user.pk}"):
        assert owner_for(alice) == f"staff:{alice.pk}"
    with override_settings(LOCKABLE_OWNER="tests.test_mutex.name_by_username"):
        assert owner_for(alice) == "person:alice"


@pytest.mark.parametrize("bad", [
    pytest.param(lambda user: "", id="empty"),
    pytest.param(lambda user: None, id="None"),
    pytest.param(lambda user: user.pk, id="not a string"),
    pytest.param(lambda user: "x" * 513, id="over 512 bytes"),
    pytest.param("tests.test_mutex.no_such_function", id="unimportable"),
])
def test_a_misconfigured_lockable_owner_is_improperly_configured(alice, bad):
    with override_settings(LOCKABLE_OWNER=bad), pytest.raises(ImproperlyConfigured, match="LOCKABLE_OWNER"):
        owner_for(alice)


def test_anonymous_users_own_no_lock():
    with pytest.raises(ValueError, match="anonymous"):
        owner_for(AnonymousUser())
    with pytest.raises(ValueError, match="anonymous"):
        owner_for(None)


def test_mutex_acquires_renews_and_releases(alice, uid):
    mutex = Mutex(uid, timedelta(seconds=30), alice)
    status = mutex.acquire()
    assert (status.granted, status.owner, status.user_id) == (True, f"user:{alice.pk}", alice.pk)
    assert status.expires_at - status.acquired_at == timedelta(seconds=30)
    assert mutex.status == status
    renewed = mutex.renew()
    assert renewed.token == status.token and renewed.expires_at >= status.expires_at
    assert mutex.release() is True
    assert mutex.status is None
    assert owner_of(uid) is None


def test_mutex_release_may_be_called_without_the_lock(alice, bob, uid):
    assert Mutex(uid, None, alice).release() is False
    Mutex(uid, None, alice).acquire()
    assert Mutex(uid, None, bob).release() is False  # bob never had it
    assert owner_of(uid) == f"user:{alice.pk}"


def test_mutex_refused_raises_resource_locked(alice, bob, uid):
    held = Mutex(uid, 60, alice).acquire()
    with pytest.raises(ResourceLocked) as refused:
        Mutex(uid, 60, bob).acquire()
    error = refused.value
    assert (error.uid, error.owner, error.user_id, error.expires_at) == (
        uid, f"user:{alice.pk}", alice.pk, held.expires_at)
    assert error.position is None  # bob did not queue
    assert error.status.granted is False
    assert "Resource is already in use by another user" in str(error)


def test_mutex_as_a_context_manager(alice, bob, uid):
    with Mutex(uid, 60, alice) as status:
        assert status.granted and owner_of(uid) == f"user:{alice.pk}"
        with pytest.raises(ResourceLocked):
            with Mutex(uid, 60, bob):
                pytest.fail("bob entered alice's section")
    assert owner_of(uid) is None


def test_mutex_releases_when_the_block_raises(alice, uid):
    with pytest.raises(RuntimeError):
        with Mutex(uid, 60, alice):
            raise RuntimeError("the editor crashed")
    assert owner_of(uid) is None


def test_mutex_ttl_defaults_to_lockable_ttl(alice, uid):
    with override_settings(LOCKABLE_TTL=75):
        status = Mutex(uid, None, alice).acquire()
    assert status.expires_at - status.acquired_at == timedelta(seconds=75)


@pytest.mark.parametrize("ttl", [0, -5, "a minute"])
def test_a_bad_lockable_ttl_is_improperly_configured(alice, uid, ttl):
    with override_settings(LOCKABLE_TTL=ttl), pytest.raises(ImproperlyConfigured, match="LOCKABLE_TTL"):
        Mutex(uid, None, alice).acquire()


def test_mutex_needs_a_user(uid):
    with pytest.raises(ValueError, match="anonymous"):
        Mutex(uid, 60, AnonymousUser())
