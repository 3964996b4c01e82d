"""The lock endpoint, row by row of the REST contract, and its bad input."""
import base64
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from django_lockable import acquire, owner_for, owner_of

GRANTED_KEYS = {"uid", "owner", "user_id", "token", "acquired_at", "expires_at", "waiters"}
LOCKED_KEYS = {"message", "owner", "user_id", "expires_at", "waiters", "position"}


def lock_url(uid):
    return f"/api/lock/{uid}/"


# --- POST 200: granted or renewed -------------------------------------------


def test_post_grants_200(client_of, alice, uid, cluster):
    response = client_of(alice).post(lock_url(uid))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == GRANTED_KEYS
    assert (body["uid"], body["owner"], body["user_id"]) == (uid, f"user:{alice.pk}", alice.pk)
    assert isinstance(body["token"], int)
    acquired, expires = parse_datetime(body["acquired_at"]), parse_datetime(body["expires_at"])
    assert expires - acquired == timedelta(seconds=60)  # LOCKABLE_TTL's default
    assert body["waiters"] == (0 if cluster.has_queue else None)
    assert owner_of(uid) == f"user:{alice.pk}"


def test_post_renews_200_with_the_same_token(client_of, alice, uid):
    client = client_of(alice)
    first = client.post(lock_url(uid), {"ttl": 30}, format="json").json()
    renewed = client.post(lock_url(uid), {"ttl": 120}, format="json")
    assert renewed.status_code == 200
    assert renewed.json()["token"] == first["token"]
    assert renewed.json()["acquired_at"] == first["acquired_at"]
    assert parse_datetime(renewed.json()["expires_at"]) > parse_datetime(first["expires_at"])


def test_ttl_in_the_body_in_seconds(client_of, alice, uid):
    body = client_of(alice).post(lock_url(uid), {"ttl": 90.5}, format="json").json()
    assert parse_datetime(body["expires_at"]) - parse_datetime(body["acquired_at"]) == timedelta(seconds=90.5)


def test_ttl_as_form_data(client_of, alice, uid):
    body = client_of(alice).post(lock_url(uid), {"ttl": "45"}).json()
    assert parse_datetime(body["expires_at"]) - parse_datetime(body["acquired_at"]) == timedelta(seconds=45)


@override_settings(LOCKABLE_TTL=timedelta(seconds=75))
def test_ttl_defaults_to_lockable_ttl(client_of, alice, uid):
    body = client_of(alice).post(lock_url(uid)).json()
    assert parse_datetime(body["expires_at"]) - parse_datetime(body["acquired_at"]) == timedelta(seconds=75)


def test_uids_may_contain_slashes_and_colons(client_of, alice, uid):
    nested = f"{uid}/section:2/para"
    response = client_of(alice).post(lock_url(nested))
    assert response.status_code == 200 and response.json()["uid"] == nested


# --- POST 423: held by another ------------------------------------------------


def test_post_held_by_another_423(client_of, alice, bob, uid, cluster):
    held = client_of(alice).post(lock_url(uid)).json()
    response = client_of(bob).post(lock_url(uid))
    assert response.status_code == 423
    body = response.json()
    assert set(body) == LOCKED_KEYS
    assert body["message"] == "Resource is already in use by another user"
    assert (body["owner"], body["user_id"], body["expires_at"]) == (
        f"user:{alice.pk}", alice.pk, held["expires_at"])
    assert (body["waiters"], body["position"]) == ((0, None) if cluster.has_queue else (None, None))
    assert owner_of(uid) == f"user:{alice.pk}"


# --- POST ?queue=1 -------------------------------------------------------------


@pytest.mark.without_waiting_line
def test_post_queue_without_the_waiting_line_is_501(client_of, alice, bob, uid):
    client_of(alice).post(lock_url(uid))
    response = client_of(bob).post(lock_url(uid) + "?queue=1")
    assert response.status_code == 501
    assert response.json() == {"detail": "Waiting in line is not available on this server."}


def test_a_bad_queue_flag_is_400(client_of, alice, uid):
    response = client_of(alice).post(lock_url(uid) + "?queue=maybe")
    assert response.status_code == 400
    assert response.json() == {"queue": ["Must be a valid boolean."]}


