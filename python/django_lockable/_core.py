"""The low-level API: lock calls, their result, owners and the exceptions.

Terms, as in the extension's README:

- *uid*: the name of the locked resource, 1 to 512 bytes.
- *owner*: who holds a lock, 1 to 512 bytes.  Owners come from users,
  never from clients: ``owner_for(user)`` is ``"user:<pk>"`` unless the
  setting ``LOCKABLE_OWNER`` names another callable.
- *lease*: every lock (and, from 1.2, every place in a uid's waiting line)
  lasts ``ttl`` from the call that took or renewed it.
- *token*: the fencing token of a grant, larger than every earlier one.

The functions here are the SQL functions with Python types, and read one
setting only: ``LOCKABLE_LOCK_TIMEOUT``, the bound of every call (see
``_db.call``): a row or table lock that an open transaction holds makes a
call raise ``LockTimeout`` after that long, never hang.  ``Mutex``, the
models and the REST view add the other defaults.  ``too_many_uids`` is the
policy of ``LOCKABLE_MAX_UIDS_PER_USER``, which the REST view and live
editing apply to what a client asks (``Mutex`` and the models do not: the
application decides there).

Each call has an async twin for async views and consumers, named as
Django's own are (``aget`` for ``get``): ``aacquire``, ``arelease``,
``arelease_all``, ``aowner_of``, ``averify``, and ``Mutex.aacquire``,
``arenew``, ``arelease`` and ``async with Mutex(...)``.  A twin takes the
same arguments and runs the sync call through ``sync_to_async`` (thread
sensitive, as Django's ``aget`` does), so there is one implementation.
"""
import re
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Dict, Iterable, Iterator, Optional, Type, TypeVar

from asgiref.sync import sync_to_async
from django.core.exceptions import AppRegistryNotReady, ImproperlyConfigured, ValidationError
from django.db import NotSupportedError, OperationalError, connections, transaction

from . import _db
from ._conf import Seconds, as_timedelta, lockable_settings
from ._db import LockTimeout as LockTimeout  # defined with the calls it bounds; exported from here
from ._db import Using

# The longest uid or owner the extension takes, in bytes.
MAX_NAME_BYTES = 512

_ACQUIRE_SQL = (
    "SELECT * FROM lockable.lock_acquire(uid => %s, owner => %s, ttl => %s, wait => %s)"
)
_ACQUIRE_QUEUE_SQL = (
    "SELECT * FROM lockable.lock_acquire(uid => %s, owner => %s, ttl => %s, wait => %s, queue => %s)"
)
_RELEASE_SQL = "SELECT lockable.lock_release(uid => %s, owner => %s)"
_RELEASE_ALL_SQL = "SELECT lockable.lock_release_all(owner => %s)"
_OWNER_SQL = "SELECT lockable.lock_owner(uid => %s)"
_VERIFY_SQL = "SELECT lockable.lock_verify(uid => %s, owner => %s, token => %s)"
_BREAK_SQL = "SELECT lockable.lock_break(uid => %s)"
_SWEEP_SQL = "SELECT lockable.lock_sweep(older_than => %s)"
_PEEK_SQL = "SELECT * FROM lockable.active_locks AS a WHERE a.uid = %s"
_PEEK_MANY_SQL = "SELECT * FROM lockable.active_locks AS a WHERE a.uid = ANY (%s)"
# How many uids besides one an owner holds a live lock on, or a live place
# in the line of (lockable 1.2; the first without the line).
# The owner's tabs (``<owner>#<tab>``) count as the owner.
_UIDS_HELD_SQL = (
    "SELECT pg_catalog.count(*)::integer AS held FROM ("
    "  SELECT a.uid FROM lockable.active_locks AS a"
    "   WHERE a.owner = %s OR pg_catalog.starts_with(a.owner, %s)"
    "  UNION SELECT q.uid FROM lockable.lock_queue AS q"
    "   WHERE q.owner = %s OR pg_catalog.starts_with(q.owner, %s)) AS h"
    " WHERE h.uid <> %s"
)
_UIDS_HELD_WITHOUT_LINE_SQL = (
    "SELECT pg_catalog.count(*)::integer AS held FROM lockable.active_locks AS a"
    " WHERE (a.owner = %s OR pg_catalog.starts_with(a.owner, %s)) AND a.uid <> %s"
)
_CAN_BREAK_SQL = (
    "SELECT pg_catalog.has_function_privilege('lockable.lock_break(text)', 'EXECUTE')"
)
_SETTINGS_READ_SQL = (
    "SELECT pg_catalog.current_setting('lockable.owner', true),"
    "       pg_catalog.current_setting('lockable.token', true)"
)
_SETTINGS_WRITE_SQL = (
    "SELECT pg_catalog.set_config('lockable.owner', %s, true),"
    "       pg_catalog.set_config('lockable.token', %s, true)"
)

