"""The low-level API of moving locks on purpose (lockable 1.4): take over,
hand over, ask and decline, and the history of every lock.

Terms, as in the extension's README (``src/transfer.c``, ``src/history.c``):

- *take over*: an administrator's move.  The lock goes to ``owner``
  whatever its state (held live, expired, free), with a new token; the
  previous grant ends in the same transaction.  The database role needs
  ``lockable_admin``.
- *hand over*: the live holder gives the lock to another owner, wherever
  that owner is in the line, or outside it.  New token.
- *request* and *decline*: a waiter asks the holder for the lock, and the
  holder says no; neither changes a lock, each sends a notification.
- *history*: ``lockable.lock_history``, one row per change of a lock's
  holder or line, written in the transaction of the change.  Reading it
  needs ``lockable_admin``.

As in ``django_lockable._core``, these functions read no settings, and each
has an async twin run through ``sync_to_async``: ``atake_over``,
``ahand_over``, ``arequest``, ``adecline``, ``ahistory``,
``adisplaced_by``.  On a database whose lockable is older than 1.4 they
raise ``TransferNotSupported`` and change nothing.
"""
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, List, Optional, Sequence

from asgiref.sync import sync_to_async
from django.db import NotSupportedError, ProgrammingError, connections

from . import _core, _db
from ._conf import Seconds, as_timedelta, lockable_settings
from ._core import LockStatus, parse_user_id
from ._db import Using

_TAKE_OVER_SQL = (
    "SELECT * FROM lockable.lock_take_over(uid => %s, owner => %s, ttl => %s, reason => %s, requeue => %s)"
)
_HAND_OVER_SQL = "SELECT lockable.lock_hand_over(uid => %s, holder => %s, to_owner => %s, ttl => %s)"
_REQUEST_SQL = "SELECT lockable.lock_request(uid => %s, owner => %s, message => %s)"
_DECLINE_SQL = "SELECT lockable.lock_decline(uid => %s, holder => %s, owner => %s)"
_CAN_TAKE_OVER_SQL = (
    "SELECT COALESCE(pg_catalog.has_function_privilege(pg_catalog.to_regprocedure("
    "'lockable.lock_take_over(text, text, interval, text, boolean)'), 'EXECUTE'), false)"
)
_CAN_READ_HISTORY_SQL = (
    "SELECT COALESCE(pg_catalog.has_table_privilege(pg_catalog.to_regclass("
    "'lockable.lock_history'), 'SELECT'), false)"
)

# The history, newest first, in an order that is total up to rows that are
# alike in every column: pages of it neither repeat nor skip a row.
_HISTORY_COLUMNS = "h.at, h.event, h.uid, h.owner, h.token, h.previous_owner, h.reason, h.role"
_HISTORY_ORDER = (
    " ORDER BY h.at DESC, h.uid, h.event, h.owner, h.token, h.previous_owner, h.reason, h.role"
)
_HISTORY_BY_UID = " AND h.uid = %s"
_HISTORY_BY_OWNER = " AND (h.owner = %s OR h.previous_owner = %s)"

# The events that give an owner a grant of a uid, or end one.
GRANT_EVENTS = ("grant", "release", "expiry_hand_off", "sweep", "break", "take_over", "hand_over")
_DISPLACED_SQL = (
    f"SELECT {_HISTORY_COLUMNS} FROM lockable.lock_history AS h"
    " WHERE h.uid = %s AND (h.owner = %s OR h.previous_owner = %s"
    "                       OR pg_catalog.starts_with(h.owner, %s)"
    "                       OR pg_catalog.starts_with(h.previous_owner, %s))"
    "   AND h.event = ANY (%s)"
    " ORDER BY h.at DESC LIMIT 1"
)

EVENTS = (
    "grant", "release", "expiry_hand_off", "sweep", "break", "take_over", "hand_over",
    "place_taken", "place_left", "place_lapsed", "request", "decline",
)
"""The events of ``lockable.history``, as its ``event`` column names them."""

MAX_MESSAGE_BYTES = 1000
"""The longest take-over reason or request message the database takes, in bytes."""


