"""Django REST framework support: the lock endpoint, writes as the lock
holder, version-checked serializers, and 409/423 responses.

Only this module (and ``django_lockable.urls``) imports DRF.

The lock endpoint (``LockView``, routed by ``django_lockable.urls`` at
``lock/<path:uid>/``):

============  ======  ==========================================================
request       status  body / effect
============  ======  ==========================================================
POST          200     ``{"uid", "owner", "user_id", "token", "acquired_at",
                      "expires_at", "waiters"}``: granted or renewed
POST          423     ``{"message": "Resource is already in use by another
                      user", "owner", "user_id", "expires_at", "waiters",
                      "position"}``: held by another
POST ?queue=1         joins the line (501 on a lockable without it)
DELETE        204     always: releases the lock, or leaves the line
POST, DELETE  400     ``{"detail"}`` or ``{"ttl": [...]}``: bad uid or ttl
POST          403     ``LOCKABLE_LOCK_PERMISSION`` refused the uid
POST          429     ``{"detail"}``: the user holds or waits for
                      ``LOCKABLE_MAX_UIDS_PER_USER`` other uids already
POST, DELETE  503     ``{"detail"}``, ``Retry-After``: the call timed out
                      (``LockTimeout``: an open transaction holds the uid's
                      lock row); nothing changed, try again
any           401/403 anonymous, as DRF's authentication settings say
============  ======  ==========================================================

``ttl`` may be sent in the body, in seconds (default ``LOCKABLE_TTL``, at
most ``LOCKABLE_MAX_TTL``).

Both views describe these responses for OpenAPI (DRF's generator and
drf-spectacular; see ``django_lockable.schema``).

``exception_handler`` (``REST_FRAMEWORK["EXCEPTION_HANDLER"] =
"django_lockable.drf.exception_handler"``) maps SQLSTATE 40001 (and
``StaleVersion``) to 409 ``{"detail", "current_version"}``, SQLSTATE 55P03
to 423 ``{"detail", "owner", "user_id", "expires_at"}``, and
``ResourceLocked`` to the endpoint's 423 body, and ``LockTimeout`` to 503
``{"detail"}`` with ``Retry-After``; every other exception is left to DRF's
own handler.
"""
import math
import re
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Dict, Iterator, Optional

from django.db import DatabaseError, DataError, router, transaction
from django.utils.dateparse import parse_datetime
from rest_framework import serializers
from rest_framework import status as http
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from . import _core, _db
from ._conf import lockable_settings
from ._core import LockStatus, LockTimeout, QueueNotSupported, ResourceLocked, StaleVersion
from .schema import LockSchema

LOCKED_MESSAGE = ResourceLocked.message
STALE_DETAIL = "This record was changed by someone else since you read it: reload it and try again."
ROW_LOCKED_DETAIL = "This record is locked: only the holder of its lock may change it now."
BUSY_DETAIL = "The lock service is busy: nothing was changed, try again in a moment."
RETRY_AFTER = "1"

_datetime_field = serializers.DateTimeField()


def _datetime(value: Optional[datetime]) -> Optional[str]:
    return None if value is None else _datetime_field.to_representation(value)


def granted_body(status: LockStatus) -> Dict[str, Any]:
    """The 200 body of the lock endpoint for a granted or renewed lock."""
    return {
        "uid": status.uid,
        "owner": status.owner,
        "user_id": status.user_id,
        "token": status.token,
        "acquired_at": _datetime(status.acquired_at),
        "expires_at": _datetime(status.expires_at),
        "waiters": status.waiters,
    }


def locked_body(status: LockStatus) -> Dict[str, Any]:
    """The 423 body of the lock endpoint for a lock held by another."""
    return {
        "message": LOCKED_MESSAGE,
        "owner": status.owner,
        "user_id": status.user_id,
        "expires_at": _datetime(status.expires_at),
        "waiters": status.waiters,
        "position": status.position,
    }


class TooManyLocks(APIException):
    """429: the user holds or waits for ``LOCKABLE_MAX_UIDS_PER_USER`` other uids."""

    status_code = http.HTTP_429_TOO_MANY_REQUESTS
    default_detail = "You hold or wait for too many locks: give one up first."
    default_code = "too_many_locks"