_DEFAULT_OWNER = re.compile(r"user:(?P<pk>.+)", re.DOTALL)

TAB_SEPARATOR = "#"
"""What joins an owner and a tab id in a tab's owner: ``user:7#<tab>``."""
MAX_TAB_LENGTH = 64
"""The longest tab id, in characters."""
_TAB = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_TAB_LENGTH}}}")
_TAB_SUFFIX = re.compile(rf"#[A-Za-z0-9_-]{{1,{MAX_TAB_LENGTH}}}\Z")


def valid_tab(tab: Any) -> bool:
    """True for a tab id: 1 to 64 ASCII letters, digits, ``-`` or ``_``
    (``crypto.randomUUID()`` makes one)."""
    return isinstance(tab, str) and _TAB.fullmatch(tab) is not None


def tab_owner(owner: str, tab: str) -> str:
    """The owner of one browser tab of ``owner``: ``<owner>#<tab>``.

    Raises ``ValueError`` for a tab that is not ``valid_tab``, or when the
    result would be over 512 bytes.
    """
    if not valid_tab(tab):
        raise ValueError(f"a tab id is 1 to {MAX_TAB_LENGTH} ASCII letters, digits, '-' or '_'")
    found = f"{owner}{TAB_SEPARATOR}{tab}"
    if len(found.encode()) > MAX_NAME_BYTES:
        raise ValueError(f"the owner with its tab would be over {MAX_NAME_BYTES} bytes")
    return found


def base_owner(owner: str) -> str:
    """The owner without a tab suffix (``user:7#<tab>`` is ``user:7``); an
    owner without one is returned as it is."""
    return _TAB_SUFFIX.sub("", owner)


def model_uid_prefix(app_label: str, model_name: str) -> str:
    """Return the uid prefix of a model's rows: ``"<app_label>.<model_name>:"``.

    ``LockableModel.lock_uid`` is this prefix followed by the pk, and
    ``EnableLockEnforcement`` gives the same prefix to the trigger, so both
    name a row's lock alike.
    """
    return f"{app_label}.{model_name}:"


def parse_user_id(owner: Optional[str]) -> Any:
    """Return the user pk in an owner of the default form ``user:<pk>``,
    or of a tab of it, ``user:<pk>#<tab>`` (see ``tab_owner``: the suffix is
    taken off first).

    The pk is converted by the user model's primary key field (an int for
    the default ``AutoField``; before Django is set up, decimal digits are
    an int and anything else stays text).  Returns None for None, for
    owners of any other form, and for pks the field does not accept.
    """
    if owner is None:
        return None
    match = _DEFAULT_OWNER.fullmatch(base_owner(owner))
    if match is None:
        return None
    from django.contrib.auth import get_user_model

    try:
        pk_field = get_user_model()._meta.pk
    except (AppRegistryNotReady, ImproperlyConfigured):
        # No user model to ask (Django not set up): decimal digits are an int.
        return int(match["pk"]) if match["pk"].isascii() and match["pk"].isdigit() else match["pk"]
    try:
        return pk_field.to_python(match["pk"])
    except ValidationError:
        return None


def owner_for(user: Any) -> str:
    """Return the lock owner of an authenticated user.

    ``"user:<pk>"``, or what the callable named by ``LOCKABLE_OWNER`` returns.
    Raises ``ValueError`` for None or an anonymous user (who cannot own a
    lock), and ``ImproperlyConfigured`` if ``LOCKABLE_OWNER`` returns
    anything but a string of 1 to 512 bytes.
    """
    if user is None or not getattr(user, "is_authenticated", False) or user.pk is None:
        raise ValueError("an anonymous user cannot own a lock")
    name_owner = lockable_settings.OWNER
    owner = f"user:{user.pk}" if name_owner is None else name_owner(user)
    if not isinstance(owner, str) or not owner or len(owner.encode()) > MAX_NAME_BYTES:
        raise ImproperlyConfigured(
            f"LOCKABLE_OWNER returned {owner!r} for user {user.pk!r}: "
            f"an owner must be a string of 1 to {MAX_NAME_BYTES} bytes"
        )
    return owner


