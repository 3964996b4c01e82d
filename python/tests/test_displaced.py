"""Displaced work is never lost (issue 21, item 11): when a take over ends a
user's grant, LockEnforcedMixin refuses that user's next save with 423 and
the reason taken_over, naming who took over, so that the client keeps the
draft; nothing is written.  Other refusals say "locked"."""
import json

import pytest
from django.utils.dateparse import parse_datetime

from django_lockable import owner_for, take_over

from .testapp.models import Document

pytestmark = pytest.mark.needs_transfer

ROW_LOCKED = "This record is locked: only the holder of its lock may change it now."


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user("sam", password="lockable", is_staff=True,
                                                 first_name="Sam", last_name="Staff")


@pytest.fixture
def document(db):
    return Document.objects.create(title="Minutes", body="first draft")


def save(client, document, title, token=None):
    headers = {} if token is None else {"HTTP_LOCKABLE_TOKEN": str(token)}
    return client.patch(f"/api/documents/{document.pk}/", {"title": title, "version": 1}, format="json",
                        **headers)


def take_over_in_the_browser(client, document, reason):
    response = client.post(f"/api/lock/{document.lock_uid}/take-over/", {"reason": reason}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_the_displaced_users_next_save_is_423_taken_over(lockable_admin, client_of, alice, staff, document):
    held = client_of(alice).post(f"/api/lock/{document.lock_uid}/").json()
    taken = take_over_in_the_browser(client_of(staff), document, "urgent fix")
    for token in (held["token"], None):  # with the fencing token of her grant, and without
        response = save(client_of(alice), document, "alice's draft", token)
        assert response.status_code == 423
        body = response.json()
        assert set(body) == {"detail", "reason", "owner", "user_id", "expires_at", "taken_over"}
        assert body["reason"] == "taken_over"
        assert body["detail"] == ("Your lock on this record was taken over by Sam Staff: your changes were not "
                                  "saved. Keep a copy of them, then reload.")
        assert (body["owner"], body["user_id"]) == (owner_for(staff), staff.pk)  # the holder now
        assert parse_datetime(body["expires_at"]) == parse_datetime(taken["expires_at"])
        by = body["taken_over"]
        assert (by["owner"], by["user_id"], by["name"], by["reason"]) == (owner_for(staff), staff.pk, "Sam Staff",
                                                                        "urgent fix")
        assert parse_datetime(by["at"]) >= parse_datetime(taken["acquired_at"])
    assert Document.objects.get(pk=document.pk).title == "Minutes"  # nothing was written
    # the one who took over saves
    assert save(client_of(staff), document, "sam's").status_code == 200


def test_others_are_refused_as_ever(lockable_admin, client_of, alice, bob, staff, document):
    client_of(alice).post(f"/api/lock/{document.lock_uid}/")
    take_over_in_the_browser(client_of(staff), document, "urgent fix")
    body = save(client_of(bob), document, "bob's").json()  # bob never held it
    assert (body["reason"], body["taken_over"], body["detail"]) == ("locked", None, ROW_LOCKED)
    assert body["owner"] == owner_for(staff)


def test_after_taking_the_lock_again_the_user_saves(lockable_admin, client_of, alice, staff, document):
    client = client_of(alice)
    client.post(f"/api/lock/{document.lock_uid}/")
    take_over_in_the_browser(client_of(staff), document, None)
    assert client_of(staff).delete(f"/api/lock/{document.lock_uid}/").status_code == 204
    fresh = client.post(f"/api/lock/{document.lock_uid}/").json()
    assert save(client, document, "alice's", fresh["token"]).status_code == 200


def test_a_save_with_the_old_token_after_the_taker_left_is_still_taken_over(lockable_admin, client_of, alice,
                                                                           staff, document):
    held = client_of(alice).post(f"/api/lock/{document.lock_uid}/").json()
    by = take_over_in_the_browser(client_of(staff), document, "quick look")
    client_of(staff).delete(f"/api/lock/{document.lock_uid}/")
    body = save(client_of(alice), document, "alice's draft", held["token"]).json()
    assert body["reason"] == "taken_over"
    assert (body["owner"], body["taken_over"]["owner"]) == (None, by["owner"])  # free now, but it was taken over


def test_a_take_over_made_in_sql_names_the_user_by_the_history(lockable_admin, client_of, alice, staff, document):
    client_of(alice).post(f"/api/lock/{document.lock_uid}/")
    take_over(document.lock_uid, owner_for(staff), reason="by the DBA")
    by = save(client_of(alice), document, "alice's").json()["taken_over"]
    assert (by["name"], by["reason"], by["user_id"]) == ("Sam Staff", "by the DBA", staff.pk)
    take_over(document.lock_uid, "service:importer", reason='{"by": "not json enough"')
    by = save(client_of(staff), document, "sam's").json()["taken_over"]
    assert (by["owner"], by["name"], by["user_id"], by["reason"]) == (
        "service:importer", None, None, '{"by": "not json enough"')


def test_without_lockable_admin_the_refusal_says_locked(lockable_admin, superuser, client_of, alice, staff,
                                                        document):
    from django.db import connection

    from .drivers import sql

    client_of(alice).post(f"/api/lock/{document.lock_uid}/")
    take_over_in_the_browser(client_of(staff), document, "urgent fix")
    role = sql.Identifier(connection.settings_dict["USER"])
    superuser.run(sql.SQL("REVOKE lockable_admin FROM {}").format(role))
    with connection.cursor() as cur:  # see the revocation in the test's transaction
        cur.execute("SELECT FROM lockable.active_locks LIMIT 0")
    response = save(client_of(alice), document, "alice's draft")
    assert response.status_code == 423
    assert (response.json()["reason"], response.json()["taken_over"]) == ("locked", None)


def test_the_history_says_the_same(lockable_admin, client_of, alice, staff, document):
    from django_lockable import history

    client_of(alice).post(f"/api/lock/{document.lock_uid}/")
    take_over_in_the_browser(client_of(staff), document, "urgent fix")
    [event] = history(document.lock_uid, limit=1)
    assert (event.event, event.owner, event.previous_owner) == ("take_over", owner_for(staff), owner_for(alice))
    assert json.loads(event.reason) == {"by": "Sam Staff", "reason": "urgent fix"}


def test_a_tab_displaced_in_live_editing_is_told_taken_over_too(lockable_admin, client_of, alice, staff, document):
    # live editing holds locks as one of the user's tabs (<owner>#<tab>);
    # the take over of that tab's grant explains her next save the same way
    from django_lockable import acquire
    from django_lockable._core import tab_owner

    acquire(document.lock_uid, tab_owner(owner_for(alice), "tab-1"), 60)
    take_over_in_the_browser(client_of(staff), document, "urgent fix")
    body = save(client_of(alice), document, "alice's draft").json()
    assert body["reason"] == "taken_over"
    assert body["taken_over"]["owner"] == owner_for(staff)
    assert Document.objects.get(pk=document.pk).title == "Minutes"
