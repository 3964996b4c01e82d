"""OpenAPI: what the lock endpoint and ``LockEnforcedMixin`` views answer,
for DRF's own schema generator and for drf-spectacular.

``LockView.schema`` and ``LockEnforcedMixin.schema`` are ``LockSchema``
descriptors: on access they make an inspector of the project's
``DEFAULT_SCHEMA_CLASS``, as DRF's own ``DefaultSchema`` does, with the
package's responses added:

- DRF's ``rest_framework.schemas.openapi.AutoSchema`` (and subclasses):
  through ``get_responses`` and ``get_operation``;
- drf-spectacular's ``drf_spectacular.openapi.AutoSchema`` (and
  subclasses): through ``get_request_serializer``,
  ``get_response_serializers`` and ``get_override_parameters``;
- any other inspector (CoreAPI's) as it is.

The bodies are described by the serializers below, which only document:
the views build their bodies themselves (``django_lockable.drf``).

=====================  =======================================================
view                   responses
=====================  =======================================================
lock endpoint POST     200 granted, 400 bad input, 403 refused by
                       ``LOCKABLE_LOCK_PERMISSION``, 423 held by another,
                       429 ``LOCKABLE_MAX_UIDS_PER_USER`` reached, 501
                       ``queue`` without the waiting line, 503 busy
                       (``LockTimeout``)
lock endpoint DELETE   204, 400, 503
take-over/ POST        200 the grant and whom it displaced, 400, 403, 501
                       before lockable 1.4, 503 the role lacks
                       ``lockable_admin``, or busy (``LockTimeout``)
hand-over/ POST        200 the new grant, 400, 409 not the holder, 501
request/ POST          204 asked, 400, 409 nobody to ask, 501
decline/ POST          204 declined, 400, 409 not the holder, 501
history/ GET           the view's own (a page of events), 403, 404, 501,
                       503
PUT, PATCH             the view's own, 400 (``version`` missing, a bad
                       ``Lockable-Token``), 409 stale version (with a
                       ``VersionedModelSerializer``), 423 another holds the
                       row's lock, or took it over
DELETE                 the view's own, 423
=====================  =======================================================

A view that sets ``schema`` itself keeps its own.  Only this module and
``django_lockable.drf`` import DRF; drf-spectacular is imported only when it
is the ``DEFAULT_SCHEMA_CLASS``.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple, Type, cast

from rest_framework import serializers
from rest_framework.schemas import openapi
from rest_framework.schemas.inspectors import ViewInspector
from rest_framework.settings import api_settings

TOKEN_HEADER_DESCRIPTION = (
    "The fencing token of the caller's lock: the write is made only under exactly that grant "
    "(423 otherwise). An integer; 400 when it is not one."
)


class LockGrantedSerializer(serializers.Serializer):  # type: ignore[type-arg,unused-ignore]
    """200 of the lock endpoint: the lock is the caller's (granted or renewed)."""

    uid = serializers.CharField()
    owner = serializers.CharField()
    user_id = serializers.JSONField(allow_null=True, help_text="the pk of an owner user:<pk>, else null")
    token = serializers.IntegerField(help_text="the fencing token of this grant")
    acquired_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    waiters = serializers.IntegerField(allow_null=True, help_text="places in the uid's line; null without it")


class LockRefusedSerializer(serializers.Serializer):  # type: ignore[type-arg,unused-ignore]
    """423 of the lock endpoint, and of ``ResourceLocked``: another owner holds it."""

    message = serializers.CharField()
    owner = serializers.CharField(help_text="the holder")
    user_id = serializers.JSONField(allow_null=True)
    expires_at = serializers.DateTimeField()
    waiters = serializers.IntegerField(allow_null=True)
    position = serializers.IntegerField(allow_null=True, help_text="the caller's place in line (1 = next)")


class TakenOverSerializer(serializers.Serializer):  # type: ignore[type-arg,unused-ignore]
    """Who took the writer's lock over, in a 423 with reason taken_over."""

    owner = serializers.CharField(allow_null=True, help_text="the owner who took over")
    user_id = serializers.JSONField(allow_null=True)
    name = serializers.CharField(allow_null=True, help_text="their display name (LOCKABLE_DISPLAY_NAME)")
    at = serializers.DateTimeField()
    reason = serializers.CharField(allow_null=True, help_text="the reason they gave")