class TransferNotSupported(NotSupportedError):
    """Take over, hand over, request, decline or the history was asked of a
    database whose lockable is older than 1.4.

    Install lockable 1.4 and update the extension (``ALTER EXTENSION
    lockable UPDATE``).  Judged by ``lockable.lock_take_over`` existing, not
    by the version number.
    """


class LockAdminRequired(ProgrammingError):
    """The database refused a take over, or a read of the history, for want
    of a privilege (SQLSTATE 42501): the role lacks ``lockable_admin``.

    A ``django.db.ProgrammingError``, as the database's own error is.  A DBA
    grants it with ``GRANT lockable_admin TO <role>``; the package's REST
    views answer 503 and the admin says so.
    """


@dataclass(frozen=True)
class TakeOverStatus(LockStatus):
    """The result of a take over (``lockable.take_over_status``): the grant
    (``granted`` is always true), and the live holder it displaced:
    ``previous_owner`` and ``previous_token``, None when nobody held the
    lock live.  ``previous_user_id`` is parsed from ``previous_owner`` as
    ``user_id`` is from ``owner``."""

    previous_owner: Optional[str] = None
    previous_token: Optional[int] = None
    previous_user_id: Any = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "previous_user_id", parse_user_id(self.previous_owner))


@dataclass(frozen=True)
class HistoryEvent:
    """One row of ``lockable.lock_history``.

    ``event`` is one of ``EVENTS``; ``owner`` the owner the event is about
    (the new holder, the one who asked, the one who left); ``token`` the
    grant's, when there is one; ``previous_owner`` the holder before (the
    holder asked, for a request or decline); ``reason`` a take over's
    reason, a request's message or ``"hand-off"``; ``role`` the database
    role that made the call.  ``user_id`` and ``previous_user_id`` are parsed
    from the owners (see ``parse_user_id``).
    """

    at: datetime
    event: str
    uid: str
    owner: Optional[str]
    token: Optional[int]
    previous_owner: Optional[str]
    reason: Optional[str]
    role: str
    user_id: Any = field(init=False)
    previous_user_id: Any = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_id", parse_user_id(self.owner))
        object.__setattr__(self, "previous_user_id", parse_user_id(self.previous_owner))


def _require_transfer(using: Using) -> None:
    if not _db.features(using).transfer:
        raise TransferNotSupported(
            f"the lockable extension in {_db.describe(using)} cannot move locks on purpose "
            "(take over, hand over, request, decline and the history need lockable 1.4: "
            "ALTER EXTENSION lockable UPDATE)"
        )


def _role(using: Using) -> str:
    if isinstance(using, str):
        return connections[using].settings_dict.get("USER") or "<role>"
    return getattr(getattr(using, "info", None), "user", None) or "<role>"


def _admin_required(exc: BaseException, what: str, using: Using) -> Optional[LockAdminRequired]:
    """The ``LockAdminRequired`` for a 42501 of ``exc``, or None for any other error."""
    if _db.sqlstate(exc) != "42501":
        return None
    diag = _db.diagnostics(exc)
    said = getattr(diag, "message_primary", None) or str(exc).strip()
    return LockAdminRequired(
        f"the database role may not {what}: it needs lockable_admin "
        f"(GRANT lockable_admin TO {_role(using)}); the database said: {said}"
    )


def _message(value: Optional[str], name: str) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, not {value!r}")
    return value