@dataclass(frozen=True)
class LockStatus:
    """The state of one lock, as ``lockable.lock_acquire`` returns it.

    ``granted`` is true when the caller holds the lock now.  Otherwise
    ``owner``, ``acquired_at`` and ``expires_at`` describe the holder and
    ``token`` is None.  ``waiters`` (the number of places in the uid's line)
    and ``position`` (the caller's place, 1 = next; None when it has none)
    come with the waiting line (lockable 1.2) and are None without it.
    ``user_id`` is parsed from
    ``owner`` (see ``parse_user_id``).
    """

    granted: bool
    uid: str
    owner: Optional[str]
    token: Optional[int]
    acquired_at: Optional[datetime]
    expires_at: Optional[datetime]
    waiters: Optional[int] = None
    position: Optional[int] = None
    user_id: Any = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "user_id", parse_user_id(self.owner))

    @classmethod
    def from_row(cls: Type["_Status"], row: Dict[str, Any], **overrides: Any) -> "_Status":
        """Build a status from a row by column name; unknown columns are ignored."""
        names = {f.name for f in fields(cls) if f.init}
        values = {name: value for name, value in row.items() if name in names}
        values.update(overrides)
        return cls(**values)


_Status = TypeVar("_Status", bound=LockStatus)


class ResourceLocked(Exception):
    """Another owner holds the lock (or, with ``queue``, is ahead in line).

    Carries the refused ``status`` and, from it, ``uid``, ``owner``,
    ``user_id`` and ``expires_at`` of the holder, and ``waiters`` and
    ``position`` (None without the waiting line).  The DRF
    ``exception_handler`` turns it
    into 423 Locked.
    """

    message = "Resource is already in use by another user"

    def __init__(self, status: LockStatus):
        self.status = status
        self.uid = status.uid
        self.owner = status.owner
        self.user_id = status.user_id
        self.expires_at = status.expires_at
        self.waiters = status.waiters
        self.position = status.position
        place = "" if status.position is None else f"; place {status.position} in line"
        super().__init__(f"{self.message}: {status.uid!r} is held by {status.owner!r}"
                         f" until {status.expires_at}{place}")


class StaleVersion(OperationalError):
    """A save was based on a version of the row that is no longer current.

    Raised by ``VersionedModel.save()`` for the ``version_check`` trigger's
    SQLSTATE 40001, in place of a bare ``OperationalError`` (of which it is a
    subclass, so existing handlers still catch it).  Carries the model
    instance's ``pk``, the ``version`` the save was based on and the row's
    ``current_version`` (None if the row is gone).  The DRF
    ``exception_handler`` turns it into 409 Conflict.
    """

    def __init__(self, message: str, *, pk: Any, version: Any, current_version: Optional[int]):
        super().__init__(message)
        self.pk = pk
        self.version = version
        self.current_version = current_version


class QueueNotSupported(NotSupportedError):
    """``queue=True`` was asked of a database whose lockable has no waiting line.

    The line comes with lockable 1.2 (issue 9); install it and update the
    extension (``ALTER EXTENSION lockable UPDATE``) to use it.  Whether a
    database has it is judged by ``lockable.lock_status`` having
    ``waiters``, not by the version number.
    """


def _wait(wait: Optional[Seconds]) -> timedelta:
    return timedelta(0) if wait is None else as_timedelta(wait, "wait")


