"""The admin's pages of the extension (lockable 1.4): "Live locks" (holder,
since, until, waiters, the line; release and take over) and "Lock history"
(read-only, filterable by uid, owner and event), with Django's admin look
and permissions, and what they say when the site's role lacks
lockable_admin.  Also: the package's migration is its models."""
import json
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone
from django.utils.formats import localize

from django_lockable import acquire, history, owner_for, owner_of
from django_lockable.admin import NO_LOCKABLE_ADMIN

pytestmark = pytest.mark.needs_transfer

LOCKS = "/admin/django_lockable/lock/"
HISTORY = "/admin/django_lockable/lockhistory/"


def permission(codename):
    return Permission.objects.get(codename=codename, content_type__app_label="django_lockable")


@pytest.fixture
def admin_user(db, django_user_model):
    return django_user_model.objects.create_superuser("admin", password="lockable", first_name="Ada",
                                                      last_name="Admin")


@pytest.fixture
def web(client, admin_user):
    client.force_login(admin_user)
    return client


def staff_with(django_user_model, name, *codenames):
    user = django_user_model.objects.create_user(name, password="lockable", is_staff=True)
    user.user_permissions.add(*[permission(c) for c in codenames])
    return user


def messages_of(page):
    return [str(m) for m in page.context["messages"]]


def act(client, action, uids, **extra):
    return client.post(LOCKS, {"action": action, "_selected_action": uids, **extra}, follow=True)


# --- the page of live locks -------------------------------------------------------------------


def test_the_live_locks_with_holder_since_until_waiters_and_line(web, alice, bob, carol, uid):
    status = acquire(uid, owner_for(alice))
    acquire(uid, owner_for(carol), queue=True)
    acquire(uid, owner_for(bob), queue=True)
    acquire(f"{uid}:service", "service:importer")
    page = web.get(LOCKS, {"q": uid})
    assert page.status_code == 200
    text = page.content.decode()
    assert "<h1>Live locks</h1>" in text
    for header in ("Uid", "Holder", "Since", "Until", "Waiters", "Line"):
        assert f">{header}</" in text, header
    assert '<td class="field-holder">alice</td>' in text
    assert '<td class="field-holder">service:importer</td>' in text  # an owner that is no user
    assert '<td class="field-line">1. carol, 2. bob</td>' in text
    assert '<td class="field-waiters">2</td>' in text
    assert localize(timezone.localtime(status.acquired_at)) in text
    assert localize(timezone.localtime(status.expires_at)) in text
    assert "2 live locks" in text or "2 results" in text
    assert f"{LOCKS}{uid}/change/" not in text  # rows are listed, not opened


def test_the_live_locks_page_needs_view_lock(client, django_user_model, alice, uid):
    acquire(uid, owner_for(alice))  # Django shows the actions when there is a row
    client.force_login(staff_with(django_user_model, "nobody"))
    assert client.get(LOCKS).status_code == 403
    client.force_login(staff_with(django_user_model, "viewer", "view_lock"))
    page = client.get(LOCKS)
    assert page.status_code == 200
    text = page.content.decode()
    assert "release_locks" not in text and "take_over_locks" not in text and "delete_selected" not in text
    assert uid in text


def test_each_action_needs_its_permission(client, django_user_model, alice, uid):
    acquire(uid, owner_for(alice))
    client.force_login(staff_with(django_user_model, "breaker", "view_lock", "break_lock"))
    text = client.get(LOCKS).content.decode()
    assert "release_locks" in text and "take_over_locks" not in text
    client.force_login(staff_with(django_user_model, "taker", "view_lock", "take_over_lock"))
    text = client.get(LOCKS).content.decode()
    assert "take_over_locks" in text and "release_locks" not in text
    assert 'name="reason"' in text  # the action bar asks for the reason


def test_release_hands_each_lock_to_the_next_in_line(lockable_admin, web, alice, bob, uid):
    acquire(uid, owner_for(alice))
    acquire(uid, owner_for(bob), queue=True)
    acquire(f"{uid}:2", owner_for(alice))
    page = act(web, "release_locks", [uid, f"{uid}:2"])
    assert messages_of(page) == ["Released 2 of the 2 selected lock(s); 0 had ended already."]
    assert owner_of(uid) == owner_for(bob) and owner_of(f"{uid}:2") is None
    assert history(uid, limit=2)[1].event == "break"


def test_release_without_lockable_admin_says_so(web, alice, uid):
    acquire(uid, owner_for(alice))
    assert messages_of(act(web, "release_locks", [uid])) == [NO_LOCKABLE_ADMIN]
    assert owner_of(uid) == owner_for(alice)


def test_take_over_with_a_reason(lockable_admin, web, admin_user, alice, uid):
    held = acquire(uid, owner_for(alice))
    page = act(web, "take_over_locks", [uid], reason="  audit  ")
    assert messages_of(page) == ["Took 1 lock(s) over; 0 refused."]
    [event] = history(uid, limit=1)
    assert (event.event, event.owner, event.previous_owner) == ("take_over", owner_for(admin_user), owner_for(alice))
    assert json.loads(event.reason) == {"by": "Ada Admin", "reason": "audit"}
    assert event.token > held.token


