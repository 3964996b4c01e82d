"""Who may take a lock over (LOCKABLE_TAKE_OVER_PERMISSION and its default),
how users are named (LOCKABLE_DISPLAY_NAME), the reason a take over
records, and take_over_for: judged against the holder it really displaces."""
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser, Permission
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.test import RequestFactory, override_settings

from django_lockable import LockAdminRequired, acquire, history, owner_for, owner_of, release
from django_lockable.policy import (
    TakeOverDenied,
    default_take_over_permission,
    display_name,
    is_same_user,
    may_take_over,
    parse_take_over_reason,
    take_over_for,
    take_over_reason,
)

CALLS = []


def refuse_everyone(request, uid, holder):
    CALLS.append((request.user.username, uid, holder))
    return False


def only_docs(request, uid, holder):
    return uid.startswith("doc:")


def shouting(user):
    return user.get_username().upper()


def requested_by(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user("sam", password="lockable", is_staff=True,
                                                 first_name="Sam", last_name="Staff")


@pytest.fixture
def taker(db, django_user_model):
    """An ordinary user with the permission django_lockable.take_over_lock."""
    user = django_user_model.objects.create_user("tess", password="lockable")
    user.user_permissions.add(Permission.objects.get(codename="take_over_lock",
                                                     content_type__app_label="django_lockable"))
    return django_user_model.objects.get(pk=user.pk)  # no cached permissions


# --- may_take_over ------------------------------------------------------------------------


def test_the_default_lets_staff_and_holders_of_the_permission_take_over(alice, bob, staff, taker, uid):
    holder = owner_for(bob)
    assert may_take_over(requested_by(staff), uid, holder) is True
    assert may_take_over(requested_by(taker), uid, holder) is True
    assert may_take_over(requested_by(alice), uid, holder) is False
    assert may_take_over(requested_by(alice), uid, None) is False  # a free lock is no exception


def test_inactive_staff_and_anonymous_users_may_not(django_user_model, bob, uid):
    inactive = django_user_model.objects.create_user("ina", password="lockable", is_staff=True, is_active=False)
    assert may_take_over(requested_by(inactive), uid, owner_for(bob)) is False
    assert default_take_over_permission(requested_by(inactive), uid, owner_for(bob)) is False
    assert may_take_over(requested_by(AnonymousUser()), uid, owner_for(bob)) is False
    admin = django_user_model.objects.create_superuser("root", password="lockable")
    assert may_take_over(requested_by(admin), uid, owner_for(bob)) is True


@override_settings(LOCKABLE_TAKE_OVER_PERMISSION="tests.test_policy.refuse_everyone")
def test_a_user_may_always_take_over_from_their_own_other_tab_or_session(alice, staff, uid):
    CALLS.clear()
    assert is_same_user(alice, owner_for(alice)) and not is_same_user(alice, owner_for(staff))
    assert not is_same_user(alice, None) and not is_same_user(AnonymousUser(), owner_for(alice))
    assert may_take_over(requested_by(alice), uid, owner_for(alice)) is True
    assert CALLS == []  # the setting is not asked
    assert may_take_over(requested_by(staff), uid, owner_for(alice)) is False
    assert CALLS == [("sam", uid, owner_for(alice))]


@override_settings(LOCKABLE_OWNER=lambda user: f"person:{user.pk}")
def test_the_users_owner_of_the_default_form_is_theirs_too_under_another_owner_setting(alice, bob):
    assert is_same_user(alice, f"person:{alice.pk}")
    assert is_same_user(alice, f"user:{alice.pk}")  # parsed back: user:<pk>
    assert not is_same_user(alice, f"user:{bob.pk}")


def test_the_setting_decides_as_a_callable_or_a_dotted_path(alice, staff, bob):
    with override_settings(LOCKABLE_TAKE_OVER_PERMISSION=only_docs):
        assert may_take_over(requested_by(alice), "doc:1", owner_for(bob)) is True
        assert may_take_over(requested_by(staff), "invoice:1", owner_for(bob)) is False
    with override_settings(LOCKABLE_TAKE_OVER_PERMISSION="tests.test_policy.only_docs"):
        assert may_take_over(requested_by(alice), "doc:1", owner_for(bob)) is True
    with override_settings(LOCKABLE_TAKE_OVER_PERMISSION="tests.nowhere.nothing"):
        with pytest.raises(ImproperlyConfigured, match="LOCKABLE_TAKE_OVER_PERMISSION"):
            may_take_over(requested_by(alice), "doc:1", owner_for(bob))


# --- display names and reasons ------------------------------------------------------------------


def test_display_names(alice, staff, django_user_model):
    assert display_name(staff) == "Sam Staff"  # the full name
    assert display_name(alice) == "alice"  # else the user name
    long = django_user_model.objects.create_user("long", first_name="x" * 150, last_name="y" * 150)
    assert display_name(long) == "x" * 150  # at most 150 characters
    with override_settings(LOCKABLE_DISPLAY_NAME="tests.test_policy.shouting"):
        assert display_name(alice) == "ALICE"
    with override_settings(LOCKABLE_DISPLAY_NAME=lambda user: ""):
        with pytest.raises(ImproperlyConfigured, match="LOCKABLE_DISPLAY_NAME returned ''"):
            display_name(alice)


def test_the_reason_of_a_take_over_names_the_taker(staff):
    text = take_over_reason(staff, "urgent fix")
    assert json.loads(text) == {"by": "Sam Staff", "reason": "urgent fix"}
    assert parse_take_over_reason(text) == {"by": "Sam Staff", "reason": "urgent fix"}
    assert parse_take_over_reason(take_over_reason(staff, None)) == {"by": "Sam Staff", "reason": None}
    assert json.loads(take_over_reason(staff, '", "by": "Mallory')) == {
        "by": "Sam Staff", "reason": '", "by": "Mallory'}  # a reason cannot pose as the taker
    for other in (None, "", "urgent fix", "{not json", '{"by": "x"}', '{"by": 1, "reason": null}', "[1]"):
        assert parse_take_over_reason(other) is None, other
    with pytest.raises(ValueError, match="the reason is too long"):
        take_over_reason(staff, "é" * 490)
    with pytest.raises(TypeError):
        take_over_reason(staff, 42)


# --- take_over_for -----------------------------------------------------------------------------


@pytest.mark.needs_transfer
def test_take_over_for_a_permitted_user_records_who_and_why(lockable_admin, staff, bob, uid):
    held = acquire(uid, owner_for(bob))
    status = take_over_for(requested_by(staff), uid, reason="review", ttl=30)
    assert (status.owner, status.previous_owner, status.previous_user_id) == (owner_for(staff), owner_for(bob),
                                                                              bob.pk)
    assert status.token > held.token
    assert status.expires_at - status.acquired_at == timedelta(seconds=30)
    [event] = history(uid, limit=1)
    assert (event.event, event.owner, event.previous_owner) == ("take_over", owner_for(staff), owner_for(bob))
    assert json.loads(event.reason) == {"by": "Sam Staff", "reason": "review"}


@pytest.mark.needs_transfer
def test_take_over_for_a_refused_user_changes_nothing(lockable_admin, alice, bob, uid):
    held = acquire(uid, owner_for(bob))
    with pytest.raises(TakeOverDenied) as denied:
        take_over_for(requested_by(alice), uid)
    assert isinstance(denied.value, PermissionDenied)
    assert (denied.value.uid, denied.value.holder) == (uid, owner_for(bob))
    assert owner_of(uid) == owner_for(bob)
    assert history(uid, limit=1)[0].token == held.token  # no take over logged


@pytest.mark.needs_transfer
def test_take_over_for_oneself_needs_no_permission(lockable_admin, alice, uid):
    first = acquire(uid, owner_for(alice))
    status = take_over_for(requested_by(alice), uid)
    assert (status.owner, status.previous_owner) == (owner_for(alice), owner_for(alice))
    assert status.token > first.token  # the other tab's token is fenced out


SWAP = {}


def holder_changes_while_judged(request, uid, holder):
    """Allows a take over from bob only; the first time it is asked, bob
    releases and carol takes the lock, committed in a session of their own:
    as if the holder changed between the look and the take over."""
    swap = SWAP.pop("swap", None)
    if swap is not None:
        superuser, bob, carol = swap
        superuser.run("SELECT lockable.lock_release(%s, %s)", [uid, owner_for(bob)])
        superuser.run("SELECT lockable.lock_acquire(%s, %s, '1 minute')", [uid, owner_for(carol)])
    return holder == SWAP["allowed"]


@pytest.mark.needs_transfer
@pytest.mark.django_db(transaction=True)
@override_settings(LOCKABLE_TAKE_OVER_PERMISSION="tests.test_policy.holder_changes_while_judged")
def test_take_over_for_judges_the_holder_it_really_displaces(lockable_admin, superuser, alice, bob, carol, uid):
    acquire(uid, owner_for(bob))
    SWAP.update(allowed=owner_for(bob), swap=(superuser, bob, carol))
    with pytest.raises(TakeOverDenied) as denied:
        take_over_for(requested_by(alice), uid)
    assert denied.value.holder == owner_for(carol)
    assert owner_of(uid) == owner_for(carol)  # the take over was undone; carol's grant stands
    assert [e.event for e in history(uid, limit=3)] == ["grant", "release", "grant"]
    release(uid, owner_for(carol))


@pytest.mark.needs_transfer
def test_take_over_for_without_lockable_admin_raises_and_keeps_the_transaction(staff, bob, uid):
    acquire(uid, owner_for(bob))
    with pytest.raises(LockAdminRequired):
        take_over_for(requested_by(staff), uid)
    assert owner_of(uid) == owner_for(bob)  # the test's transaction is usable
