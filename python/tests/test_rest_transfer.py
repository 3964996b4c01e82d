"""The REST endpoints that move locks (lockable 1.4): take-over/, hand-over/,
request/, decline/ and history/ under /api/lock/<uid>/, row by row of their
contract; 403 without the permission, 503 without lockable_admin for the
site's role; and the taken_over notification, whose reason names the taker
and nothing the client claims."""
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import override_settings
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from django_lockable import acquire, history, owner_for, owner_of, release
from django_lockable.drf import NO_ONE_TO_ASK_DETAIL, NOT_HOLDER_DETAIL

from .drivers import connect, is_psycopg2

pytestmark = pytest.mark.needs_transfer

GRANTED_KEYS = {"uid", "owner", "user_id", "token", "acquired_at", "expires_at", "waiters"}
TAKEN_KEYS = GRANTED_KEYS | {"previous_owner", "previous_user_id", "previous_token"}
NO_ADMIN = "This server cannot do that now: its database role may not take locks over or read their history."


def url(uid, action):
    return f"/api/lock/{uid}/{action}/"


@pytest.fixture
def staff(db, django_user_model):
    return django_user_model.objects.create_user("sam", password="lockable", is_staff=True,
                                                 first_name="Sam", last_name="Staff")


@pytest.fixture
def historian(db, django_user_model):
    """Staff who may read the history, as the admin lets them."""
    user = django_user_model.objects.create_user("hugo", password="lockable", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_lockhistory"))
    return user


def only_docs(request, uid):
    return uid.startswith("doc:")


# --- POST take-over/ ----------------------------------------------------------------------


def test_take_over_200(lockable_admin, client_of, staff, bob, uid):
    held = acquire(uid, owner_for(bob), ttl=3600)
    response = client_of(staff).post(url(uid, "take-over"), {"reason": "urgent fix", "ttl": 90}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == TAKEN_KEYS
    assert (body["uid"], body["owner"], body["user_id"]) == (uid, owner_for(staff), staff.pk)
    assert (body["previous_owner"], body["previous_user_id"], body["previous_token"]) == (
        owner_for(bob), bob.pk, held.token)
    assert body["token"] > held.token and body["waiters"] == 0
    assert parse_datetime(body["expires_at"]) - parse_datetime(body["acquired_at"]) == timedelta(seconds=90)
    assert owner_of(uid) == owner_for(staff)


def test_take_over_records_the_takers_name_and_nothing_the_client_claims(lockable_admin, client_of, staff, bob,
                                                                          uid):
    acquire(uid, owner_for(bob))
    response = client_of(staff).post(url(uid, "take-over"),
                                     {"reason": "audit", "by": "Mallory", "owner": "user:666"}, format="json")
    assert response.status_code == 200
    assert response.json()["owner"] == owner_for(staff)
    [event] = history(uid, limit=1)
    assert json.loads(event.reason) == {"by": "Sam Staff", "reason": "audit"}
    # no reason: the name alone; ttl: LOCKABLE_TTL
    body = client_of(staff).post(url(f"{uid}:2", "take-over")).json()
    assert parse_datetime(body["expires_at"]) - parse_datetime(body["acquired_at"]) == timedelta(seconds=60)
    assert json.loads(history(f"{uid}:2", limit=1)[0].reason) == {"by": "Sam Staff", "reason": None}


def test_take_over_403_without_the_permission(lockable_admin, client_of, alice, bob, uid):
    acquire(uid, owner_for(bob))
    response = client_of(alice).post(url(uid, "take-over"), {"reason": "mine"}, format="json")
    assert (response.status_code, response.json()) == (403, {"detail": "You may not take this lock over."})
    assert owner_of(uid) == owner_for(bob)


def test_take_over_200_with_the_model_permission(lockable_admin, client_of, alice, bob, uid):
    alice.user_permissions.add(Permission.objects.get(codename="take_over_lock"))
    acquire(uid, owner_for(bob))
    assert client_of(alice).post(url(uid, "take-over")).status_code == 200
    assert owner_of(uid) == owner_for(alice)


def test_take_over_from_ones_own_other_tab_200(lockable_admin, client_of, alice, uid):
    first = acquire(uid, owner_for(alice))
    body = client_of(alice).post(url(uid, "take-over")).json()
    assert (body["owner"], body["previous_owner"]) == (owner_for(alice), owner_for(alice))
    assert body["token"] > first.token


def test_take_over_403_when_lock_permission_refuses_the_uid(lockable_admin, client_of, staff, uid):
    with override_settings(LOCKABLE_LOCK_PERMISSION="tests.test_rest_transfer.only_docs"):
        response = client_of(staff).post(url(uid, "take-over"))
    assert response.status_code == 403
    assert owner_of(uid) is None


def test_take_over_503_without_lockable_admin(client_of, staff, bob, uid, caplog):
    acquire(uid, owner_for(bob))
    response = client_of(staff).post(url(uid, "take-over"))
    assert (response.status_code, response.json()) == (503, {"detail": NO_ADMIN})
    assert owner_of(uid) == owner_for(bob)
    assert "GRANT lockable_admin TO" in caplog.text  # the server's log says what is missing


def test_a_refused_user_gets_403_before_the_database_is_asked(client_of, alice, bob, uid):
    acquire(uid, owner_for(bob))
    assert client_of(alice).post(url(uid, "take-over")).status_code == 403


@pytest.mark.parametrize("body, field", [
    ({"ttl": 0}, "ttl"),
    ({"ttl": 601}, "ttl"),
    ({"requeue": "maybe"}, "requeue"),
    ({"reason": "r" * 501}, "reason"),
    ({"reason": "é" * 495}, "reason"),  # too long with the taker's name, in bytes
])
def test_take_over_400(lockable_admin, client_of, staff, uid, body, field):
    response = client_of(staff).post(url(uid, "take-over"), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert owner_of(uid) is None


def test_take_over_with_requeue(lockable_admin, client_of, staff, bob, carol, uid):
    acquire(uid, owner_for(bob))
    acquire(uid, owner_for(carol), queue=True)
    body = client_of(staff).post(url(uid, "take-over"), {"requeue": True}, format="json").json()
    assert body["waiters"] == 2
    assert acquire(uid, owner_for(bob), queue=True).position == 1


def test_anonymous_is_refused(uid):
    for action in ("take-over", "hand-over", "request", "decline", "history"):
        call = APIClient().get if action == "history" else APIClient().post
        assert call(url(uid, action)).status_code == 403, action  # session authentication: 403


def test_uids_with_slashes_reach_the_endpoints(lockable_admin, client_of, staff):
    uid = "shop/invoice:1"
    assert client_of(staff).post(f"/api/lock/{uid}/take-over/").json()["uid"] == uid
    assert client_of(staff).post(f"/api/lock/{uid}/").json()["uid"] == uid  # the lock endpoint still
    release(uid, owner_for(staff))


def test_a_view_of_ones_own_gets_403_and_503_from_the_handler(client_of, alice, staff, bob, uid, caplog):
    acquire(uid, owner_for(bob))
    response = client_of(alice).post(f"/own-take-over/{uid}/")
    assert (response.status_code, response.json()) == (403, {"detail": "You may not take this lock over."})
    response = client_of(staff).post(f"/own-take-over/{uid}/")
    assert (response.status_code, response.json()) == (503, {"detail": NO_ADMIN})
    assert "GRANT lockable_admin TO" in caplog.text
    assert owner_of(uid) == owner_for(bob)


def test_a_view_of_ones_own_takes_over(lockable_admin, client_of, staff, bob, uid):
    acquire(uid, owner_for(bob))
    assert client_of(staff).post(f"/own-take-over/{uid}/", {"reason": "x"}, format="json").status_code == 200
    assert owner_of(uid) == owner_for(staff)


# --- POST hand-over/ ------------------------------------------------------------------------


def test_hand_over_200(client_of, alice, bob, carol, uid):
    held = acquire(uid, owner_for(alice))
    acquire(uid, owner_for(bob), queue=True)
    acquire(uid, owner_for(carol), queue=True)
    response = client_of(alice).post(url(uid, "hand-over"), {"to": carol.pk}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == GRANTED_KEYS
    assert (body["owner"], body["user_id"], body["waiters"]) == (owner_for(carol), carol.pk, 1)
    assert body["token"] > held.token
    assert acquire(uid, owner_for(bob), queue=True).position == 1  # the line kept its order


def test_hand_over_with_a_ttl_as_form_data(client_of, alice, bob, uid):
    acquire(uid, owner_for(alice))
    body = client_of(alice).post(url(uid, "hand-over"), {"to": str(bob.pk), "ttl": "30"}).json()
    assert parse_datetime(body["expires_at"]) - parse_datetime(body["acquired_at"]) == timedelta(seconds=30)


def test_hand_over_409_when_not_the_holder(client_of, alice, bob, carol, uid):
    acquire(uid, owner_for(bob))
    response = client_of(alice).post(url(uid, "hand-over"), {"to": carol.pk}, format="json")
    assert (response.status_code, response.json()) == (409, {"detail": NOT_HOLDER_DETAIL})
    assert owner_of(uid) == owner_for(bob)


def test_hand_over_400(client_of, alice, bob, django_user_model, uid):
    acquire(uid, owner_for(alice))
    client = client_of(alice)
    gone = django_user_model.objects.create_user("gone", is_active=False)
    for body, message in [
        ({}, "This field is required."),
        ({"to": 999999}, 'Invalid pk "999999" - object does not exist.'),
        ({"to": "bob"}, "Incorrect type. Expected pk value, received str."),
        ({"to": gone.pk}, "This user is inactive."),
        ({"to": alice.pk}, "You cannot hand a lock over to yourself."),
    ]:
        response = client.post(url(uid, "hand-over"), body, format="json")
        assert (response.status_code, response.json()) == (400, {"to": [message]}), body
    response = client.post(url(uid, "hand-over"), {"to": bob.pk, "ttl": -1}, format="json")
    assert response.status_code == 400 and "ttl" in response.json()
    assert owner_of(uid) == owner_for(alice)


# --- POST request/ and decline/ ------------------------------------------------------------


def test_request_204_from_a_place_in_line(client_of, alice, bob, uid):
    acquire(uid, owner_for(alice))
    assert client_of(bob).post(url(uid, "request"), {"message": "may I?"}, format="json").status_code == 409
    acquire(uid, owner_for(bob), queue=True)
    response = client_of(bob).post(url(uid, "request"), {"message": "may I?"}, format="json")
    assert (response.status_code, response.content) == (204, b"")
    assert client_of(bob).post(url(uid, "request")).status_code == 204  # no message


def test_request_409_with_nobody_to_ask(client_of, alice, uid):
    response = client_of(alice).post(url(uid, "request"))
    assert (response.status_code, response.json()) == (409, {"detail": NO_ONE_TO_ASK_DETAIL})


def test_request_400_for_a_message_over_1000_bytes(client_of, alice, bob, uid):
    acquire(uid, owner_for(alice))
    acquire(uid, owner_for(bob), queue=True)
    response = client_of(bob).post(url(uid, "request"), {"message": "é" * 501}, format="json")
    assert response.status_code == 400 and "message" in response.json()
    response = client_of(bob).post(url(uid, "request"), {"message": "a\x00b"}, format="json")
    assert response.status_code == 400 and "message" in response.json()


def test_decline_204_by_the_holder_and_409_by_anyone_else(client_of, alice, bob, uid):
    acquire(uid, owner_for(alice))
    acquire(uid, owner_for(bob), queue=True)
    assert client_of(alice).post(url(uid, "decline"), {"to": bob.pk}, format="json").status_code == 204
    response = client_of(bob).post(url(uid, "decline"), {"to": alice.pk}, format="json")
    assert (response.status_code, response.json()) == (409, {"detail": NOT_HOLDER_DETAIL})
    assert client_of(alice).post(url(uid, "decline"), {}, format="json").status_code == 400


def test_the_requests_and_declines_are_in_the_history(lockable_admin, client_of, alice, bob, uid):
    acquire(uid, owner_for(alice))
    acquire(uid, owner_for(bob), queue=True)
    client_of(bob).post(url(uid, "request"), {"message": "please"}, format="json")
    client_of(alice).post(url(uid, "decline"), {"to": bob.pk}, format="json")
    decline, request = history(uid, limit=2)
    assert (decline.event, decline.owner, decline.previous_owner) == ("decline", owner_for(bob), owner_for(alice))
    assert (request.event, request.owner, request.reason) == ("request", owner_for(bob), "please")


# --- GET history/ ---------------------------------------------------------------------------


def test_history_200_in_pages(lockable_admin, client_of, historian, alice, bob, uid):
    for _ in range(3):
        acquire(uid, owner_for(alice))
        release(uid, owner_for(alice))
    acquire(uid, owner_for(bob))
    client = client_of(historian)
    response = client.get(url(uid, "history"), {"page_size": 4})
    assert response.status_code == 200
    page = response.json()
    assert (page["count"], page["previous"], len(page["results"])) == (7, None, 4)
    assert page["next"].endswith(f"{url(uid, 'history')}?page=2&page_size=4")
    newest = page["results"][0]
    assert set(newest) == {"at", "event", "uid", "owner", "user_id", "token", "previous_owner",
                           "previous_user_id", "reason", "role"}
    assert (newest["event"], newest["uid"], newest["owner"], newest["user_id"]) == ("grant", uid, owner_for(bob),
                                                                                    bob.pk)
    assert [e["event"] for e in page["results"]] == ["grant", "release", "grant", "release"]
    rest = client.get(page["next"]).json()
    assert [e["event"] for e in rest["results"]] == ["grant", "release", "grant"]
    assert rest["next"] is None
    assert client.get(url(uid, "history"), {"page": 9}).status_code == 404
    mine = client.get(url(uid, "history"), {"owner": owner_for(bob)}).json()
    assert [e["event"] for e in mine["results"]] == ["grant"]
    assert client.get(url(f"{uid}:none", "history")).json() == {"count": 0, "next": None, "previous": None,
                                                                "results": []}


def test_history_403_for_users_the_admin_would_refuse(lockable_admin, client_of, alice, staff,
                                                      django_user_model, uid):
    assert client_of(alice).get(url(uid, "history")).status_code == 403
    assert client_of(staff).get(url(uid, "history")).status_code == 403  # staff without view_lockhistory
    viewer = django_user_model.objects.create_user("viewer", password="lockable")  # the permission, no staff
    viewer.user_permissions.add(Permission.objects.get(codename="view_lockhistory"))
    assert client_of(viewer).get(url(uid, "history")).status_code == 403
    root = django_user_model.objects.create_superuser("root", password="lockable")
    assert client_of(root).get(url(uid, "history")).status_code == 200


def test_history_503_without_lockable_admin(client_of, historian, uid):
    response = client_of(historian).get(url(uid, "history"))
    assert (response.status_code, response.json()) == (503, {"detail": NO_ADMIN})


# --- the notification -------------------------------------------------------------------------


def listen(cluster):
    """A session of the superuser's that LISTENs on lockable; returns it and
    a function that returns the payloads received so far."""
    conn = connect(cluster.superuser_dsn())
    with conn.cursor() as cur:
        cur.execute("LISTEN lockable")
    received = []
    if not is_psycopg2(conn):
        conn.add_notify_handler(lambda notify: received.append(notify.payload))

    def payloads():
        with conn.cursor() as cur:
            cur.execute("SELECT 1")  # lets psycopg 3 deliver what arrived
        if is_psycopg2(conn):
            conn.poll()
            received.extend(notify.payload for notify in conn.notifies)
            del conn.notifies[:]
        return [json.loads(payload) for payload in received]

    return conn, payloads


@pytest.mark.django_db(transaction=True)
def test_the_taken_over_notification_names_the_taker(lockable_admin, cluster, client_of, staff, bob, uid):
    conn, payloads = listen(cluster)
    try:
        held = acquire(uid, owner_for(bob))
        with transaction.atomic():  # as ATOMIC_REQUESTS would: the notification is sent at commit
            response = client_of(staff).post(url(uid, "take-over"), {"reason": "urgent", "by": "Mallory"},
                                             format="json")
        assert response.status_code == 200
        [taken] = [p for p in payloads() if p.get("event") == "taken_over" and p.get("uid") == uid]
        assert taken["owner"] == owner_for(staff) and taken["token"] == response.json()["token"]
        assert taken["previous"] == {"owner": owner_for(bob), "token": held.token}
        assert json.loads(taken["reason"]) == {"by": "Sam Staff", "reason": "urgent"}
    finally:
        conn.close()
        release(uid, owner_for(staff))
