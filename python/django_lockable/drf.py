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

Moving locks (lockable 1.4), under ``lock/<path:uid>/``:

================  ==================  ==========================================
request           status              body / effect
================  ==================  ==========================================
POST take-over/   200                 the grant, with ``previous_owner``,
                                      ``previous_user_id``,
                                      ``previous_token``: ``TakeOverView``
                  403, 503            refused (``LOCKABLE_TAKE_OVER_PERMISSION``);
                                      the site's role lacks ``lockable_admin``
POST hand-over/   200, 409            ``{"to": <user id>}``: the new grant;
                                      not the holder: ``HandOverView``
POST request/     204, 409            ask the holder (from a place in line):
                                      ``RequestView``
POST decline/     204, 409            ``{"to": <user id>}``: say no to that
                                      user's request: ``DeclineView``
GET history/      200, 403, 503       a page of uid's history: ``HistoryView``
any of them       400, 501            bad input; before lockable 1.4
================  ==================  ==========================================

Every view describes its responses for OpenAPI (DRF's generator and
drf-spectacular; see ``django_lockable.schema``).

``exception_handler`` (``REST_FRAMEWORK["EXCEPTION_HANDLER"] =
"django_lockable.drf.exception_handler"``) maps SQLSTATE 40001 (and
``StaleVersion``) to 409 ``{"detail", "current_version"}``, SQLSTATE 55P03
to 423 ``{"detail", "reason", "owner", "user_id", "expires_at",
"taken_over"}``, ``ResourceLocked`` to the endpoint's 423 body, and
``LockTimeout`` to 503 ``{"detail"}`` with ``Retry-After``; every other
exception is left to DRF's own handler.
"""
import logging
import math
import re
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Dict, Iterator, Optional

from django.contrib.auth import get_user_model
from django.db import DatabaseError, DataError, router, transaction
from django.db.models import Q
from django.utils.dateparse import parse_datetime
from rest_framework import generics, serializers
from rest_framework import status as http
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.exceptions import PermissionDenied as DrfPermissionDenied
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView, set_rollback
from rest_framework.views import exception_handler as drf_exception_handler

from . import _core, _db, _transfer, policy
from ._conf import lockable_settings
from ._core import LockStatus, LockTimeout, QueueNotSupported, ResourceLocked, StaleVersion
from ._transfer import MAX_MESSAGE_BYTES, LockAdminRequired, TakeOverStatus, TransferNotSupported
from .schema import LockSchema

logger = logging.getLogger(__name__)

LOCKED_MESSAGE = ResourceLocked.message
STALE_DETAIL = "This record was changed by someone else since you read it: reload it and try again."
ROW_LOCKED_DETAIL = "This record is locked: only the holder of its lock may change it now."
BUSY_DETAIL = "The lock service is busy: nothing was changed, try again in a moment."
RETRY_AFTER = "1"
TAKEN_OVER_DETAIL = (
    "Your lock on this record was taken over by {name}: your changes were not saved. "
    "Keep a copy of them, then reload."
)
NOT_HOLDER_DETAIL = "You do not hold this lock: only its holder may do that."
NO_ONE_TO_ASK_DETAIL = "You have no place in this lock's line, or nobody holds it: there is nobody to ask."
HISTORY_PERMISSION = "django_lockable.view_lockhistory"

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


def taken_over_body(status: TakeOverStatus) -> Dict[str, Any]:
    """The 200 body of the take-over endpoint: the grant, and whom it displaced."""
    return {
        **granted_body(status),
        "previous_owner": status.previous_owner,
        "previous_user_id": status.previous_user_id,
        "previous_token": status.previous_token,
    }


def take_over_description(take_over: Optional[policy.TakeOver]) -> Optional[Dict[str, Any]]:
    """The ``taken_over`` member of a 423 from ``enforce_lock``: who took the
    writer's lock over, when and why; None when no take over ended it."""
    if take_over is None:
        return None
    return {
        "owner": take_over.owner,
        "user_id": take_over.user_id,
        "name": take_over.name,
        "at": _datetime(take_over.at),
        "reason": take_over.reason,
    }


class LockServiceBusy(APIException):
    """503 with ``Retry-After``: a lockable call timed out (``LockTimeout``)."""

    status_code = http.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = BUSY_DETAIL
    default_code = "lock_service_busy"
    wait = 1  # DRF's handler sends it as Retry-After


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