class RowLockedSerializer(serializers.Serializer):  # type: ignore[type-arg,unused-ignore]
    """423 of a write refused by ``enforce_lock`` (SQLSTATE 55P03)."""

    detail = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=["locked", "taken_over"],
        help_text="taken_over: a take over ended the writer's grant (keep the draft); locked: another holds it")
    owner = serializers.CharField(allow_null=True, help_text="the holder of the row's lock, when known")
    user_id = serializers.JSONField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    taken_over = TakenOverSerializer(allow_null=True, help_text="with reason taken_over; else null")


class TakeOverGrantedSerializer(LockGrantedSerializer):
    """200 of the take-over endpoint: the caller's grant, and whom it displaced."""

    previous_owner = serializers.CharField(allow_null=True, help_text="the live holder displaced; null if none")
    previous_user_id = serializers.JSONField(allow_null=True)
    previous_token = serializers.IntegerField(allow_null=True)


class StaleVersionSerializer(serializers.Serializer):  # type: ignore[type-arg,unused-ignore]
    """409 of a write based on a stale version (SQLSTATE 40001, ``StaleVersion``)."""

    detail = serializers.CharField()
    current_version = serializers.IntegerField(allow_null=True)


class DetailSerializer(serializers.Serializer):  # type: ignore[type-arg,unused-ignore]
    """An error with a ``detail`` (400, 403, 429, 501, 503)."""

    detail = serializers.CharField()


class LockRequestBodySerializer(serializers.Serializer):  # type: ignore[type-arg,unused-ignore]
    """The body of a POST to the lock endpoint."""

    ttl = serializers.FloatField(required=False, help_text="the lease in seconds (LOCKABLE_TTL when absent)")


class TakeOverBodySerializer(serializers.Serializer):  # type: ignore[type-arg,unused-ignore]
    """The body of a take over."""

    reason = serializers.CharField(required=False, allow_null=True, max_length=500,
                                   help_text="why; recorded and announced with the taker's display name")
    ttl = serializers.FloatField(required=False, help_text="the lease in seconds (LOCKABLE_TTL when absent)")
    requeue = serializers.BooleanField(required=False, help_text="put the displaced holder first in line")


class HandOverBodySerializer(serializers.Serializer):  # type: ignore[type-arg,unused-ignore]
    """The body of a hand over."""

    to = serializers.IntegerField(help_text="the primary key of the user who gets the lock")
    ttl = serializers.FloatField(
        required=False,
        help_text="the lease in seconds (absent: what their place asked for, else the holder's lease)")


class AskBodySerializer(serializers.Serializer):  # type: ignore[type-arg,unused-ignore]
    """The body of a request for a lock."""

    message = serializers.CharField(required=False, allow_null=True,
                                    help_text="for the holder, at most 1000 bytes")


class DeclineBodySerializer(serializers.Serializer):  # type: ignore[type-arg,unused-ignore]
    """The body of a decline."""

    to = serializers.IntegerField(help_text="the primary key of the user who asked")


WRITES = ("PUT", "PATCH")

# (status, serializer or None, description): one response.
Response = Tuple[str, Optional[Type["serializers.BaseSerializer[Any]"]], str]

# (status, serializer or None, description) of each method of the lock endpoint.
LOCK_ENDPOINT: Dict[str, List[Response]] = {
    "POST": [
        ("200", LockGrantedSerializer, "The lock is the caller's: granted, or renewed with the same token."),
        ("400", None, "A bad ttl or queue, or a uid the database refuses."),
        ("403", DetailSerializer, "Anonymous, or LOCKABLE_LOCK_PERMISSION refused the uid."),
        ("423", LockRefusedSerializer, "Another owner holds the lock (with ?queue=1: or is ahead in line)."),
        ("429", DetailSerializer, "The caller holds or waits for LOCKABLE_MAX_UIDS_PER_USER other uids."),
        ("501", DetailSerializer, "queue asked of a lockable without the waiting line."),
        ("503", DetailSerializer, "Busy: an open transaction holds the uid's lock row; nothing changed, "
                                  "try again (Retry-After)."),
    ],
    "DELETE": [
        ("204", None, "Released, or the caller left the line (also when it held nothing)."),
        ("400", None, "A uid the database refuses."),
        ("503", DetailSerializer, "Busy: an open transaction holds the uid's lock row; nothing changed, "
                                  "try again (Retry-After)."),
    ],
}