def take_over(
    uid: str,
    owner: str,
    ttl: Seconds = timedelta(minutes=1),
    reason: Optional[str] = None,
    requeue: bool = False,
    using: Using = "default",
) -> TakeOverStatus:
    """Grant uid to owner for ``ttl`` whatever the lock's state, ending the
    previous grant, with a new token above every earlier one.

    The line keeps its order; owner's own place, if any, is removed; with
    ``requeue`` the displaced holder gets a place first in line.  ``reason``
    (at most 1000 bytes) goes into the ``taken_over`` notification and the
    history.  Returns a ``TakeOverStatus`` naming the displaced holder.

    Raises ``TransferNotSupported`` before lockable 1.4,
    ``LockAdminRequired`` when the database role lacks ``lockable_admin``
    (42501), ``TypeError`` for a ttl or reason of another type, and
    ``django.db.DataError`` (the driver's own on a connection of your own)
    with SQLSTATE 22023 for an empty or over-long uid or owner, a ttl that is
    not positive or exceeds ``lockable.max_ttl``, or a reason over 1000
    bytes, 22004 for a None uid or owner.
    """
    ttl = as_timedelta(ttl, "ttl")
    reason = _message(reason, "reason")
    _require_transfer(using)
    try:
        row = _db.call_one(using, _TAKE_OVER_SQL, [uid, owner, ttl, reason, bool(requeue)],
                           lockable_settings.LOCK_TIMEOUT)
    except Exception as exc:
        refused = _admin_required(exc, "take locks over", using)
        if refused is None:
            raise
        raise refused from exc
    return TakeOverStatus.from_row(row)


def hand_over(uid: str, holder: str, to_owner: str, ttl: Optional[Seconds] = None,
              using: Using = "default") -> bool:
    """The live holder gives uid to ``to_owner``, with a new token.

    ``to_owner`` may be anywhere in the line or outside it; its place, if
    any, is removed, and the rest of the line keeps its order.  ``ttl`` None
    is the lease ``to_owner``'s place last asked for, else the length of the
    holder's lease.  Returns True if it was handed over, False (and nothing
    changes) when ``holder`` does not hold uid live.

    Raises ``TransferNotSupported`` before lockable 1.4, ``TypeError`` for a
    ttl of another type, and ``DataError`` 22023 for ``to_owner`` equal to
    ``holder``, a bad ttl, or an empty or over-long name.
    """
    lease = None if ttl is None else as_timedelta(ttl, "ttl")
    _require_transfer(using)
    return _db.call_value(using, _HAND_OVER_SQL, [uid, holder, to_owner, lease], lockable_settings.LOCK_TIMEOUT)


def request(uid: str, owner: str, message: Optional[str] = None, using: Using = "default") -> bool:
    """A waiter asks the holder of uid for the lock; changes no lock.

    Returns True, with a ``requested`` notification naming both and the
    ``message`` (at most 1000 bytes), if owner has a live place in uid's
    line and someone holds the lock live; False otherwise.

    Raises ``TransferNotSupported`` before lockable 1.4, ``TypeError`` for a
    message that is not a string, and ``DataError`` 22023 for a message
    over 1000 bytes or a bad name.
    """
    message = _message(message, "message")
    _require_transfer(using)
    return _db.call_value(using, _REQUEST_SQL, [uid, owner, message], lockable_settings.LOCK_TIMEOUT)


def decline(uid: str, holder: str, owner: str, using: Using = "default") -> bool:
    """The holder of uid says no to owner's request; changes no lock.

    Returns True, with a ``declined`` notification, if ``holder`` holds uid
    live; False otherwise.  Raises ``TransferNotSupported`` before lockable
    1.4 and ``DataError`` for a bad name.
    """
    _require_transfer(using)
    return _db.call_value(using, _DECLINE_SQL, [uid, holder, owner], lockable_settings.LOCK_TIMEOUT)