def acquire(
    uid: str,
    owner: str,
    ttl: Seconds = timedelta(minutes=1),
    wait: Optional[Seconds] = None,
    queue: bool = False,
    using: Using = "default",
) -> LockStatus:
    """Acquire, renew, or report the lock on uid for owner.

    ``ttl`` and ``wait`` are ``timedelta`` or seconds; with a ``wait``, the
    call tries again until it is granted or the wait is over.  With ``queue``
    (lockable 1.2), a refused caller takes (or renews) a place in the uid's
    line, reported as ``position``.

    Returns a ``LockStatus``; ``granted`` tells whether owner holds the lock
    now.  Raises ``ValueError`` for ``queue`` together with a ``wait``,
    ``QueueNotSupported`` for ``queue`` without the waiting line, ``TypeError`` for a
    ttl or wait of another type, and ``django.db.DataError`` (the driver's
    own on a connection of your own) with SQLSTATE 22023 for an empty or
    over-long uid or owner, a ttl that is not positive or exceeds
    ``lockable.max_ttl``, or a negative wait, 22004 for a None uid or owner;
    ``LockTimeout`` when an open transaction holds the uid's lock row for
    longer than ``LOCKABLE_LOCK_TIMEOUT`` (a ``wait`` waits for it until its
    end instead, and returns the holder).
    """
    ttl = as_timedelta(ttl, "ttl")
    wait = _wait(wait)
    if queue:
        if wait > timedelta(0):
            raise ValueError("queue and wait exclude each other: a waiting acquire holds no place in line")
        if not _db.features(using).queue:
            raise QueueNotSupported(
                f"the lockable extension in {_db.describe(using)} has no waiting line "
                "(queue needs lockable 1.2 with the line: ALTER EXTENSION lockable UPDATE)"
            )
        sql, params = _ACQUIRE_QUEUE_SQL, [uid, owner, ttl, wait, True]
    else:
        sql, params = _ACQUIRE_SQL, [uid, owner, ttl, wait]
    return LockStatus.from_row(_db.call_one(using, sql, params, lockable_settings.LOCK_TIMEOUT))


def release(uid: str, owner: str, using: Using = "default") -> bool:
    """Release owner's lock on uid (and, from 1.2, owner's place in its line).

    Returns True if owner held a live lock (or a live place) and gave it up,
    False otherwise; never raises for a lock owner does not hold.  Raises
    ``LockTimeout`` as ``acquire`` does.
    """
    return _db.call_value(using, _RELEASE_SQL, [uid, owner], lockable_settings.LOCK_TIMEOUT)


def release_all(owner: str, using: Using = "default") -> int:
    """Release every live lock of owner (and, from 1.2, every place); return how many."""
    return _db.call_value(using, _RELEASE_ALL_SQL, [owner], lockable_settings.LOCK_TIMEOUT)


def owner_of(uid: str, using: Using = "default") -> Optional[str]:
    """Return the live holder of uid, or None if nobody holds it now."""
    return _db.call_value(using, _OWNER_SQL, [uid], lockable_settings.LOCK_TIMEOUT)


def verify(uid: str, owner: str, token: int, using: Using = "default") -> bool:
    """Return True if exactly this grant (owner and fencing token) of uid is live."""
    return _db.call_value(using, _VERIFY_SQL, [uid, owner, token], lockable_settings.LOCK_TIMEOUT)


async def aacquire(
    uid: str,
    owner: str,
    ttl: Seconds = timedelta(minutes=1),
    wait: Optional[Seconds] = None,
    queue: bool = False,
    using: Using = "default",
) -> LockStatus:
    """``acquire``, for async code: the same arguments, result and errors.

    A ``wait`` holds a worker thread (and a database connection) for its
    length, as the sync call holds its thread.
    """
    return await sync_to_async(acquire)(uid, owner, ttl, wait, queue, using)


async def arelease(uid: str, owner: str, using: Using = "default") -> bool:
    """``release``, for async code."""
    return await sync_to_async(release)(uid, owner, using)


async def arelease_all(owner: str, using: Using = "default") -> int:
    """``release_all``, for async code."""
    return await sync_to_async(release_all)(owner, using)


async def aowner_of(uid: str, using: Using = "default") -> Optional[str]:
    """``owner_of``, for async code."""
    return await sync_to_async(owner_of)(uid, using)


async def averify(uid: str, owner: str, token: int, using: Using = "default") -> bool:
    """``verify``, for async code."""
    return await sync_to_async(verify)(uid, owner, token, using)