NOT_BEFORE_1_4 = ("501", DetailSerializer, "The database's lockable is older than 1.4.")
NO_LOCKABLE_ADMIN = ("503", DetailSerializer, "The site's database role lacks lockable_admin.")

# The moves of a lock (lockable 1.4), described in full, by kind of view.
TRANSFER_ENDPOINTS: Dict[str, Dict[str, List[Response]]] = {
    "take_over": {"POST": [
        ("200", TakeOverGrantedSerializer, "The lock is the caller's now, with a new token."),
        ("400", None, "A bad reason, ttl or requeue, or a uid the database refuses."),
        ("403", DetailSerializer,
         "Anonymous, or refused by LOCKABLE_TAKE_OVER_PERMISSION or LOCKABLE_LOCK_PERMISSION."),
        NOT_BEFORE_1_4,
        NO_LOCKABLE_ADMIN,
    ]},
    "hand_over": {"POST": [
        ("200", LockGrantedSerializer, "Handed over: the new holder's grant."),
        ("400", None, "No such user (or an inactive one, or the caller), a bad ttl, a bad uid."),
        ("409", DetailSerializer, "The caller does not hold the lock live: nothing changed."),
        NOT_BEFORE_1_4,
    ]},
    "request": {"POST": [
        ("204", None, "The holder was asked (a requested notification)."),
        ("400", None, "A message over 1000 bytes, or a bad uid."),
        ("409", DetailSerializer, "The caller has no live place in the line, or nobody holds the lock."),
        NOT_BEFORE_1_4,
    ]},
    "decline": {"POST": [
        ("204", None, "Declined (a declined notification)."),
        ("400", None, "No such user, or a bad uid."),
        ("409", DetailSerializer, "The caller does not hold the lock live."),
        NOT_BEFORE_1_4,
    ]},
}
LOCK_ENDPOINTS: Dict[str, Dict[str, List[Response]]] = {"endpoint": LOCK_ENDPOINT, **TRANSFER_ENDPOINTS}

REQUEST_BODIES: Dict[str, Type[serializers.BaseSerializer[Any]]] = {
    "endpoint": LockRequestBodySerializer,
    "take_over": TakeOverBodySerializer,
    "hand_over": HandOverBodySerializer,
    "request": AskBodySerializer,
    "decline": DeclineBodySerializer,
}

# What the history view adds to the page of events its inspector describes.
HISTORY_ERRORS: List[Response] = [
    ("403", DetailSerializer, "Only active staff with the permission django_lockable.view_lockhistory."),
    ("404", DetailSerializer, "A page past the end."),
    NOT_BEFORE_1_4,
    NO_LOCKABLE_ADMIN,
]
HISTORY_OWNER_DESCRIPTION = "keep the events whose owner or previous owner this is"


def _write_responses(view: Any, method: str) -> List[Response]:
    """The responses LockEnforcedMixin adds to a write of the view."""
    from .drf import VersionedModelSerializer

    if method == "DELETE":
        return [("423", RowLockedSerializer, "Another user holds the row's lock.")]
    if method not in WRITES:
        return []
    found: List[Response] = [
        ("400", None, "Invalid input: among others, no version, or a Lockable-Token that is no integer.")]
    try:
        versioned = issubclass(view.get_serializer_class(), VersionedModelSerializer)
    except Exception:  # a view whose serializer depends on the request
        versioned = False
    if versioned:
        found.append(("409", StaleVersionSerializer, "The version sent is stale: someone saved in between."))
    found.append(("423", RowLockedSerializer, "Another user holds the row's lock."))
    return found