class TransferUnavailable(APIException):
    """501: the database's lockable cannot move locks on purpose (before 1.4)."""

    status_code = http.HTTP_501_NOT_IMPLEMENTED
    default_detail = "Taking over, handing over and asking for locks are not available on this server."
    default_code = "transfer_unavailable"


class LockAdminUnavailable(APIException):
    """503: the site's database role lacks ``lockable_admin``, which taking a
    lock over and reading the history need.  The server's log says which
    GRANT is missing; the client is told the server cannot do it now."""

    status_code = http.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "This server cannot do that now: its database role may not take locks over or read their history."
    default_code = "lock_admin_required"


class DatabaseRefusedInput(APIException):
    """400: the database refused an argument (SQLSTATE 22023 and the like)."""

    status_code = http.HTTP_400_BAD_REQUEST
    default_code = "invalid"


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


def _bad_input_detail(exc: DatabaseError) -> str:
    diag = _db.diagnostics(exc)
    primary = getattr(diag, "message_primary", None) or str(exc)
    detail = getattr(diag, "message_detail", None)
    return f"{primary}: {detail}" if detail else primary


def _bad_input(exc: DatabaseError) -> Response:
    return Response({"detail": _bad_input_detail(exc)}, status=http.HTTP_400_BAD_REQUEST)


def _check_uid(uid: str) -> None:
    if "\x00" in uid:  # PostgreSQL text cannot hold it; the driver would refuse it
        raise DatabaseRefusedInput(NUL_IN_UID)


@contextmanager
def _calling_lockable() -> Iterator[None]:
    """Turn the errors of the transfer calls into their responses: 501
    before lockable 1.4, 503 without ``lockable_admin`` (logged), 400 for
    input the database refuses, 503 with ``Retry-After`` for a call that
    timed out (``LockTimeout``)."""
    try:
        yield
    except LockTimeout as exc:
        raise LockServiceBusy() from exc
    except TransferNotSupported as exc:
        raise TransferUnavailable() from exc
    except LockAdminRequired as exc:
        logger.error("%s", exc)
        raise LockAdminUnavailable() from exc
    except DataError as exc:
        raise DatabaseRefusedInput(_bad_input_detail(exc)) from exc


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


class UserField(serializers.PrimaryKeyRelatedField):
    """A user, by primary key, of the project's user model."""

    def get_queryset(self) -> Any:
        return get_user_model()._default_manager.all()

    def to_internal_value(self, data: Any) -> Any:
        user = super().to_internal_value(data)
        if not getattr(user, "is_active", True):
            raise ValidationError("This user is inactive.")
        return user


def _message_bytes(value: Optional[str]) -> Optional[str]:
    if value is not None and len(value.encode()) > MAX_MESSAGE_BYTES:
        raise ValidationError(f"Ensure this field has no more than {MAX_MESSAGE_BYTES} bytes (UTF-8).")
    return value or None


class TakeOverRequestSerializer(serializers.Serializer):
    """The body of a take over: ``reason``, ``ttl`` in seconds and ``requeue``."""

    reason = serializers.CharField(required=False, allow_null=True, allow_blank=True, max_length=500)
    ttl = SecondsField(required=False)
    requeue = serializers.BooleanField(required=False, default=False)


class HandOverRequestSerializer(serializers.Serializer):
    """The body of a hand over: ``to``, a user id, and ``ttl`` in seconds."""

    to = UserField()
    ttl = SecondsField(required=False)


class LockRequestMessageSerializer(serializers.Serializer):
    """The body of a request for a lock: an optional ``message``."""

    message = serializers.CharField(required=False, allow_null=True, allow_blank=True)

    def validate_message(self, value: Optional[str]) -> Optional[str]:
        """At most 1000 bytes; blank is none."""
        return _message_bytes(value)


class DeclineRequestSerializer(serializers.Serializer):
    """The body of a decline: ``to``, the id of the user who asked."""

    to = UserField()