def peek(uid: str, using: Using = "default") -> Optional[LockStatus]:
    """Return the live lock on uid as a ``LockStatus`` (``granted`` true: it is
    granted to ``owner``), or None if nobody holds it.  Changes nothing."""
    rows = _db.call(using, _PEEK_SQL, [uid], lockable_settings.LOCK_TIMEOUT, key="uid")
    return LockStatus.from_row(rows[0], granted=True) if rows else None


def peek_many(uids: Iterable[str], using: Using = "default") -> Dict[str, LockStatus]:
    """Return the live locks among uids, as ``peek`` would, by uid; one query."""
    rows = _db.call(using, _PEEK_MANY_SQL, [list(uids)], lockable_settings.LOCK_TIMEOUT, key="uid")
    return {row["uid"]: LockStatus.from_row(row, granted=True) for row in rows}


def uids_held_besides(owner: str, uid: str, using: Using = "default") -> int:
    """How many uids other than uid owner, or one of its tabs
    (``<owner>#<tab>``), holds a live lock on or waits for (a live place in
    their line); for ``LOCKABLE_MAX_UIDS_PER_USER``."""
    owner = base_owner(owner)
    tabs = owner + TAB_SEPARATOR
    if _db.features(using).queue:
        sql, params = _UIDS_HELD_SQL, [owner, tabs, owner, tabs, uid]
    else:
        sql, params = _UIDS_HELD_WITHOUT_LINE_SQL, [owner, tabs, uid]
    return _db.call_value(using, sql, params, lockable_settings.LOCK_TIMEOUT)


def too_many_uids(owner: str, uid: str, using: Using = "default") -> Optional[str]:
    """Why owner may not take one more uid (``LOCKABLE_MAX_UIDS_PER_USER``), or
    None: the text of the refusal when owner holds or waits for that many
    other uids already.  The uid itself is not counted, so a renewal is never
    refused.  One query; concurrent calls may let an owner one over."""
    limit = lockable_settings.MAX_UIDS_PER_USER
    if limit is None:
        return None
    held = uids_held_besides(owner, uid, using=using)
    if held < limit:
        return None
    return (f"you hold or wait for {held} other locks, and one may hold or wait for {limit} at once "
            "(LOCKABLE_MAX_UIDS_PER_USER): give one up first")


def break_lock(uid: str, using: Using = "default") -> bool:
    """Force the release of uid's live lock; True if there was one.

    Needs EXECUTE on ``lockable.lock_break(text)`` (not granted to PUBLIC);
    without it the database raises ``ProgrammingError`` (42501).
    """
    return _db.call_value(using, _BREAK_SQL, [uid], lockable_settings.LOCK_TIMEOUT)


def can_break_locks(using: Using = "default") -> bool:
    """Return True if the database role may call ``lockable.lock_break``."""
    with _db.cursor(using) as cur:
        cur.execute(_CAN_BREAK_SQL)
        return cur.fetchone()[0]


def sweep(older_than: Seconds = timedelta(0), using: Using = "default") -> int:
    """Delete the rows of locks that ended at least ``older_than`` ago; return how many.

    Needs EXECUTE on ``lockable.lock_sweep(interval)``; without it the
    database raises ``ProgrammingError`` (42501).
    """
    return _db.call_value(using, _SWEEP_SQL, [as_timedelta(older_than, "older_than")],
                          lockable_settings.LOCK_TIMEOUT)


def _token(token: Any) -> str:
    if token is None:
        return ""
    if isinstance(token, bool) or not isinstance(token, int):
        raise TypeError(f"a fencing token is an int, not {token!r}")
    return str(token)