def _token_parameter() -> Dict[str, Any]:
    return {"name": "Lockable-Token", "in": "header", "required": False,
            "description": TOKEN_HEADER_DESCRIPTION, "schema": {"type": "integer"}}


# ---- DRF's own generator ----


class _DrfLockEndpoint:
    """Mixed into DRF's ``openapi.AutoSchema`` for ``LockView`` and the views
    that move locks (``lockable_kind`` says which)."""

    lockable_kind = "endpoint"

    def get_request_body(self, path: str, method: str) -> Dict[str, Any]:
        if method != "POST":
            return {}
        schema = self.map_serializer(REQUEST_BODIES[self.lockable_kind]())  # type: ignore[attr-defined]
        return {"content": {ct: {"schema": schema} for ct in ("application/json", "application/x-www-form-urlencoded")}}

    def get_responses(self, path: str, method: str) -> Dict[str, Any]:
        return _drf_responses(self, LOCK_ENDPOINTS[self.lockable_kind].get(method, []))

    def get_operation(self, path: str, method: str) -> Dict[str, Any]:
        operation: Dict[str, Any] = super().get_operation(path, method)  # type: ignore[misc]
        if method == "POST" and self.lockable_kind == "endpoint":
            operation.setdefault("parameters", []).append({
                "name": "queue", "in": "query", "required": False, "schema": {"type": "boolean"},
                "description": "join the uid's waiting line when refused (lockable 1.2)"})
        return operation


class _DrfLockHistory:
    """Mixed into DRF's ``openapi.AutoSchema`` for ``HistoryView``."""

    def get_responses(self, path: str, method: str) -> Dict[str, Any]:
        responses: Dict[str, Any] = super().get_responses(path, method)  # type: ignore[misc]
        responses.update(_drf_responses(self, HISTORY_ERRORS))
        return responses

    def get_operation(self, path: str, method: str) -> Dict[str, Any]:
        operation: Dict[str, Any] = super().get_operation(path, method)  # type: ignore[misc]
        operation.setdefault("parameters", []).append({
            "name": "owner", "in": "query", "required": False, "schema": {"type": "string"},
            "description": HISTORY_OWNER_DESCRIPTION})
        return operation


class _DrfLockEnforced:
    """Mixed into DRF's ``openapi.AutoSchema`` for ``LockEnforcedMixin`` views."""

    def get_responses(self, path: str, method: str) -> Dict[str, Any]:
        responses: Dict[str, Any] = super().get_responses(path, method)  # type: ignore[misc]
        responses.update(_drf_responses(self, _write_responses(self.view, method)))  # type: ignore[attr-defined]
        return responses

    def get_operation(self, path: str, method: str) -> Dict[str, Any]:
        operation: Dict[str, Any] = super().get_operation(path, method)  # type: ignore[misc]
        if method in (*WRITES, "DELETE"):
            operation.setdefault("parameters", []).append(_token_parameter())
        return operation


def _drf_responses(inspector: Any, responses: List[Response]) -> Dict[str, Any]:
    found = {}
    for code, serializer, description in responses:
        response: Dict[str, Any] = {"description": description}
        if serializer is not None:
            response["content"] = {"application/json": {"schema": inspector.map_serializer(serializer())}}
        found[code] = response
    return found


# ---- drf-spectacular ----


class _SpectacularLockEndpoint:
    """Mixed into drf-spectacular's ``AutoSchema`` for ``LockView`` and the
    views that move locks (``lockable_kind`` says which)."""

    lockable_kind = "endpoint"

    def get_request_serializer(self) -> Any:
        return REQUEST_BODIES[self.lockable_kind] if self.method == "POST" else None  # type: ignore[attr-defined]

    def get_response_serializers(self) -> Any:
        return _spectacular_responses(LOCK_ENDPOINTS[self.lockable_kind].get(self.method, []))  # type: ignore[attr-defined]

    def get_override_parameters(self) -> List[Any]:
        from drf_spectacular.utils import OpenApiParameter

        found: List[Any] = list(super().get_override_parameters())  # type: ignore[misc]
        if self.method == "POST" and self.lockable_kind == "endpoint":  # type: ignore[attr-defined]
            found.append(OpenApiParameter("queue", bool, OpenApiParameter.QUERY,
                                          description="join the uid's waiting line when refused (lockable 1.2)"))
        return found


