"""Generic views with LockEnforcedMixin and VersionedModelSerializer, and the
exception handler's 409 and 423."""
from contextlib import contextmanager

import pytest
from django.db import IntegrityError, connection
from django.http import Http404
from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import Throttled

from django_lockable import ResourceLocked, StaleVersion, acquire, owner_for
from django_lockable.drf import exception_handler

from .testapp.models import Document

STALE = "This record was changed by someone else since you read it: reload it and try again."
ROW_LOCKED = "This record is locked: only the holder of its lock may change it now."


@pytest.fixture
def document(db):
    return Document.objects.create(title="Minutes", body="first draft")


def url(document):
    return f"/api/documents/{document.pk}/"


# --- version on update: required, checked ---------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_update_without_version_is_400(client_of, alice, document, method):
    response = getattr(client_of(alice), method)(url(document), {"title": "no version"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"version": ["This field is required."]}
    assert Document.objects.get(pk=document.pk).title == "Minutes"


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_update_from_a_stale_version_is_409(client_of, alice, bob, document, method):
    assert client_of(alice).patch(url(document), {"title": "alice's", "version": 1},
                                  format="json").status_code == 200
    response = getattr(client_of(bob), method)(url(document), {"title": "bob's", "version": 1},
                                               format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": STALE, "current_version": 2}
    row = Document.objects.get(pk=document.pk)
    assert (row.title, row.version) == ("alice's", 2)


def test_an_update_from_the_current_version_is_200(client_of, alice, document):
    response = client_of(alice).put(url(document), {"title": "v2", "body": "b", "version": 1}, format="json")
    assert response.status_code == 200
    assert response.json() == {"id": document.pk, "title": "v2", "body": "b", "version": 2}
    response = client_of(alice).patch(url(document), {"body": "c", "version": 2}, format="json")
    assert response.json()["version"] == 3


@pytest.mark.parametrize("version", [0, "one", None])
def test_a_malformed_version_is_400(client_of, alice, document, version):
    response = client_of(alice).patch(url(document), {"title": "x", "version": version}, format="json")
    assert response.status_code == 400 and "version" in response.json()


def test_create_ignores_a_version_and_starts_at_1(client_of, alice, db):
    response = client_of(alice).post("/api/documents/", {"title": "new", "version": 7}, format="json")
    assert response.status_code == 201
    assert response.json()["version"] == 1
    assert client_of(alice).post("/api/documents/", {"title": "new"}, format="json").json()["version"] == 1


def test_the_trap_a_naive_serializer_loses_updates(client_of, alice, bob, document):
    """django-concurrency #36 / DRF #4231, shown on a ModelSerializer without
    our support: version is read-only, the view loads the current row, the
    save passes the check trivially, and alice, who read the row before bob
    saved, silently overwrites bob's edit."""
    naive = f"/api/naive-documents/{document.pk}/"
    alice_read = client_of(alice).get(naive).json()
    assert client_of(bob).put(naive, {"title": "bob's", "body": "bob"}, format="json").status_code == 200
    response = client_of(alice).put(naive, {"title": "alice's", "body": alice_read["body"], "version": 1},
                                    format="json")
    assert response.status_code == 200  # no conflict reported: bob's body is overwritten
    assert Document.objects.get(pk=document.pk).body == "first draft"


# --- writes as the request's user: 423 ---------------------------------------------


def test_the_holder_updates_and_others_get_423(client_of, alice, bob, document):
    held = document.lock(alice)
    response = client_of(bob).patch(url(document), {"title": "bob's", "version": 1}, format="json")
    assert response.status_code == 423
    body = response.json()
    assert body == {"detail": ROW_LOCKED, "reason": "locked", "owner": f"user:{alice.pk}", "user_id": alice.pk,
                    "expires_at": body["expires_at"], "taken_over": None}
    assert parse_datetime(body["expires_at"]) == held.expires_at
    assert client_of(alice).patch(url(document), {"title": "alice's", "version": 1},
                                  format="json").status_code == 200


def test_delete_by_others_is_423_and_by_the_holder_204(client_of, alice, bob, document):
    document.lock(alice)
    assert client_of(bob).delete(url(document)).status_code == 423
    assert Document.objects.filter(pk=document.pk).exists()
    assert client_of(alice).delete(url(document)).status_code == 204
    assert not Document.objects.filter(pk=document.pk).exists()


def test_an_unlocked_row_is_written_by_anyone(client_of, bob, document):
    assert client_of(bob).patch(url(document), {"title": "free", "version": 1},
                                format="json").status_code == 200


def test_the_lock_token_header_fences_writes(client_of, alice, document):
    token = document.lock(alice).token
    client = client_of(alice)
    response = client.patch(url(document), {"title": "stale", "version": 1}, format="json",
                            HTTP_LOCKABLE_TOKEN=str(token + 1000))
    assert response.status_code == 423
    assert response.json()["owner"] == f"user:{alice.pk}"  # she holds it, under another grant
    response = client.patch(url(document), {"title": "fenced", "version": 1}, format="json",
                            HTTP_LOCKABLE_TOKEN=str(token))
    assert response.status_code == 200


def test_a_malformed_lock_token_is_400(client_of, alice, document):
    document.lock(alice)
    response = client_of(alice).patch(url(document), {"title": "x", "version": 1}, format="json",
                                      HTTP_LOCKABLE_TOKEN="abc")
    assert response.status_code == 400
    assert response.json() == {"Lockable-Token": ["A fencing token is an integer."]}


# --- the handler on errors from code that bypasses the package ---------------------


def test_raw_sql_on_a_locked_row_is_423_from_the_message(client_of, alice, bob, document):
    held = acquire(document.lock_uid, owner_for(alice))
    response = client_of(bob).post(f"/raw/{document.pk}/", {"title": "raw"}, format="json")
    assert response.status_code == 423
    body = response.json()
    assert (body["detail"], body["owner"], body["user_id"]) == (ROW_LOCKED, f"user:{alice.pk}", alice.pk)
    assert parse_datetime(body["expires_at"]) == held.expires_at


def test_raw_sql_with_a_stale_version_is_409_from_the_message(client_of, alice, document):
    Document.objects.get(pk=document.pk).save()
    Document.objects.get(pk=document.pk).save()
    response = client_of(alice).post(f"/raw-stale/{document.pk}/", {"title": "raw", "version": 1},
                                     format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": STALE, "current_version": 3}


@contextmanager
def atomic_requests():
    connection.settings_dict["ATOMIC_REQUESTS"] = True
    try:
        yield
    finally:
        connection.settings_dict["ATOMIC_REQUESTS"] = False


@pytest.mark.django_db(transaction=True)
def test_409_and_423_under_atomic_requests(client_of, alice, bob):
    """With one transaction per request, the failed request rolls back and
    the connection serves the next request."""
    document = Document.objects.create(title="Minutes")
    with atomic_requests():
        assert client_of(alice).patch(url(document), {"title": "a", "version": 1},
                                      format="json").status_code == 200
        assert client_of(bob).patch(url(document), {"title": "b", "version": 1},
                                    format="json").status_code == 409
        document.lock(alice)
        assert client_of(bob).patch(url(document), {"title": "b", "version": 2},
                                    format="json").status_code == 423
        assert client_of(alice).patch(url(document), {"title": "c", "version": 2},
                                      format="json").status_code == 200
    assert Document.objects.get(pk=document.pk).title == "c"


def test_resource_locked_from_a_view_is_423_with_the_endpoints_body(client_of, alice, bob, uid):
    assert client_of(alice).post(f"/mutex/{uid}/").status_code == 200
    response = client_of(bob).post(f"/mutex/{uid}/")
    assert response.status_code == 423
    assert response.json()["message"] == "Resource is already in use by another user"
    assert (response.json()["owner"], response.json()["user_id"]) == (f"user:{alice.pk}", alice.pk)


# --- the handler alone --------------------------------------------------------------


def test_the_handler_maps_resource_locked_and_stale_version(alice, document):
    status = acquire(document.lock_uid, owner_for(alice))
    refused = acquire(document.lock_uid, "user:somebody-else")
    response = exception_handler(ResourceLocked(refused), {})
    assert response.status_code == 423
    assert response.data["owner"] == f"user:{alice.pk}" and response.data["position"] is None
    assert response.data["expires_at"] is not None and status.granted
    response = exception_handler(StaleVersion("stale", pk=1, version=1, current_version=4), {})
    assert (response.status_code, response.data) == (409, {"detail": STALE, "current_version": 4})


def test_the_handler_defers_everything_else_to_drf():
    assert exception_handler(Http404(), {}).status_code == 404
    throttled = exception_handler(Throttled(wait=3), {})
    assert (throttled.status_code, throttled["Retry-After"]) == (429, "3")
    assert exception_handler(IntegrityError("duplicate key"), {}) is None
    assert exception_handler(ValueError("a bug"), {}) is None