@contextmanager
def writing_as(user: Any, token: Optional[int] = None, using: Optional[str] = None,
               owner: Optional[str] = None) -> Iterator[str]:
    """Write as user's lock owner (and with a fencing token) inside an atomic block.

    Opens ``transaction.atomic(using)`` and sets ``lockable.owner`` (and
    ``lockable.token``) with ``set_config(..., is_local => true)``, i.e.
    ``SET LOCAL``: the ``enforce_lock`` trigger then lets the block write
    rows whose lock user holds (under exactly that grant, with a token).
    ``user`` None writes as nobody.  On leaving the block the previous
    values are put back, so nothing outlives it, even inside a longer
    transaction (``ATOMIC_REQUESTS``); an error rolls them back with the
    block.  ``owner`` writes as that owner rather than ``owner_for(user)``:
    one of the user's own, such as a browser tab's (``tab_owner``); the
    caller vouches for it.  Yields the owner ("" for None).

    Raises what ``owner_for`` raises, ``TypeError`` for a token that is
    not an int, and ``ValueError`` for an owner that is not a string of 1
    to 512 bytes.
    """
    using = using or lockable_settings.DATABASE
    if owner is not None:
        if not isinstance(owner, str) or not owner or len(owner.encode()) > MAX_NAME_BYTES:
            raise ValueError(f"an owner is a string of 1 to {MAX_NAME_BYTES} bytes, not {owner!r}")
    elif user is not None:
        owner = owner_for(user)
    else:
        owner = ""
    token_text = _token(token)
    with transaction.atomic(using=using):
        with connections[using].cursor() as cur:
            cur.execute(_SETTINGS_READ_SQL)
            old_owner, old_token = cur.fetchone()
            cur.execute(_SETTINGS_WRITE_SQL, [owner, token_text])
        yield owner
        with connections[using].cursor() as cur:
            cur.execute(_SETTINGS_WRITE_SQL, [old_owner or "", old_token or ""])


class Mutex:
    """One user's lock on one uid: acquire, renew, release, or ``with``.

    ``Mutex(uid, ttl, user)`` locks ``uid`` for ``owner_for(user)`` with
    a lease of ``ttl`` (``timedelta`` or seconds; None: ``LOCKABLE_TTL``).
    With ``queue`` (lockable 1.2) a refused acquire takes a place in line;
    acquire again before ``ttl`` runs out to keep it.  ``with Mutex(...) as
    status:`` acquires on entry (raising ``ResourceLocked``) and releases on
    exit.  ``using`` is a database alias (None: ``LOCKABLE_DATABASE``).

    In async code: ``await mutex.aacquire()``, ``arenew()``, ``arelease()``,
    and ``async with Mutex(...) as status:``.  Constructing one reads the
    settings and the user's pk only, no database, so it is safe in an event
    loop (unless ``LOCKABLE_OWNER`` itself queries the database).

    Raises at construction what ``owner_for`` raises.
    """

    def __init__(self, uid: str, ttl: Optional[Seconds], user: Any, queue: bool = False,
                 using: Optional[str] = None):
        self.uid = uid
        self.ttl = None if ttl is None else as_timedelta(ttl, "ttl")
        self.owner = owner_for(user)
        self.queue = queue
        self.using = using or lockable_settings.DATABASE
        self.status: Optional[LockStatus] = None
        """The status of the last acquire or renewal, None after release."""

    def acquire(self) -> LockStatus:
        """Acquire (or renew) the lock; return its status.

        Raises ``ResourceLocked`` when another owner holds it (with ``queue``:
        or is ahead in line; ``position`` says where this owner stands), and
        what ``acquire()`` raises.
        """
        ttl = lockable_settings.TTL if self.ttl is None else self.ttl
        self.status = acquire(self.uid, self.owner, ttl=ttl, queue=self.queue, using=self.using)
        if not self.status.granted:
            raise ResourceLocked(self.status)
        return self.status

    def renew(self) -> LockStatus:
        """Renew the lease (the same token); if it had run out, this is a fresh
        grant with a new token, when nobody took the lock in between.

        Returns the status; raises ``ResourceLocked`` if another owner holds it.
        """
        return self.acquire()

    def release(self) -> bool:
        """Release the lock (and leave the line); True if there was one to give up.

        May be called whether or not the lock was acquired.
        """
        self.status = None
        return release(self.uid, self.owner, using=self.using)

    def __enter__(self) -> LockStatus:
        return self.acquire()

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self.release()

    async def aacquire(self) -> LockStatus:
        """``acquire``, for async code."""
        return await sync_to_async(self.acquire)()

    async def arenew(self) -> LockStatus:
        """``renew``, for async code."""
        return await sync_to_async(self.renew)()

    async def arelease(self) -> bool:
        """``release``, for async code."""
        return await sync_to_async(self.release)()

    async def __aenter__(self) -> LockStatus:
        return await self.aacquire()

    async def __aexit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                        traceback: Optional[TracebackType]) -> None:
        await self.arelease()