class _SpectacularLockHistory:
    """Mixed into drf-spectacular's ``AutoSchema`` for ``HistoryView``."""

    def get_response_serializers(self) -> Any:
        return {"200": super().get_response_serializers(),  # type: ignore[misc]
                **_spectacular_responses(HISTORY_ERRORS)}

    def get_override_parameters(self) -> List[Any]:
        from drf_spectacular.utils import OpenApiParameter

        found: List[Any] = list(super().get_override_parameters())  # type: ignore[misc]
        found.append(OpenApiParameter("owner", str, OpenApiParameter.QUERY, description=HISTORY_OWNER_DESCRIPTION))
        return found


class _SpectacularLockEnforced:
    """Mixed into drf-spectacular's ``AutoSchema`` for ``LockEnforcedMixin`` views."""

    def get_response_serializers(self) -> Any:
        default = super().get_response_serializers()  # type: ignore[misc]
        added = _write_responses(self.view, self.method)  # type: ignore[attr-defined]
        if not added or isinstance(default, dict):
            return default
        if self.method == "DELETE":  # type: ignore[attr-defined]
            found = {"204": None}
        else:
            found = {"200": default}
        found.update(_spectacular_responses(added))
        return found

    def get_override_parameters(self) -> List[Any]:
        from drf_spectacular.utils import OpenApiParameter

        found: List[Any] = list(super().get_override_parameters())  # type: ignore[misc]
        if self.method in (*WRITES, "DELETE"):  # type: ignore[attr-defined]
            found.append(OpenApiParameter("Lockable-Token", int, OpenApiParameter.HEADER,
                                          description=TOKEN_HEADER_DESCRIPTION))
        return found


def _spectacular_responses(responses: List[Response]) -> Dict[str, Any]:
    from drf_spectacular.utils import OpenApiResponse

    return {code: OpenApiResponse(response=serializer, description=description)
            for code, serializer, description in responses}


# ---- the descriptor ----


_combined: Dict[Tuple[type, type, str], type] = {}
"""The inspector classes made so far, by (mixin, base, kind)."""


def _spectacular_base() -> Optional[type]:
    try:
        from drf_spectacular.openapi import AutoSchema
    except ImportError:
        return None
    return AutoSchema


class LockSchema(ViewInspector):
    """The ``schema`` of the package's views: ``DEFAULT_SCHEMA_CLASS`` with
    the package's responses (see the module).  ``kind`` is ``"endpoint"``
    (``LockView``), ``"enforced"`` (``LockEnforcedMixin``), ``"history"``
    (``HistoryView``), or one of ``TRANSFER_ENDPOINTS`` (``"take_over"``,
    ``"hand_over"``, ``"request"``, ``"decline"``)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def __get__(self, instance: Any, owner: Any) -> Any:
        result = super().__get__(instance, owner)
        if instance is None or not isinstance(result, LockSchema):
            return result  # set on the view instance, or read from the class
        base = cast(type, api_settings.DEFAULT_SCHEMA_CLASS)  # the class, once DRF imported its dotted path
        spectacular = _spectacular_base()
        mixin: Optional[type] = None
        if spectacular is not None and issubclass(base, spectacular):
            mixin = {"enforced": _SpectacularLockEnforced, "history": _SpectacularLockHistory}.get(
                self.kind, _SpectacularLockEndpoint)
        elif issubclass(base, openapi.AutoSchema):
            mixin = {"enforced": _DrfLockEnforced, "history": _DrfLockHistory}.get(self.kind, _DrfLockEndpoint)
        inspector_class = base
        if mixin is not None:
            key = (mixin, base, self.kind)
            if key not in _combined:
                _combined[key] = type(f"Lockable{base.__name__}", (mixin, base), {"lockable_kind": self.kind})
            inspector_class = _combined[key]
        inspector = inspector_class()
        inspector.view = instance
        return inspector