class TakeOverView(APIView):
    """POST takes uid over for the request's user, if
    ``LOCKABLE_TAKE_OVER_PERMISSION`` allows it (``policy.take_over_for``).

    200 with the grant and whom it displaced; 403 refused (also by
    ``LOCKABLE_LOCK_PERMISSION``); 400 bad input; 501 before lockable 1.4;
    503 when the site's database role lacks ``lockable_admin``.  The reason
    recorded and announced is the taker's display name and the ``reason``
    sent (``policy.take_over_reason``); the owner is the request's user.
    """

    permission_classes = [LockPermission]
    schema = LockSchema("take_over")

    def post(self, request: Any, uid: str) -> Response:
        """Take uid over: 200, 400, 403, 501 or 503."""
        _check_uid(uid)
        body = TakeOverRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        reason = body.validated_data.get("reason") or None
        try:
            policy.take_over_reason(request.user, reason)
        except ValueError as exc:
            raise ValidationError({"reason": [str(exc)]}) from exc
        with _calling_lockable():
            try:
                status = policy.take_over_for(request, uid, reason=reason, ttl=body.validated_data.get("ttl"),
                                              requeue=body.validated_data["requeue"],
                                              using=lockable_settings.DATABASE)
            except policy.TakeOverDenied as exc:
                raise DrfPermissionDenied(exc.message) from exc
        return Response(taken_over_body(status), status=http.HTTP_200_OK)


class HandOverView(APIView):
    """POST ``{"to": <user id>}``: the request's user, holding uid live,
    gives it to that user (``django_lockable.hand_over``).

    200 with the new grant; 409 when the request's user does not hold uid
    live (nothing changes); 400 bad input (no such user, an inactive one,
    oneself); 501 before lockable 1.4.
    """

    permission_classes = [IsAuthenticated]
    schema = LockSchema("hand_over")

    def post(self, request: Any, uid: str) -> Response:
        """Hand uid over: 200, 400 or 409 (501 before lockable 1.4)."""
        _check_uid(uid)
        body = HandOverRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        holder = _core.owner_for(request.user)
        to_owner = _core.owner_for(body.validated_data["to"])
        if to_owner == holder:
            raise ValidationError({"to": ["You cannot hand a lock over to yourself."]})
        using = lockable_settings.DATABASE
        with _calling_lockable(), transaction.atomic(using=using):
            handed = _transfer.hand_over(uid, holder, to_owner, ttl=body.validated_data.get("ttl"), using=using)
            status = _core.peek(uid, using=using) if handed else None
        if status is None:
            return Response({"detail": NOT_HOLDER_DETAIL}, status=http.HTTP_409_CONFLICT)
        return Response(granted_body(status), status=http.HTTP_200_OK)


class RequestView(APIView):
    """POST (with an optional ``message``): the request's user, waiting in
    uid's line, asks the holder for it (``django_lockable.request``).

    204 asked; 409 when the user has no live place in the line or nobody
    holds the lock; 400 a message over 1000 bytes; 501 before lockable 1.4.
    """

    permission_classes = [IsAuthenticated]
    schema = LockSchema("request")

    def post(self, request: Any, uid: str) -> Response:
        """Ask for uid: 204, 400 or 409 (501 before lockable 1.4)."""
        _check_uid(uid)
        body = LockRequestMessageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        using = lockable_settings.DATABASE
        with _calling_lockable(), transaction.atomic(using=using):
            asked = _transfer.request(uid, _core.owner_for(request.user), body.validated_data.get("message"),
                                      using=using)
        if not asked:
            return Response({"detail": NO_ONE_TO_ASK_DETAIL}, status=http.HTTP_409_CONFLICT)
        return Response(status=http.HTTP_204_NO_CONTENT)


class DeclineView(APIView):
    """POST ``{"to": <user id>}``: the request's user, holding uid live,
    says no to that user's request (``django_lockable.decline``).

    204 declined; 409 when the request's user does not hold uid live; 400
    bad input; 501 before lockable 1.4.
    """

    permission_classes = [IsAuthenticated]
    schema = LockSchema("decline")

    def post(self, request: Any, uid: str) -> Response:
        """Decline a request for uid: 204, 400 or 409 (501 before lockable 1.4)."""
        _check_uid(uid)
        body = DeclineRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        using = lockable_settings.DATABASE
        with _calling_lockable(), transaction.atomic(using=using):
            declined = _transfer.decline(uid, _core.owner_for(request.user),
                                         _core.owner_for(body.validated_data["to"]), using=using)
        if not declined:
            return Response({"detail": NOT_HOLDER_DETAIL}, status=http.HTTP_409_CONFLICT)
        return Response(status=http.HTTP_204_NO_CONTENT)


class HistoryPermission(BasePermission):
    """What the admin's history page needs: an active staff user with the
    permission ``django_lockable.view_lockhistory`` (superusers have it)."""

    message = "You may not read the history of locks."

    def has_permission(self, request: Any, view: Any) -> bool:
        """True for an active staff user with ``view_lockhistory``."""
        user = request.user
        return bool(user and user.is_authenticated and user.is_active and user.is_staff
                    and user.has_perm(HISTORY_PERMISSION))


