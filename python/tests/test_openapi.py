"""OpenAPI: the lock endpoint and a LockEnforcedMixin viewset describe their
200/204/400/409/423 responses (and the Lockable-Token header), and the
endpoints that move locks theirs (take-over, hand-over, request, decline,
a paginated history), for DRF's own generator and for drf-spectacular,
whichever DEFAULT_SCHEMA_CLASS names.  Each generator runs over the
package's routes and the test app's DocumentViewSet (LockEnforcedMixin,
VersionedModelSerializer)."""
import pytest
from django.test import override_settings
from django.urls import include, path
from rest_framework.routers import SimpleRouter

from .testapp.views import DocumentViewSet

router = SimpleRouter()
router.register("documents", DocumentViewSet)
PATTERNS = [
    path("api/", include("django_lockable.urls")),
    path("api/", include(router.urls)),
]
LOCK = "/api/lock/{uid}/"
DOCUMENT = "/api/documents/{id}/"
GRANTED = {"uid", "owner", "user_id", "token", "acquired_at", "expires_at", "waiters"}
ROW_LOCKED = {"detail", "reason", "owner", "user_id", "expires_at", "taken_over"}


def with_schema_class(name):
    from django.conf import settings

    return override_settings(REST_FRAMEWORK={**settings.REST_FRAMEWORK, "DEFAULT_SCHEMA_CLASS": name})


def body_properties(schema, response):
    """The properties of a response's JSON body (following a $ref)."""
    body = response["content"]["application/json"]["schema"]
    if "$ref" in body:
        body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return set(body["properties"])


def schema_of(schema, body):
    """A body's schema, following a $ref."""
    if "$ref" in body:
        return schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    return body


def request_properties(schema, operation):
    return set(schema_of(schema, operation["requestBody"]["content"]["application/json"]["schema"])["properties"])


def check_transfer(schema):
    take_over = schema["paths"][LOCK + "take-over/"]["post"]
    assert set(take_over["responses"]) == {"200", "400", "403", "501", "503"}
    assert body_properties(schema, take_over["responses"]["200"]) == GRANTED | {
        "previous_owner", "previous_user_id", "previous_token"}
    assert request_properties(schema, take_over) == {"reason", "ttl", "requeue"}
    hand_over = schema["paths"][LOCK + "hand-over/"]["post"]
    assert set(hand_over["responses"]) == {"200", "400", "409", "501"}
    assert body_properties(schema, hand_over["responses"]["200"]) == GRANTED
    assert request_properties(schema, hand_over) == {"to", "ttl"}
    request = schema["paths"][LOCK + "request/"]["post"]
    assert set(request["responses"]) == {"204", "400", "409", "501"}
    assert request_properties(schema, request) == {"message"}
    decline = schema["paths"][LOCK + "decline/"]["post"]
    assert set(decline["responses"]) == {"204", "400", "409", "501"}
    assert request_properties(schema, decline) == {"to"}
    history = schema["paths"][LOCK + "history/"]
    assert set(history) == {"get"}
    assert set(history["get"]["responses"]) == {"200", "403", "404", "501", "503"}
    page = schema_of(schema, history["get"]["responses"]["200"]["content"]["application/json"]["schema"])
    assert {"count", "next", "previous", "results"} <= set(page["properties"])
    event = schema_of(schema, page["properties"]["results"]["items"])
    assert set(event["properties"]) == {"at", "event", "uid", "owner", "user_id", "token", "previous_owner",
                                        "previous_user_id", "reason", "role"}
    query = {p["name"] for p in history["get"]["parameters"] if p["in"] == "query"}
    assert {"page", "page_size", "owner"} <= query


def check(schema):
    lock = schema["paths"][LOCK]
    assert set(lock["post"]["responses"]) == {"200", "400", "403", "423", "429", "501", "503"}
    assert body_properties(schema, lock["post"]["responses"]["200"]) == GRANTED
    assert body_properties(schema, lock["post"]["responses"]["423"]) == {
        "message", "owner", "user_id", "expires_at", "waiters", "position"}
    assert "queue" in {p["name"] for p in lock["post"]["parameters"] if p["in"] == "query"}
    assert set(lock["delete"]["responses"]) == {"204", "400", "503"}

    document = schema["paths"][DOCUMENT]
    for method in ("put", "patch"):
        responses = document[method]["responses"]
        assert {"200", "400", "409", "423"} <= set(responses), (method, set(responses))
        assert body_properties(schema, responses["409"]) == {"detail", "current_version"}
        assert body_properties(schema, responses["423"]) == ROW_LOCKED
        assert "version" in body_properties(schema, responses["200"])
        headers = {p["name"]: p for p in document[method]["parameters"] if p["in"] == "header"}
        assert headers["Lockable-Token"]["schema"]["type"] == "integer"
    assert {"204", "423"} <= set(document["delete"]["responses"])
    # reads are the view's own: no lock responses
    assert not {"409", "423"} & set(document["get"]["responses"])
    check_transfer(schema)


def test_drfs_own_generator_documents_the_lock_responses():
    pytest.importorskip("uritemplate", reason="DRF's OpenAPI generator needs uritemplate")
    from rest_framework.schemas.openapi import SchemaGenerator

    with with_schema_class("rest_framework.schemas.openapi.AutoSchema"):
        schema = SchemaGenerator(patterns=PATTERNS).get_schema(request=None, public=True)
    check(schema)


def test_drf_spectacular_documents_the_lock_responses_without_a_warning():
    pytest.importorskip("drf_spectacular")
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    with with_schema_class("drf_spectacular.openapi.AutoSchema"):
        schema = SchemaGenerator(patterns=PATTERNS).get_schema(request=None, public=True)
    validate_schema(schema)  # a valid OpenAPI 3 document
    assert not GENERATOR_STATS, (dict(GENERATOR_STATS._warn_cache), dict(GENERATOR_STATS._error_cache))
    check(schema)


def test_a_view_that_sets_its_own_schema_keeps_it():
    from rest_framework.schemas.openapi import AutoSchema

    class Mine(DocumentViewSet):
        schema = AutoSchema(tags=["mine"])

    assert type(Mine().schema) is AutoSchema