def _count(value: Any, name: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {value!r}")
    if value < least:
        raise ValueError(f"{name} must be {least} or more, not {value!r}")
    return value


def _read_history(sql: str, params: Sequence[Any], using: Using) -> List[HistoryEvent]:
    _require_transfer(using)
    try:
        rows = _db.call(using, sql, params, lockable_settings.LOCK_TIMEOUT, key="at")
    except Exception as exc:
        refused = _admin_required(exc, "read the lock history", using)
        if refused is None:
            raise
        raise refused from exc
    return [HistoryEvent(**row) for row in rows]


def history(uid: Optional[str] = None, owner: Optional[str] = None, limit: int = 100, offset: int = 0,
            using: Using = "default") -> List[HistoryEvent]:
    """Return the history of locks, newest first: at most ``limit`` events,
    after skipping ``offset``.

    ``uid`` keeps that lock's events only; ``owner`` those whose ``owner``
    or ``previous_owner`` it is.  The order is by time, then by every other
    column, so consecutive pages neither repeat nor skip an event.

    Raises ``TransferNotSupported`` before lockable 1.4,
    ``LockAdminRequired`` when the database role lacks ``lockable_admin``
    (42501), ``TypeError`` for a limit or offset that is not an int and
    ``ValueError`` for a limit below 1 or a negative offset.
    """
    limit = _count(limit, "limit", 1)
    offset = _count(offset, "offset", 0)
    sql = f"SELECT {_HISTORY_COLUMNS} FROM lockable.lock_history AS h WHERE true"
    params: List[Any] = []
    if uid is not None:
        sql += _HISTORY_BY_UID
        params.append(uid)
    if owner is not None:
        sql += _HISTORY_BY_OWNER
        params += [owner, owner]
    return _read_history(sql + _HISTORY_ORDER + " LIMIT %s OFFSET %s", [*params, limit, offset], using)


def displaced_by(uid: str, owner: str, using: Using = "default", *,
                 tabs: bool = False) -> Optional[HistoryEvent]:
    """Return the take over that ended owner's last grant of uid, or None.

    It is the ``take_over`` event of the history whose ``previous_owner`` is
    owner, when it is the last event that gave owner uid or ended owner's
    grant of it; None when owner's last grant ended another way (a release,
    a break, an expiry handed on), still lives, or never was.  The event's
    ``owner`` is the one who took over.  With ``tabs``, the grants of
    owner's tabs (``<owner>#<tab>``, live editing's owners) count as
    owner's.

    Raises what ``history`` raises.
    """
    prefix = owner + _core.TAB_SEPARATOR if tabs else owner
    # starts_with(..., NULL) is NULL: without tabs, only the equalities count
    params = [uid, owner, owner, prefix if tabs else None, prefix if tabs else None,
              list(GRANT_EVENTS)]
    found = _read_history(_DISPLACED_SQL, params, using)
    if not found or found[0].event != "take_over":
        return None
    previous = found[0].previous_owner or ""
    if previous == owner or (tabs and previous.startswith(prefix)):
        return found[0]
    return None


def can_take_over(using: Using = "default") -> bool:
    """Return True if the database role may call ``lockable.lock_take_over``
    (False before lockable 1.4)."""
    with _db.cursor(using) as cur:
        cur.execute(_CAN_TAKE_OVER_SQL)
        return cur.fetchone()[0]


def can_read_history(using: Using = "default") -> bool:
    """Return True if the database role may read ``lockable.lock_history``
    (False before lockable 1.4)."""
    with _db.cursor(using) as cur:
        cur.execute(_CAN_READ_HISTORY_SQL)
        return cur.fetchone()[0]


async def atake_over(
    uid: str,
    owner: str,
    ttl: Seconds = timedelta(minutes=1),
    reason: Optional[str] = None,
    requeue: bool = False,
    using: Using = "default",
) -> TakeOverStatus:
    """``take_over``, for async code."""
    return await sync_to_async(take_over)(uid, owner, ttl, reason, requeue, using)


async def ahand_over(uid: str, holder: str, to_owner: str, ttl: Optional[Seconds] = None,
                     using: Using = "default") -> bool:
    """``hand_over``, for async code."""
    return await sync_to_async(hand_over)(uid, holder, to_owner, ttl, using)


async def arequest(uid: str, owner: str, message: Optional[str] = None, using: Using = "default") -> bool:
    """``request``, for async code."""
    return await sync_to_async(request)(uid, owner, message, using)


async def adecline(uid: str, holder: str, owner: str, using: Using = "default") -> bool:
    """``decline``, for async code."""
    return await sync_to_async(decline)(uid, holder, owner, using)


async def ahistory(uid: Optional[str] = None, owner: Optional[str] = None, limit: int = 100, offset: int = 0,
                   using: Using = "default") -> List[HistoryEvent]:
    """``history``, for async code."""
    return await sync_to_async(history)(uid, owner, limit, offset, using)


async def adisplaced_by(uid: str, owner: str, using: Using = "default", *,
                        tabs: bool = False) -> Optional[HistoryEvent]:
    """``displaced_by``, for async code."""
    return await sync_to_async(displaced_by)(uid, owner, using, tabs=tabs)