def refuse_services(request, uid, holder):
    return not (holder or "").startswith("service:")


@override_settings(LOCKABLE_TAKE_OVER_PERMISSION="tests.test_admin_locks.refuse_services")
def test_take_over_asks_the_policy_lock_by_lock(lockable_admin, client, django_user_model, alice, uid):
    taker = staff_with(django_user_model, "taker", "view_lock", "take_over_lock")
    client.force_login(taker)
    acquire(uid, owner_for(alice))
    acquire(f"{uid}:2", "service:importer")
    page = act(client, "take_over_locks", [uid, f"{uid}:2"])
    assert messages_of(page) == ["Took 1 lock(s) over; 1 refused."]
    assert (owner_of(uid), owner_of(f"{uid}:2")) == (owner_for(taker), "service:importer")


def test_take_over_without_lockable_admin_says_so(web, alice, uid):
    acquire(uid, owner_for(alice))
    assert messages_of(act(web, "take_over_locks", [uid])) == [NO_LOCKABLE_ADMIN]
    assert owner_of(uid) == owner_for(alice)


def test_a_reason_too_long_with_the_name_is_refused(lockable_admin, web, alice, uid):
    acquire(uid, owner_for(alice))
    page = act(web, "take_over_locks", [uid], reason="é" * 495)
    assert messages_of(page)[0].startswith("the reason is too long")
    assert owner_of(uid) == owner_for(alice)


# --- the history page ---------------------------------------------------------------------------


def make_history(uid, alice, bob, admin_user):
    from django_lockable import release, take_over

    acquire(uid, owner_for(alice))
    acquire(uid, owner_for(bob), queue=True)
    take_over(uid, owner_for(admin_user), reason=json.dumps({"by": "Ada Admin", "reason": "audit"}))
    release(uid, owner_for(admin_user))
    acquire(f"{uid}:other", owner_for(bob))


def rows(page):
    return list(page.context["cl"].result_list)


def test_the_history_newest_first_with_its_filters(lockable_admin, web, alice, bob, admin_user, uid):
    make_history(uid, alice, bob, admin_user)
    page = web.get(HISTORY, {"uid": uid})
    assert page.status_code == 200
    assert [e.event for e in rows(page)] == ["grant", "release", "take_over", "place_taken", "grant"]
    text = page.content.decode()
    assert "<h1>Lock history</h1>" in text
    assert "Ada Admin: audit" in text  # a take over's reason, as people read it
    assert f'href="?uid={uid.replace(":", "%3A")}"' in text  # each uid links to its events
    assert [e.event for e in rows(web.get(HISTORY, {"uid": uid, "event": "take_over"}))] == ["take_over"]
    # an owner's events: as the owner, or as the previous owner
    events = rows(web.get(HISTORY, {"owner": owner_for(alice), "q": uid}))
    assert [(e.event, e.uid) for e in events] == [("take_over", uid), ("grant", uid)]
    events = rows(web.get(HISTORY, {"owner": owner_for(bob), "q": uid}))
    assert [(e.event, e.uid) for e in events] == [("grant", f"{uid}:other"), ("grant", uid), ("place_taken", uid)]


def test_the_history_is_read_only(lockable_admin, web, alice, bob, admin_user, uid):
    make_history(uid, alice, bob, admin_user)
    page = web.get(HISTORY, {"uid": uid})
    text = page.content.decode()
    assert 'name="_selected_action"' not in text and f'href="{HISTORY}add/"' not in text
    at = rows(page)[0].at
    for path in (f"{at.isoformat()}/change/", f"{at.isoformat()}/", "add/", f"{at.isoformat()}/delete/"):
        assert web.get(f"{HISTORY}{path}").status_code == 404, path
    assert web.get(f"{LOCKS}{uid}/change/").status_code == 404


def test_the_history_needs_view_lockhistory(lockable_admin, client, django_user_model, db):
    client.force_login(staff_with(django_user_model, "viewer", "view_lock"))
    assert client.get(HISTORY).status_code == 403
    client.force_login(staff_with(django_user_model, "historian", "view_lockhistory"))
    assert client.get(HISTORY).status_code == 200


def test_the_history_without_lockable_admin_says_so(web, db):
    page = web.get(HISTORY)
    assert page.status_code == 200
    assert messages_of(page) == [NO_LOCKABLE_ADMIN]
    assert rows(page) == []


def test_the_admin_index_lists_both_pages(web, db):
    text = web.get("/admin/").content.decode()
    assert LOCKS in text and HISTORY in text


# --- the package's migration ---------------------------------------------------------------------


def test_the_migration_is_the_models(db):
    out = StringIO()
    call_command("makemigrations", "django_lockable", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


@pytest.mark.parametrize("admin_role", [True, False], ids=["lockable_admin", "lockable_user"])
def test_dumpdata_leaves_the_views_alone(request, alice, uid, admin_role):
    if admin_role:
        request.getfixturevalue("lockable_admin")
    acquire(uid, owner_for(alice))
    for args in (["django_lockable"], ["django_lockable", "--all"], []):
        out = StringIO()
        call_command("dumpdata", *args, stdout=out)
        assert not [o for o in json.loads(out.getvalue()) if o["model"].startswith("django_lockable.")], args