class HistoryPagination(PageNumberPagination):
    """Pages of 50 events (``?page=``), or ``?page_size=`` up to 500."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class OwnerUserIdField(serializers.JSONField):
    """The user pk of an owner of the form ``user:<pk>``, else null."""

    def to_representation(self, value: Any) -> Any:
        return _core.parse_user_id(value)


class HistoryEventSerializer(serializers.Serializer):
    """One event of the history, as ``GET /api/lock/<uid>/history/`` lists it."""

    at = serializers.DateTimeField(read_only=True)
    event = serializers.CharField(read_only=True, help_text="grant, release, take_over, hand_over, ...")
    uid = serializers.CharField(read_only=True)
    owner = serializers.CharField(read_only=True, allow_null=True,
                                  help_text="the owner the event is about: the new holder, the one who asked")
    user_id = OwnerUserIdField(source="owner", read_only=True)
    token = serializers.IntegerField(read_only=True, allow_null=True)
    previous_owner = serializers.CharField(read_only=True, allow_null=True,
                                           help_text="the holder before the event (or the holder asked)")
    previous_user_id = OwnerUserIdField(source="previous_owner", read_only=True)
    reason = serializers.CharField(
        read_only=True, allow_null=True,
        help_text='a take over\'s reason (through the package: {"by", "reason"} as JSON), a request\'s message')
    role = serializers.CharField(read_only=True, help_text="the database role that made the call")


class HistoryView(generics.ListAPIView):
    """GET: uid's history, newest first, in pages (``HistoryPagination``);
    ``?owner=`` keeps the events whose owner or previous owner it is.

    200 a page; 403 for anyone but the staff the admin lets read it
    (``HistoryPermission``); 404 a page past the end; 501 before lockable
    1.4; 503 when the site's database role lacks ``lockable_admin``.
    """

    permission_classes = [HistoryPermission]
    serializer_class = HistoryEventSerializer
    pagination_class = HistoryPagination
    schema = LockSchema("history")

    def get_queryset(self) -> Any:
        from .models import LockHistory

        found = LockHistory.rows.using(lockable_settings.DATABASE).all()
        uid = getattr(self, "kwargs", {}).get("uid")
        if uid is not None:
            found = found.filter(uid=uid)
        request = getattr(self, "request", None)
        owner = None if request is None else request.query_params.get("owner")
        if owner:
            found = found.filter(Q(owner=owner) | Q(previous_owner=owner))
        return found

    def list(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        """A page of the history: 200, 403, 404, 501 or 503."""
        _check_uid(kwargs["uid"])
        using = lockable_settings.DATABASE
        if not _db.features(using).transfer:
            raise TransferUnavailable()
        if not _transfer.can_read_history(using):
            logger.error("the database role of %r may not read lockable.lock_history: "
                         "it needs lockable_admin (GRANT lockable_admin TO <role>)", using)
            raise LockAdminUnavailable()
        return super().list(request, *args, **kwargs)


if TYPE_CHECKING:
    from rest_framework import mixins

    class _ViewBase(mixins.UpdateModelMixin, mixins.DestroyModelMixin, generics.GenericAPIView[Any]):
        pass
else:
    _ViewBase = object


def _displaced(uid: str, owner: str, using: str) -> Optional[policy.TakeOver]:
    """The take over that ended owner's last grant of uid, or None: also when
    the database cannot tell (before lockable 1.4, or a role that may not
    read the history, when the refusal says "locked")."""
    try:
        if not _db.features(using).transfer or not _transfer.can_read_history(using):
            return None
        with transaction.atomic(using=using):
            event = _transfer.displaced_by(uid, owner, using=using)
    except DatabaseError:
        logger.exception("could not read the history of %r for a refused write", uid)
        return None
    return None if event is None else policy.describe_take_over(event)


def _writer_of(uid: str, user: Any, token: Optional[int], using: str) -> Optional[str]:
    """The owner a write of uid by user is made as, when it is not
    ``owner_for(user)``: the live holder, if it is one of the user's tabs
    (``user:7#<tab>``, live editing's owners) and, with a token, holds
    exactly that grant.  None otherwise: the write is made as the user."""
    holder = _core.peek(uid, using=using)
    if holder is None or holder.owner is None or holder.owner == _core.owner_for(user):
        return None
    if _core.base_owner(holder.owner) != _core.owner_for(user):
        return None
    if token is not None and holder.token != token:
        return None
    return holder.owner


class LockEnforcedMixin(_ViewBase):
    """For generic views and viewsets: every update and delete writes as the
    request's user (``writing_as``), so ``enforce_lock`` lets through the
    holder of the row's lock and refuses everyone else (423 through
    ``exception_handler``).

    A client that sends its fencing token in the ``Lockable-Token`` header
    writes only under exactly that grant; a token that is not an integer is
    400.  Anonymous requests write as nobody.  A row whose lock one of the
    user's browser tabs holds (live editing's ``user:7#<tab>`` owners) is
    written as that tab (with a token: only under exactly that grant).

    When a take over ended the user's grant, the refusal of the next write
    says so: ``"reason": "taken_over"``, with who took over, when and why
    (``taken_over``), so that the client keeps its draft.  That needs the
    history (lockable 1.4, and ``lockable_admin`` for the site's role to
    read it); without it the refusal says ``"reason": "locked"``.
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
        token = self.get_lock_token()
        owner = None
        if user is not None and isinstance(instance, LockableModel):
            owner = _writer_of(instance.lock_uid, user, token, using)
        try:
            with _core.writing_as(user, token=token, using=using, owner=owner):
                yield
        except DatabaseError as exc:
            if _db.sqlstate(exc) == "55P03" and isinstance(instance, LockableModel):
                # The transaction is usable again here: look up the holder
                # for the 423 body rather than parse it out of the message,
                # and whether a take over ended this user's grant.
                exc.lockable_status = instance.lock_status()  # type: ignore[attr-defined]
                if user is not None:
                    exc.lockable_take_over = _displaced(  # type: ignore[attr-defined]
                        instance.lock_uid, _core.owner_for(user), using)
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