# --- DELETE 204: always --------------------------------------------------------


def test_delete_releases_204(client_of, alice, uid):
    client = client_of(alice)
    client.post(lock_url(uid))
    response = client.delete(lock_url(uid))
    assert response.status_code == 204 and response.content == b""
    assert owner_of(uid) is None


def test_delete_without_a_lock_is_204(client_of, alice, uid):
    assert client_of(alice).delete(lock_url(uid)).status_code == 204


def test_delete_of_anothers_lock_is_204_and_releases_nothing(client_of, alice, bob, uid):
    client_of(alice).post(lock_url(uid))
    assert client_of(bob).delete(lock_url(uid)).status_code == 204
    assert owner_of(uid) == f"user:{alice.pk}"


# --- Anonymous and unpermitted requests ----------------------------------------


@pytest.mark.parametrize("method", ["post", "delete"])
def test_anonymous_with_session_authentication_is_403(method, uid, db):
    response = getattr(APIClient(), method)(lock_url(uid))
    assert response.status_code == 403
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert owner_of(uid) is None


def test_anonymous_with_basic_authentication_is_401(uid, db):
    response = APIClient().post(f"/api-basic/lock/{uid}/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="api"'


def test_a_browser_session_sends_the_csrf_token(alice, uid):
    """As a page would: log in through the login form, then POST and DELETE
    with the CSRF cookie's token in X-CSRFToken (DRF refuses them without)."""
    alice.is_staff = True  # the admin's login form is the one login page here
    alice.save()
    browser = APIClient(enforce_csrf_checks=True)
    browser.get("/admin/login/")
    assert browser.post("/admin/login/", {
        "username": "alice", "password": "lockable", "next": "/admin/",
        "csrfmiddlewaretoken": browser.cookies["csrftoken"].value}).status_code == 302
    token = browser.cookies["csrftoken"].value
    refused = browser.post(lock_url(uid))
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert browser.post(lock_url(uid), HTTP_X_CSRFTOKEN=token).json()["user_id"] == alice.pk
    assert browser.delete(lock_url(uid), HTTP_X_CSRFTOKEN=token).status_code == 204
    assert owner_of(uid) is None


def test_basic_authentication_with_a_password(alice, uid):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"alice:lockable").decode())
    response = client.post(f"/api-basic/lock/{uid}/")
    assert response.status_code == 200 and response.json()["user_id"] == alice.pk
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"alice:wrong").decode())
    assert client.post(f"/api-basic/lock/{uid}/").status_code == 401


def only_documents(request, uid):
    return uid.startswith("document:")


@override_settings(LOCKABLE_LOCK_PERMISSION="tests.test_rest_lock.only_documents")
def test_lock_permission_refuses_403(client_of, alice, uid):
    client = client_of(alice)
    response = client.post(lock_url(uid))
    assert response.status_code == 403
    assert response.json() == {"detail": "You may not lock this resource."}
    assert owner_of(uid) is None
    assert client.post(lock_url(f"document:{uid}")).status_code == 200
    # releasing is never refused: it only ever touches one's own lock
    assert client.delete(lock_url(uid)).status_code == 204


def test_lock_permission_gets_the_request_and_the_uid(client_of, alice, bob, uid):
    seen = []

    def only_alice(request, lock_uid):
        seen.append((request.user.username, lock_uid))
        return request.user.username == "alice"

    with override_settings(LOCKABLE_LOCK_PERMISSION=only_alice):
        assert client_of(alice).post(lock_url(uid)).status_code == 200
        assert client_of(bob).post(lock_url(uid)).status_code == 403
    assert seen == [("alice", uid), ("bob", uid)]


def test_the_owner_comes_from_the_user_never_from_the_client(client_of, alice, uid):
    response = client_of(alice).post(lock_url(uid), {"owner": "user:1", "user_id": 1}, format="json")
    assert response.json()["owner"] == f"user:{alice.pk}"


# --- Bad input: 400 with a message --------------------------------------------


def test_an_over_long_uid_is_400(client_of, alice):
    uid = "u" * 513
    for method in ("post", "delete"):
        response = getattr(client_of(alice), method)(lock_url(uid))
        assert response.status_code == 400
        assert response.json() == {
            "detail": "lock uid is too long: The uid is 513 bytes long; the limit is 512 bytes."}