class QueueUnavailable(APIException):
    """501: the database's lockable has no waiting line."""

    status_code = http.HTTP_501_NOT_IMPLEMENTED
    default_detail = "Waiting in line is not available on this server."
    default_code = "queue_unavailable"


class SecondsField(serializers.FloatField):
    """A positive, finite number of seconds (not a boolean)."""

    default_error_messages = {
        "invalid": "A valid number of seconds is required.",
        "not_positive": "Must be more than 0 seconds.",
        "too_long": "Must be at most {limit} seconds.",
    }

    def to_internal_value(self, data: Any) -> timedelta:  # type: ignore[override]
        if isinstance(data, bool):
            self.fail("invalid")
        seconds = super().to_internal_value(data)
        if not math.isfinite(seconds):
            self.fail("invalid")
        if seconds <= 0:
            self.fail("not_positive")
        limit = lockable_settings.MAX_TTL
        if seconds > limit.total_seconds():
            self.fail("too_long", limit=f"{limit.total_seconds():g}")
        return timedelta(seconds=seconds)


class LockRequestSerializer(serializers.Serializer):
    """The body of a POST to the lock endpoint: an optional ``ttl`` in seconds."""

    ttl = SecondsField(required=False)


class LockQuerySerializer(serializers.Serializer):
    """The query of a POST to the lock endpoint: ``queue`` (1/0, true/false)."""

    queue = serializers.BooleanField(required=False, default=False)


class LockPermission(BasePermission):
    """Authenticated users, and for POST those ``LOCKABLE_LOCK_PERMISSION`` allows.

    An anonymous request gets DRF's NotAuthenticated (401 or 403, as the
    authentication classes say); a refused uid gets 403.  Releasing is
    never refused to an authenticated user: it touches only their own lock.
    """

    message = "You may not lock this resource."

    def has_permission(self, request: Any, view: Any) -> bool:
        """True for an authenticated user that may lock the view's uid."""
        if not (request.user and request.user.is_authenticated):
            return False
        if request.method != "POST":
            return True
        allowed = lockable_settings.LOCK_PERMISSION
        return True if allowed is None else bool(allowed(request, view.kwargs["uid"]))


NUL_IN_UID = "lock uid cannot contain NUL (0x00) characters"


def busy_response() -> Response:
    """503 for a ``LockTimeout``: nothing changed, try again (``Retry-After``)."""
    return Response({"detail": BUSY_DETAIL}, status=http.HTTP_503_SERVICE_UNAVAILABLE,
                    headers={"Retry-After": RETRY_AFTER})


def _bad_input(exc: DatabaseError) -> Response:
    diag = _db.diagnostics(exc)
    primary = getattr(diag, "message_primary", None) or str(exc)
    detail = getattr(diag, "message_detail", None)
    return Response({"detail": f"{primary}: {detail}" if detail else primary},
                    status=http.HTTP_400_BAD_REQUEST)


class LockView(APIView):
    """POST locks ``uid`` for the request's user; DELETE releases it.

    The owner is always ``owner_for(request.user)``, never taken from the
    request.  See the module's table for statuses and bodies.
    """

    permission_classes = [LockPermission]
    schema = LockSchema("endpoint")

    def post(self, request: Any, uid: str) -> Response:
        """Lock (or renew) uid for the request's user, or join its line with
        ``?queue=1``: 200 granted, 423 held by another, 400 bad input, 501
        ``queue`` without the waiting line."""
        if "\x00" in uid:  # PostgreSQL text cannot hold it; the driver would refuse it
            return Response({"detail": NUL_IN_UID}, status=http.HTTP_400_BAD_REQUEST)
        body = LockRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        query = LockQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        using = lockable_settings.DATABASE
        owner = _core.owner_for(request.user)
        try:
            with transaction.atomic(using=using):
                refusal = _core.too_many_uids(owner, uid, using)
                if refusal is not None:
                    raise TooManyLocks(refusal[0].upper() + refusal[1:] + ".")
                status = _core.acquire(
                    uid,
                    owner,
                    ttl=body.validated_data.get("ttl", lockable_settings.TTL),
                    queue=query.validated_data["queue"],
                    using=using,
                )
        except QueueNotSupported as exc:
            raise QueueUnavailable() from exc
        except DataError as exc:
            return _bad_input(exc)
        except LockTimeout:
            return busy_response()
        if status.granted:
            return Response(granted_body(status), status=http.HTTP_200_OK)
        return Response(locked_body(status), status=http.HTTP_423_LOCKED)

    def delete(self, request: Any, uid: str) -> Response:
        """Release the user's lock on uid or leave its line: 204 always (400 for
        a uid the database refuses)."""
        if "\x00" in uid:
            return Response({"detail": NUL_IN_UID}, status=http.HTTP_400_BAD_REQUEST)
        using = lockable_settings.DATABASE
        try:
            with transaction.atomic(using=using):
                _core.release(uid, _core.owner_for(request.user), using=using)
        except DataError as exc:
            return _bad_input(exc)
        except LockTimeout:
            return busy_response()
        return Response(status=http.HTTP_204_NO_CONTENT)