def _row_locked_body(exc: BaseException) -> Dict[str, Any]:
    """The 423 body of a 55P03: why, and the holder; who took over, if a
    take over ended the writer's grant (known inside ``LockEnforcedMixin``)."""
    take_over = getattr(exc, "lockable_take_over", None)
    if take_over is None:
        return {"detail": ROW_LOCKED_DETAIL, "reason": "locked", **_holder(exc), "taken_over": None}
    name = take_over.name or take_over.owner or "someone else"
    return {"detail": TAKEN_OVER_DETAIL.format(name=name), "reason": "taken_over", **_holder(exc),
            "taken_over": take_over_description(take_over)}


def exception_handler(exc: Exception, context: Dict[str, Any]) -> Optional[Response]:
    """DRF's exception handler, plus 409 and 423 for lockable's errors.

    - ``StaleVersion`` and SQLSTATE 40001 (``version_check``; also a
      serialization failure under REPEATABLE READ): 409
      ``{"detail", "current_version"}`` (None when unknown).
    - SQLSTATE 55P03 (``enforce_lock``): 423 ``{"detail", "reason",
      "owner", "user_id", "expires_at", "taken_over"}``: ``reason`` is
      ``"taken_over"`` when a take over ended the writer's grant (then
      ``taken_over`` says ``{"owner", "user_id", "name", "at", "reason"}`` of
      it), else ``"locked"`` (and ``taken_over`` is None); the others
      describe the lock's holder (None when unknown).
    - ``ResourceLocked``: 423 with the lock endpoint's body.
    - ``LockTimeout`` (a lockable call that waited ``LOCKABLE_LOCK_TIMEOUT``
      for a lock row an open transaction holds): 503 ``{"detail"}`` with
      ``Retry-After``.
    - ``policy.TakeOverDenied``, ``LockAdminRequired`` (logged) and
      ``TransferNotSupported``, from a view of your own that moves locks:
      403, 503 and 501 ``{"detail"}``, as the package's views answer.

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
        return Response(_row_locked_body(exc), status=http.HTTP_423_LOCKED)
    if isinstance(exc, policy.TakeOverDenied):
        return Response({"detail": exc.message}, status=http.HTTP_403_FORBIDDEN)
    if isinstance(exc, LockAdminRequired):
        logger.error("%s", exc)
        set_rollback()
        return Response({"detail": LockAdminUnavailable.default_detail},
                        status=http.HTTP_503_SERVICE_UNAVAILABLE)
    if isinstance(exc, TransferNotSupported):
        return Response({"detail": TransferUnavailable.default_detail}, status=http.HTTP_501_NOT_IMPLEMENTED)
    return drf_exception_handler(exc, context)