def test_a_uid_with_a_nul_character_is_400(client_of, alice):
    for method in ("post", "delete"):
        response = getattr(client_of(alice), method)("/api/lock/doc%00evil/")
        assert response.status_code == 400
        assert response.json() == {"detail": "lock uid cannot contain NUL (0x00) characters"}


def test_uids_are_compared_byte_for_byte(client_of, alice, bob, uid):
    assert client_of(alice).post(lock_url(f"{uid}:Straße")).status_code == 200
    assert client_of(bob).post(lock_url(f"{uid}:Strasse")).status_code == 200
    assert client_of(bob).post(lock_url(f"{uid}:Stra%C3%9Fe")).status_code == 423


@pytest.mark.parametrize("ttl, message", [
    pytest.param(601, "Must be at most 600 seconds.", id="above LOCKABLE_MAX_TTL"),
    pytest.param("ten", "A valid number of seconds is required.", id="not a number"),
    pytest.param(0, "Must be more than 0 seconds.", id="zero"),
    pytest.param(-30, "Must be more than 0 seconds.", id="negative"),
    pytest.param(True, "A valid number of seconds is required.", id="boolean"),
    pytest.param("nan", "A valid number of seconds is required.", id="NaN"),
    pytest.param("inf", "A valid number of seconds is required.", id="infinite"),
    pytest.param([60], "A valid number of seconds is required.", id="a list"),
])
def test_a_bad_ttl_is_400(client_of, alice, uid, ttl, message):
    response = client_of(alice).post(lock_url(uid), {"ttl": ttl}, format="json")
    assert response.status_code == 400
    assert response.json() == {"ttl": [message]}
    assert owner_of(uid) is None


@override_settings(LOCKABLE_MAX_TTL=timedelta(days=30))
def test_a_ttl_above_the_databases_max_ttl_is_400(client_of, alice, uid):
    response = client_of(alice).post(lock_url(uid), {"ttl": 2 * 86400}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": 'ttl exceeds lockable.max_ttl: The ttl is "2 days"; lockable.max_ttl is "1 day".'}


def test_a_malformed_json_body_is_400(client_of, alice, uid):
    response = client_of(alice).post(lock_url(uid), "{ttl: 5", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error")


@override_settings(LOCKABLE_OWNER=lambda user: "")
def test_an_empty_owner_from_lockable_owner_is_a_server_error(alice, uid):
    """A misconfigured server is not the client's fault: 500, with the
    cause in the exception (and so in the server's log)."""
    client = APIClient()
    client.force_login(alice)
    with pytest.raises(ImproperlyConfigured, match="LOCKABLE_OWNER returned '' .* 1 to 512 bytes"):
        client.post(lock_url(uid))
    client.raise_request_exception = False
    assert client.post(lock_url(uid)).status_code == 500
    assert owner_of(uid) is None


def test_a_lock_taken_outside_the_endpoint_is_the_same_lock(client_of, alice, uid):
    """The endpoint and the low-level API name owners alike."""
    acquire(uid, owner_for(alice), ttl=timedelta(seconds=30))
    response = client_of(alice).post(lock_url(uid))
    assert response.status_code == 200  # a renewal, not a refusal


# --- before lockable 1.4: the endpoints that move locks are 501 -----------------------------


@pytest.mark.without_transfer
def test_moving_locks_is_501_before_lockable_1_4(client_of, alice, bob, uid, django_user_model):
    client = client_of(alice)
    for action, body in [("take-over", {}), ("hand-over", {"to": bob.pk}), ("request", {}),
                         ("decline", {"to": bob.pk})]:
        response = client.post(f"/api/lock/{uid}/{action}/", body, format="json")
        assert response.status_code == 501 if action != "take-over" else response.status_code in (403, 501), action
    root = django_user_model.objects.create_superuser("root", password="lockable")
    assert client_of(root).post(f"/api/lock/{uid}/take-over/").status_code == 501
    assert client_of(root).get(f"/api/lock/{uid}/history/").status_code == 501
    assert client_of(root).post(f"/own-take-over/{uid}/").status_code == 501  # through the handler
    assert owner_of(uid) is None