if TYPE_CHECKING:
    from rest_framework import generics, mixins

    class _ViewBase(mixins.UpdateModelMixin, mixins.DestroyModelMixin, generics.GenericAPIView[Any]):
        pass
else:
    _ViewBase = object


class LockEnforcedMixin(_ViewBase):
    """For generic views and viewsets: every update and delete writes as the
    request's user (``writing_as``), so ``enforce_lock`` lets through the
    holder of the row's lock and refuses everyone else (423 through
    ``exception_handler``).

    A client that sends its fencing token in the ``Lockable-Token`` header
    writes only under exactly that grant; a token that is not an integer is
    400.  Anonymous requests write as nobody.
    """

    lock_token_header = "Lockable-Token"
    schema = LockSchema("enforced")

    def get_lock_token(self) -> Optional[int]:
        """Return the fencing token the request carries, or None.

        Raises ``ValidationError`` (400) if it is not an integer.
        """
        raw = self.request.headers.get(self.lock_token_header)
        if raw is None or raw.strip() == "":
            return None
        try:
            return int(raw)
        except ValueError:
            raise ValidationError({self.lock_token_header: ["A fencing token is an integer."]}) from None

    @contextmanager
    def writing_as_request_user(self, instance: Any) -> Iterator[None]:
        """Run the block as the request's user, for a write of ``instance``."""
        from .models import LockableModel

        user = self.request.user if self.request.user.is_authenticated else None
        using = router.db_for_write(type(instance), instance=instance)
        try:
            with _core.writing_as(user, token=self.get_lock_token(), using=using):
                yield
        except DatabaseError as exc:
            if _db.sqlstate(exc) == "55P03" and isinstance(instance, LockableModel):
                # The transaction is usable again here: look up the holder
                # for the 423 body rather than parse it out of the message.
                exc.lockable_status = instance.lock_status()  # type: ignore[attr-defined]
            raise

    def perform_update(self, serializer: Any) -> None:
        """Save as the request's user; 55P03 (423) if another holds the row's lock."""
        with self.writing_as_request_user(serializer.instance):
            super().perform_update(serializer)

    def perform_destroy(self, instance: Any) -> None:
        """Delete as the request's user; 55P03 (423) if another holds the row's lock."""
        with self.writing_as_request_user(instance):
            super().perform_destroy(instance)


class VersionedModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer for a ``VersionedModel`` that cannot lose an update.

    ``version`` is written by clients on update and is required there, for
    PUT and PATCH alike (400 when missing): the client sends the version it
    read, and a stale one makes ``save()`` raise ``StaleVersion`` (409
    through ``exception_handler``).  On create it is ignored: new rows start
    at version 1.  Include ``"version"`` in ``Meta.fields``.
    """

    version = serializers.IntegerField(required=False, min_value=1)

    def validate(self, attrs: Dict[str, Any]) -> Dict[str, Any]:
        """Raise ``ValidationError`` (400) for an update without ``version``."""
        attrs = super().validate(attrs)
        if self.instance is not None and "version" not in attrs:
            raise ValidationError({"version": [self.fields["version"].error_messages["required"]]})
        return attrs

    def create(self, validated_data: Dict[str, Any]) -> Any:
        """Create the row at version 1, whatever version the client sent."""
        validated_data.pop("version", None)
        return super().create(validated_data)


_STALE_DETAIL_RE = re.compile(r"The row is at version (?P<current>-?\d+); .*", re.DOTALL)
_LOCKED_BY_RE = re.compile(r'row of table ".*" is locked by "(?P<owner>.*)"', re.DOTALL)
_HELD_UNTIL_RE = re.compile(r'Lock ".*" is held until (?P<until>[^;]+)\.', re.DOTALL)
_HELD_BY_RE = re.compile(
    r'Lock ".*" is held by "(?P<owner>.*)" with token -?\d+(?: until (?P<until>[^;]+))?;'
    r" the write carries token -?\d+\.",
    re.DOTALL,
)


def _current_version(exc: BaseException) -> Optional[int]:
    match = _STALE_DETAIL_RE.fullmatch(getattr(_db.diagnostics(exc), "message_detail", None) or "")
    return int(match["current"]) if match else None


def _holder(exc: BaseException) -> Dict[str, Any]:
    """Owner and expiry of the lock behind a 55P03 from enforce_lock.

    Exact when ``LockEnforcedMixin`` looked the lock up; otherwise read from
    the error's message, and None where the message does not say.
    """
    if hasattr(exc, "lockable_status"):
        status = exc.lockable_status
        owner = None if status is None else status.owner
        until = None if status is None else status.expires_at
    else:
        diag = _db.diagnostics(exc)
        primary = getattr(diag, "message_primary", None) or ""
        detail = getattr(diag, "message_detail", None) or ""
        owner, until = None, None
        locked_by, held_until = _LOCKED_BY_RE.fullmatch(primary), _HELD_UNTIL_RE.fullmatch(detail)
        held_by = _HELD_BY_RE.fullmatch(detail)
        if locked_by:
            owner = locked_by["owner"]
            until = parse_datetime(held_until["until"]) if held_until else None
        elif held_by:
            owner = held_by["owner"]
            until = parse_datetime(held_by["until"]) if held_by["until"] else None
    return {"owner": owner, "user_id": _core.parse_user_id(owner), "expires_at": _datetime(until)}


def exception_handler(exc: Exception, context: Dict[str, Any]) -> Optional[Response]:
    """DRF's exception handler, plus 409 and 423 for lockable's errors.

    - ``StaleVersion`` and SQLSTATE 40001 (``version_check``; also a
      serialization failure under REPEATABLE READ): 409
      ``{"detail", "current_version"}`` (None when unknown).
    - SQLSTATE 55P03 (``enforce_lock``): 423 ``{"detail", "owner",
      "user_id", "expires_at"}`` of the lock's holder (None when unknown).
    - ``ResourceLocked``: 423 with the lock endpoint's body.
    - ``LockTimeout`` (a lockable call that waited ``LOCKABLE_LOCK_TIMEOUT``
      for a lock row an open transaction holds): 503 ``{"detail"}`` with
      ``Retry-After``.

    For 409, 55P03's 423 and 503 it marks the request's transaction for
    rollback, as DRF does for its errors (the transaction cannot commit
    after a database error anyway).  ``ResourceLocked`` is not a database
    error and is not rolled back: a refused acquire wrote nothing, except,
    with ``queue``, the caller's place in line, which must commit.  Returns
    what DRF's own handler returns for everything else.
    """
    if isinstance(exc, ResourceLocked):
        return Response(locked_body(exc.status), status=http.HTTP_423_LOCKED)
    if isinstance(exc, LockTimeout):
        set_rollback()
        return busy_response()
    if isinstance(exc, StaleVersion):
        set_rollback()
        return Response({"detail": STALE_DETAIL, "current_version": exc.current_version},
                        status=http.HTTP_409_CONFLICT)
    code = _db.sqlstate(exc)
    if code == "40001":
        set_rollback()
        return Response({"detail": STALE_DETAIL, "current_version": _current_version(exc)},
                        status=http.HTTP_409_CONFLICT)
    if code == "55P03":
        set_rollback()
        return Response({"detail": ROW_LOCKED_DETAIL, **_holder(exc)}, status=http.HTTP_423_LOCKED)
    return drf_exception_handler(exc, context)
