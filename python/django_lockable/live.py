"""Live editing: what one open editor's lock session does, without the socket.

A *session* is one websocket's business with one uid: it joins the uid's
line (``lock``), renews its lock or place (``heartbeat``), gives them up
(``unlock``, or the socket closing), and tells its client where it stands
with ``status`` messages.  ``django_lockable.channels.LockConsumer`` is the
socket around it; every decision is made here, in plain functions and in
``LockSession``, which tests drive without a socket.

The rules:

- **The database decides.**  A session tells its client ``editing`` only
  after an acquire granted it the lock.  Events from the notification bridge
  (``django_lockable.notifications``) are hints: they make a session look at
  the database, never believe the payload.
- **Only the client extends a lease.**  ``lock`` and ``heartbeat`` renew the
  lock or place for the full ttl.  What a session does on its own (for a
  hint, a timer or a resync) renews at most up to the *deadline* the
  client's last message earned, so a socket that goes silent loses its place
  (or lock) when its ttl lapses, with no disconnect needed.
- **A waiter looks again at the holder's expires_at.**  Its acquire then
  hands the expired lock to the head of the line, so a vanished holder's
  lease is handed on within a moment of its expiry, not at the next
  heartbeat.  A holder looks again at its own deadline and tells its client
  ``lost`` once the lease has run out.
- **A lost lock is not re-queued behind the client's back.**  A heartbeat of
  a holder renews the lock only (``queue`` false): if it was handed on, the
  client hears ``lost`` and must send ``lock`` to join the line again.
- **The database unreachable** (a restart), or a call that timed out
  (``LockTimeout``: an open transaction holds the uid's lock row): the
  session gives nothing up and has its socket closed with 4503, "try again
  later".  The client reconnects and sends ``lock``, which renews the lock
  or place that outlived the outage.
- **Hints are coalesced.**  The sessions of one uid in a process share one
  ``UidHub``: a hint (or a timer, or a resync) asks the hub for a look, and
  all that ask while a look is due or under way share the next one, at
  most one per ``LOOK_GAP`` per uid; each session then decides for itself.
  A flood of forged notifications costs one look per uid and moment.  The
  hub also runs the sessions' calls on its uid one at a time, so that a
  lock row held by an open transaction holds one worker thread, not all.
- **Whatever ends a socket releases.**  A close, a crash of the consumer,
  a limit (``LOCKABLE_MAX_MESSAGE_BYTES``, ``LOCKABLE_MAX_MESSAGES_PER_SECOND``,
  ``LOCKABLE_MAX_SOCKETS_PER_USER``) or a logout: ``end()`` releases the
  lock or leaves the line, unless the database was unreachable.

- **Presence is kept in PostgreSQL** (lockable 1.4's presence leases):
  every socket that edits, waits or views renews a lease on its uid with
  its client's ``lock``, ``view`` and ``heartbeat`` (in the same statement
  as its acquire), with the client's ``idle``.  The hub reads the leases in
  the same query as the line (``look_line``), names their users once per
  process (``NAMES``), and looks again when the first lease it saw would
  lapse.  A socket leaves the presence when it closes, unlocks or is lost.
- **Tabs**: a ``lock`` or ``view`` with a ``tab`` makes the session's owner
  the tab's, ``<owner>#<tab>``; a second tab of the same user waits with
  ``"reason": "other_tab"`` and may take over from its own other tab
  (``take_over_as``) without any permission.
- **Moves are hints checked against a look**: a ``requested`` event reaches
  the holder it names when the asker has a place; a ``declined`` reaches
  the asker while it waits; a ``taken_over`` or ``handed_over`` explains a
  ``lost`` only when the new holder it names is the one the look saw.

Client messages: ``lock``, ``view``, ``heartbeat``, ``unlock``,
``request``, ``hand_over``, ``decline``, ``take_over`` (``ACTIONS``; see
``parse_request``).  Server messages: ``{"type": "status", "uid", "state",
"owner", "user_id", "position", "waiters", "expires_at", "token", "reason",
"by", "presence", "presence_count", "idle_after"}`` with ``state`` one of
``editing``, ``waiting``, ``viewing``, ``lost``; ``{"type": "request",
"from", "message"}``, ``{"type": "declined", "by"}``, ``{"type": "saved",
"version", "by"}``; and ``{"type": "error", "message"}``.
"""
import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Sequence, Set, Tuple

from asgiref.sync import sync_to_async
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connections

from . import _core, _db
from ._conf import lockable_settings
from ._core import MAX_NAME_BYTES, LockStatus, QueueNotSupported

logger = logging.getLogger(__name__)

EDITING = "editing"
WAITING = "waiting"
VIEWING = "viewing"
LOST = "lost"
STATES = (EDITING, WAITING, VIEWING, LOST)
ACTIONS = ("lock", "view", "heartbeat", "unlock", "request", "hand_over", "decline", "take_over")

# Why a session is ``lost`` (the status's ``reason``), or why it waits.
RELEASED = "released"
EXPIRED = "expired"
TAKEN_OVER = "taken_over"
HANDED_OVER = "handed_over"
BROKEN = "broken"
LOGGED_OUT = "logged_out"
OTHER_TAB = "other_tab"
REASONS = (RELEASED, EXPIRED, TAKEN_OVER, HANDED_OVER, BROKEN, LOGGED_OUT, OTHER_TAB)

MAX_TEXT_CHARACTERS = 500
"""The longest ``message`` of a request, or ``reason`` of a take over, a
client may send (the database takes 1000 bytes, with the taker's name)."""

# Close codes: 4xxx, the application's range of RFC 6455, which every ASGI
# server sends (Daphne's autobahn refuses 1011 and 1013).  The same table is
# in lockable.js (CLOSE_CODES) and in python/README.md ("Close codes"), and
# a test keeps the three alike.
# RFC 6455's own 1009 ("message too big") is one of the codes autobahn
# refuses to send (it sends 1000 and 3000-4999 only), so 4413 stands for it.
CLOSE_UNAUTHENTICATED = 4401
"""Close code for an anonymous socket, and for a socket whose session logged
out (as HTTP 401)."""
CLOSE_MESSAGE_TOO_BIG = 4413
"""Close code for a message over ``LOCKABLE_MAX_MESSAGE_BYTES`` (as HTTP 413;
RFC 6455's 1009)."""
CLOSE_TOO_MANY_REQUESTS = 4429
"""Close code for a socket over ``LOCKABLE_MAX_MESSAGES_PER_SECOND``, or one
of more than ``LOCKABLE_MAX_SOCKETS_PER_USER`` (as HTTP 429)."""
CLOSE_SERVER_ERROR = 4500
"""Close code for a server misconfiguration (``LOCKABLE_OWNER`` named no
owner for the user), or a message the server failed on (as HTTP 500)."""
CLOSE_TRY_AGAIN_LATER = 4503
"""Close code when the database cannot be reached, or a call timed out
(``LockTimeout``): nothing was given up, reconnect later (as HTTP 503)."""
CLOSE_CODES = {
    CLOSE_UNAUTHENTICATED: "unauthenticated",
    CLOSE_MESSAGE_TOO_BIG: "message too big",
    CLOSE_TOO_MANY_REQUESTS: "too many requests",
    CLOSE_SERVER_ERROR: "server error",
    CLOSE_TRY_AGAIN_LATER: "try again later",
}
"""Every close code the server sends, by name."""

CHECK_MARGIN = 0.05
"""Seconds after an expiry at which a session looks again."""
CHECK_MIN_DELAY = 0.2
"""The shortest pause between two timed looks of one session, in seconds:
a database clock behind the server's cannot make a session spin."""
MIN_CONFIRM_TTL = timedelta(milliseconds=50)
"""A session confirms a hand-off with an acquire only while at least this
much of its client's deadline is left; a client silent for longer gives the
lock back."""
LOOK_GAP = 0.05
"""The shortest pause, in seconds, between two looks at one uid by the
sessions of a process: the hints of one moment cost one look."""

# The live holder of a uid and its line, owners in order (one query).
_LINE_SQL = (
    "SELECT a.owner, a.token, a.expires_at,"
    "       (SELECT pg_catalog.array_agg(q.owner ORDER BY q.position)"
    "          FROM lockable.lock_queue AS q WHERE q.uid = u.uid) AS line"
    "  FROM (SELECT %s::text AS uid) AS u"
    "  LEFT JOIN lockable.active_locks AS a ON a.uid = u.uid"
)
# The same, and the uid's live presence leases, oldest first (lockable 1.4).
_LINE_PRESENCE_SQL = (
    "SELECT a.owner, a.token, a.expires_at,"
    "       (SELECT pg_catalog.array_agg(q.owner ORDER BY q.position)"
    "          FROM lockable.lock_queue AS q WHERE q.uid = u.uid) AS line,"
    "       p.owners AS present, p.idle AS present_idle, p.until AS present_until"
    "  FROM (SELECT %s::text AS uid) AS u"
    "  LEFT JOIN lockable.active_locks AS a ON a.uid = u.uid"
    "  LEFT JOIN LATERAL (SELECT pg_catalog.array_agg(l.owner ORDER BY l.since, l.owner) AS owners,"
    "                            pg_catalog.array_agg(l.idle ORDER BY l.since, l.owner) AS idle,"
    "                            pg_catalog.min(l.expires_at) AS until"
    "                       FROM lockable.presence_of(u.uid) AS l) AS p ON true"
)
# A client's own acquire (or renewal) and its presence lease, in one statement.
_ACQUIRE_TOUCH_SQL = (
    "SELECT s.*, lockable.presence_touch(%s, %s, %s, %s) AS presence_changed"
    "  FROM lockable.lock_acquire(uid => %s, owner => %s, ttl => %s, wait => %s, queue => %s) AS s"
)
_TOUCH_SQL = "SELECT lockable.presence_touch(uid => %s, owner => %s, ttl => %s, idle => %s)"
_LEAVE_SQL = "SELECT lockable.presence_leave(uid => %s, owner => %s)"
_RELEASE_LEAVE_SQL = (
    "SELECT lockable.lock_release(uid => %s, owner => %s) AS released,"
    "       lockable.presence_leave(uid => %s, owner => %s) AS left_presence"
)


# ---- messages ----


class BadMessage(ValueError):
    """A client message the session cannot act on; its text goes back in an
    ``error`` message, and the connection stays open."""


@dataclass(frozen=True)
class Request:
    """One client message: ``action`` is one of ``ACTIONS``; ``uid`` comes
    with ``lock`` and ``view``, ``tab`` (optional) with them too; ``idle``
    with any (optional, false); ``message`` with ``request``, ``reason``
    with ``take_over`` (both optional); ``to`` with ``hand_over`` and
    ``decline``."""

    action: str
    uid: Optional[str] = None
    tab: Optional[str] = None
    idle: bool = False
    message: Optional[str] = None
    reason: Optional[str] = None
    to: Any = None


def _text(content: Dict[str, Any], name: str, action: str) -> Optional[str]:
    value = content.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARACTERS:
        raise BadMessage(f"{action}'s \"{name}\" is a string of at most {MAX_TEXT_CHARACTERS} characters")
    if "\x00" in value:
        raise BadMessage(f"{action}'s \"{name}\" cannot contain NUL (0x00) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise BadMessage(f"{action}'s \"{name}\" must be valid Unicode (no lone surrogates)") from None
    return value


def parse_request(content: Any) -> Request:
    """Return the request of a decoded JSON message.

    Raises ``BadMessage`` for anything but an object with a known
    ``action``; for a ``lock`` or ``view`` without a uid of 1 to 512 bytes,
    or with a ``tab`` that is not 1 to 64 ASCII letters, digits, ``-`` or
    ``_``; an ``idle`` that is not a boolean; a ``message`` or ``reason``
    that is not a string of at most 500 characters; a ``hand_over`` or
    ``decline`` without ``to`` (a user id: an integer or a string, or an
    owner).
    """
    if not isinstance(content, dict):
        raise BadMessage("a message is a JSON object with an \"action\"")
    action = content.get("action")
    if action not in ACTIONS:
        raise BadMessage(f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}")
    idle = content.get("idle", False)
    if not isinstance(idle, bool):
        raise BadMessage("\"idle\" is true or false")
    if action in ("lock", "view"):
        uid = content.get("uid")
        if not isinstance(uid, str) or not uid or len(uid.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
            raise BadMessage(f"{action} needs a \"uid\": a string of 1 to {MAX_NAME_BYTES} bytes")
        if "\x00" in uid:
            raise BadMessage("a uid cannot contain NUL (0x00) characters")
        try:
            uid.encode("utf-8")
        except UnicodeEncodeError:
            raise BadMessage("a uid must be valid Unicode (no lone surrogates)") from None
        tab = content.get("tab")
        if tab is not None and not _core.valid_tab(tab):
            raise BadMessage(f"a \"tab\" is 1 to {_core.MAX_TAB_LENGTH} ASCII letters, digits, '-' or '_'")
        return Request(action, uid, tab=tab, idle=idle)
    if action == "request":
        return Request(action, idle=idle, message=_text(content, "message", action))
    if action == "take_over":
        return Request(action, idle=idle, reason=_text(content, "reason", action))
    if action in ("hand_over", "decline"):
        to = content.get("to")
        if isinstance(to, bool) or not isinstance(to, (int, str)) or to == "" or (
                isinstance(to, str) and len(to.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES):
            raise BadMessage(f"{action} needs \"to\": the user id (or the owner) of someone in the line")
        return Request(action, idle=idle, to=to)
    return Request(action, idle=idle)


def error_message(text: str) -> Dict[str, Any]:
    """The ``error`` message for a bad client message."""
    return {"type": "error", "message": text}


def _iso(value: Optional[datetime]) -> Optional[str]:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


Person = Dict[str, Any]
"""``{"user_id", "name"}``: who did something, as messages name them."""


def status_message(uid: str, state: str, *, owner: Optional[str] = None, token: Optional[int] = None,
                   expires_at: Optional[datetime] = None, waiters: Optional[int] = None,
                   position: Optional[int] = None, reason: Optional[str] = None,
                   by: Optional[Person] = None, presence: Sequence[Dict[str, Any]] = (),
                   presence_count: int = 0) -> Dict[str, Any]:
    """The ``status`` message: ``owner``, ``user_id`` and ``expires_at`` describe
    the live holder (None when nobody holds the lock live); ``token`` is the
    client's own fencing token while it edits; ``position`` its place in line
    while it waits (1 = next); ``waiters`` the line's length; ``reason`` why
    it is ``lost`` (one of ``REASONS``), or ``other_tab`` while it waits for
    its user's other tab; ``by`` who took it over or got it handed
    (``taken_over``, ``handed_over``); ``presence`` who is there (see
    ``presence_of_line``) and ``presence_count`` how many; ``idle_after``
    the seconds without input after which a client reports itself idle
    (``LOCKABLE_IDLE``)."""
    assert state in STATES
    assert reason is None or reason in REASONS
    return {
        "type": "status",
        "uid": uid,
        "state": state,
        "owner": owner,
        "user_id": _core.parse_user_id(owner),
        "position": position,
        "waiters": waiters,
        "expires_at": _iso(expires_at),
        "token": token,
        "reason": reason,
        "by": by,
        "presence": list(presence),
        "presence_count": presence_count,
        "idle_after": lockable_settings.IDLE.total_seconds(),
    }


# ---- what the database says, and what it means for a session ----


@dataclass(frozen=True)
class Look:
    """What the database says about a uid, for one owner, without changing it:
    the live holder (``owner``, ``token``, ``expires_at``; None when nobody
    holds it live), the number of live places, and owner's position."""

    owner: Optional[str]
    token: Optional[int]
    expires_at: Optional[datetime]
    waiters: int
    position: Optional[int]


@dataclass(frozen=True)
class Line:
    """What the database says about a uid, for everyone: the live holder
    (None when nobody holds it live), the owners of the live places, in
    line order, and the live presence leases, oldest first (``present``:
    ``(owner, idle)``; ``present_until`` the earliest end of one).
    ``look_for(owner)`` is one owner's ``Look``."""

    owner: Optional[str]
    token: Optional[int]
    expires_at: Optional[datetime]
    owners: Tuple[str, ...] = ()
    present: Tuple[Tuple[str, bool], ...] = ()
    present_until: Optional[datetime] = None

    def look_for(self, owner: str) -> Look:
        """The ``Look`` of owner: its position (1 = next), None without a place."""
        position = self.owners.index(owner) + 1 if owner in self.owners else None
        return Look(self.owner, self.token, self.expires_at, len(self.owners), position)

    def people(self) -> List[Tuple[str, str, bool]]:
        """Everyone there, as ``(owner, state, idle)``: the holder
        (``editing``), the line in order (``waiting``), then the owners with
        a presence lease only (``viewing``), oldest first.  The holder and
        the waiters are listed with a lease or without one (a REST client's
        lock); ``idle`` is their lease's, else false."""
        idle = dict(self.present)
        found: List[Tuple[str, str, bool]] = []
        if self.owner is not None:
            found.append((self.owner, EDITING, idle.get(self.owner, False)))
        listed = {self.owner}
        for owner in self.owners:
            if owner not in listed:
                found.append((owner, WAITING, idle.get(owner, False)))
                listed.add(owner)
        for owner, is_idle in self.present:
            if owner not in listed:
                found.append((owner, VIEWING, is_idle))
                listed.add(owner)
        return found


def look_line(uid: str, using: _db.Using = "default") -> Line:
    """Read uid's live holder and line from ``lockable.active_locks`` and
    ``lockable.lock_queue``, and its presence leases from
    ``lockable.presence_of`` where the database keeps them (one query, no
    writes)."""
    if _db.features(using).presence:
        row = _db.call_one(using, _LINE_PRESENCE_SQL, [uid], lockable_settings.LOCK_TIMEOUT)
        present = tuple(zip(row["present"] or (), row["present_idle"] or ()))
        return Line(row["owner"], row["token"], row["expires_at"], tuple(row["line"] or ()),
                    present, row["present_until"])
    row = _db.call_one(using, _LINE_SQL, [uid], lockable_settings.LOCK_TIMEOUT)
    return Line(row["owner"], row["token"], row["expires_at"], tuple(row["line"] or ()))


def look_and_name(uid: str, using: _db.Using = "default") -> Line:
    """``look_line``, then the names of the people it shows that this
    process does not know yet (``NAMES``); one thread, two queries at most."""
    line = look_line(uid, using)
    NAMES.fetch([owner for owner, _, _ in line.people()[:lockable_settings.PRESENCE_MAX]],
                using if isinstance(using, str) else None)
    return line


# ---- names ----


class Names:
    """The display names of users, by owner, kept by this process: at most
    ``size`` of them, each for ``keep`` seconds (a renamed user is shown by
    the new name after that).  ``fetch`` reads the missing ones in one query
    of the user model, bounded by ``LOCKABLE_LOCK_TIMEOUT``; ``person`` reads
    the cache only (None for a name it has not fetched).  Thread-safe."""

    def __init__(self, size: int = 10000, keep: float = 300.0, clock: Callable[[], float] = time.monotonic):
        self.size = size
        self.keep = keep
        self.queries = 0
        """How many queries it made (for tests and monitoring)."""
        self._clock = clock
        self._names: OrderedDict[Any, Tuple[Optional[str], float]] = OrderedDict()
        self._lock = threading.Lock()

    def _cached(self, user_id: Any) -> Tuple[bool, Optional[str]]:
        with self._lock:
            found = self._names.get(user_id)
            if found is None or found[1] < self._clock():
                return False, None
            return True, found[0]

    def person(self, owner: Optional[str]) -> Optional[Person]:
        """``{"user_id", "name"}`` of owner (``name`` None when not fetched,
        or for an owner that names no user); None for None."""
        if owner is None:
            return None
        user_id = _core.parse_user_id(owner)
        if user_id is None:
            return {"user_id": None, "name": None}
        return {"user_id": user_id, "name": self._cached(user_id)[1]}

    def fetch(self, owners: Sequence[Optional[str]], using: Optional[str] = None) -> None:
        """Read the names of the owners' users that are not cached (one
        query; users that do not exist are cached as None).  A failure is
        logged, never raised: names are decoration."""
        from django.contrib.auth import get_user_model
        from django.db import router, transaction

        from .policy import display_name

        wanted = set()
        for owner in owners:
            user_id = _core.parse_user_id(owner) if owner is not None else None
            if user_id is not None and not self._cached(user_id)[0]:
                wanted.add(user_id)
        if not wanted:
            return
        model = get_user_model()
        alias = router.db_for_read(model) or using or "default"
        found: Dict[Any, Optional[str]] = {user_id: None for user_id in wanted}
        try:
            with transaction.atomic(using=alias):
                with connections[alias].cursor() as cur:
                    cur.execute(_BOUND_SQL, [_db.lock_timeout_setting(lockable_settings.LOCK_TIMEOUT)])
                for user in model._default_manager.using(alias).filter(pk__in=wanted):
                    found[user.pk] = display_name(user)
        except Exception:  # a name is not worth a session: log it, show none
            logger.exception("could not read the names of users %r", sorted(map(str, wanted)))
            return
        finally:
            self.queries += 1
        until = self._clock() + self.keep
        with self._lock:
            for user_id, name in found.items():
                self._names[user_id] = (name, until)
                self._names.move_to_end(user_id)
            while len(self._names) > self.size:
                self._names.popitem(last=False)

    def clear(self) -> None:
        """Forget every name (tests)."""
        with self._lock:
            self._names.clear()


_BOUND_SQL = "SELECT pg_catalog.set_config('lock_timeout', %s, true)"

NAMES = Names()
"""The names this process knows."""


def presence_of_line(line: Optional[Line], names: Names = NAMES) -> Tuple[List[Dict[str, Any]], int]:
    """The ``presence`` of a status and its ``presence_count``: at most
    ``LOCKABLE_PRESENCE_MAX`` entries ``{"user_id", "name", "state",
    "idle"}`` of ``line.people()``, in its order."""
    if line is None:
        return [], 0
    people = line.people()
    shown = []
    for owner, state, idle in people[:lockable_settings.PRESENCE_MAX]:
        person = names.person(owner) or {"user_id": None, "name": None}
        shown.append({**person, "state": state, "idle": idle})
    return shown, len(people)


def look(uid: str, owner: str, using: _db.Using = "default") -> Look:
    """Read uid's live holder and line, as owner sees them (one query, no
    writes)."""
    return look_line(uid, using).look_for(owner)


def state_of(status: LockStatus, *, holding: bool) -> str:
    """The state an acquire's result puts a session in.

    Granted: ``editing``.  Refused with a place in line: ``waiting``, unless
    the session was ``holding`` the lock (a holder's renewal that was
    refused means the lock was handed on: ``lost``).  Refused without a
    place: ``lost``.
    """
    if status.granted:
        return EDITING
    if status.position is not None and not holding:
        return WAITING
    return LOST


def message_of(uid: str, state: str, status: LockStatus, **extra: Any) -> Dict[str, Any]:
    """The status message for an acquire's result in ``state``; ``extra``:
    ``reason``, ``by``, ``presence``, ``presence_count``."""
    return status_message(uid, state, owner=status.owner, token=status.token if state == EDITING else None,
                          expires_at=status.expires_at, waiters=status.waiters,
                          position=status.position if state == WAITING else None, **extra)


def message_of_look(uid: str, state: str, seen: Look, token: Optional[int] = None, **extra: Any) -> Dict[str, Any]:
    """The status message for what a look saw, in ``state``; ``extra`` as
    for ``message_of``."""
    return status_message(uid, state, owner=seen.owner, token=token if state == EDITING else None,
                          expires_at=seen.expires_at, waiters=seen.waiters,
                          position=seen.position if state == WAITING else None, **extra)


def waiting_reason(owner: str, holder: Optional[str]) -> Optional[str]:
    """``other_tab`` when the holder is another tab of owner's user (the
    same owner but for the tab: ``user:7#a`` and ``user:7#b``), else None."""
    if holder is None or holder == owner:
        return None
    return OTHER_TAB if _core.base_owner(holder) == _core.base_owner(owner) else None


LOSS_EVENTS = frozenset({"taken_over", "handed_over", "broken", "expired", "released", "left"})
"""The events a hub keeps to say why a session lost its lock or place."""


def loss_reason(owner: str, token: Optional[int], seen: Look, events: Sequence[Any],
                lease_over: bool) -> Tuple[str, Optional[str]]:
    """Why owner (holding ``token``, if it edited) lost its lock or place,
    and who got it (an owner, for ``taken_over`` and ``handed_over``):
    ``(reason, by)``.

    ``events`` are the uid's latest ``LockEvent``s, oldest first.  Events
    are hints: a take over or a hand over counts only when the holder it
    names (and its token) is the live holder the look saw; one by another
    tab of owner's user is ``other_tab``.  Without an event that explains
    it: ``expired`` when the client's lease was over (``lease_over``),
    else ``broken``.
    """
    for event in reversed(events):
        if event.event in ("taken_over", "handed_over") and event.previous_owner == owner:
            if event.owner != seen.owner or (event.token is not None and seen.token is not None
                                             and event.token != seen.token):
                continue
            if (token is not None and event.previous_token is not None
                    and event.previous_token != token):
                continue
            if waiting_reason(owner, event.owner) == OTHER_TAB:
                return OTHER_TAB, None
            return (TAKEN_OVER if event.event == "taken_over" else HANDED_OVER), event.owner
        if event.owner != owner:
            continue
        if event.event == "broken" and (token is None or event.token in (None, token)):
            return BROKEN, None
        if event.event == "expired":
            return EXPIRED, None
        if event.event in ("released", "left"):
            return RELEASED, None
    return (EXPIRED if lease_over else BROKEN), None


# What a session does after a look.
KEEP = "keep"          # nothing changed for it: report what it saw
CONFIRM = "confirm"    # it seems to hold the lock: confirm with an acquire
HAND_ON = "hand-on"    # it seems to wait for a lock whose lease ran out: acquire to hand it on
GIVE_BACK = "give-back"  # it was handed the lock, but its client is silent: release
LOSE = "lose"          # its lock or place is gone


def decide(state: str, token: Optional[int], owner: str, seen: Look, remaining: timedelta) -> str:
    """What a session in ``state`` (holding ``token``, if editing) does after
    a look at the database; ``remaining`` is what is left of its client's
    deadline.  See the module's rules."""
    if state == VIEWING:
        return KEEP
    if seen.owner == owner:
        if state == EDITING and seen.token == token:
            return KEEP
        return CONFIRM if remaining >= MIN_CONFIRM_TTL else GIVE_BACK
    if state == EDITING:
        return LOSE
    if seen.position is None:
        return LOSE
    if seen.owner is None and remaining >= MIN_CONFIRM_TTL:
        # Nobody holds it live, yet there is a line: the lease ran out and
        # waits for the call that hands it on.
        return HAND_ON
    return KEEP


def next_check(state: Optional[str], *, deadline: float, expires_at: Optional[datetime], now: float,
               wall_now: datetime) -> Optional[float]:
    """Seconds until a session should look again on its own, or None.

    A holder looks at its own lease's end; a waiter at the earlier of the
    holder's expiry and its own deadline (its place lapsing); a viewer at
    the holder's expiry.  ``deadline``
    and ``now`` are monotonic seconds, ``expires_at`` and ``wall_now``
    datetimes of the database's and this server's clocks.
    """
    if state == VIEWING:
        # A viewer's own lease is its client's affair; it looks again when
        # the holder's lease ends, to show who edits then.
        if expires_at is None:
            return None
        return max((expires_at - wall_now).total_seconds() + CHECK_MARGIN, CHECK_MIN_DELAY)
    if state not in (EDITING, WAITING):
        return None
    delay = deadline - now
    if expires_at is not None:
        delay = min(delay, (expires_at - wall_now).total_seconds())
    elif state == WAITING:
        delay = 0.0  # no live holder: the hand-off is due
    return max(delay + CHECK_MARGIN, CHECK_MIN_DELAY)


# ---- database calls, in a thread ----


class DatabaseUnavailable(OperationalError):
    """The database cannot be reached (twice in a row, on a fresh connection)."""


_CONNECTION_SQLSTATES = ("57P01", "57P02", "57P03")


def connection_lost(exc: BaseException) -> bool:
    """True for an error of the connection rather than of the statement:
    no SQLSTATE (the socket closed, connecting failed), class 08, or the
    server shutting down or starting up (57P01, 57P02, 57P03)."""
    code = _db.sqlstate(exc)
    return code is None or code.startswith("08") or code in _CONNECTION_SQLSTATES


def _call(using: str, fn: Callable[..., Any], args: tuple) -> Any:
    close_old_connections()
    try:
        try:
            return fn(*args)
        except (OperationalError, InterfaceError) as exc:
            if not connection_lost(exc):
                raise
            # A connection the server dropped (a restart) fails once: try
            # again on a fresh one before calling the database unreachable.
            connections[using].close()
        try:
            return fn(*args)
        except (OperationalError, InterfaceError) as exc:
            if connection_lost(exc):
                raise DatabaseUnavailable(str(exc)) from exc
            raise
    finally:
        close_old_connections()


async def in_thread(using: str, fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in a worker thread with Django's connection of
    ``using`` (as ``channels.db.database_sync_to_async`` does, closing
    obsolete connections around it).  Not thread-sensitive: sessions' calls
    run in parallel, one connection per worker thread; keep ``CONN_MAX_AGE``
    above 0 so that the threads keep them.

    Raises ``DatabaseUnavailable`` when the database cannot be reached.
    """
    return await sync_to_async(_call, thread_sensitive=False)(using, fn, args)


@dataclass
class SocketRequest:
    """What ``LOCKABLE_LOCK_PERMISSION(request, uid)`` gets from a websocket:
    the authenticated ``user`` and the ASGI ``scope``."""

    user: Any
    scope: Dict[str, Any]
    method: str = "WEBSOCKET"


def may_lock(request: SocketRequest, uid: str) -> bool:
    """True if ``LOCKABLE_LOCK_PERMISSION`` (None: anyone authenticated) lets
    the request's user lock uid."""
    allowed = lockable_settings.LOCK_PERMISSION
    return True if allowed is None else bool(allowed(request, uid))


# ---- limits ----


class RateLimit:
    """A token bucket: ``rate`` messages a second on average, in bursts of up
    to twice that (at least one).  ``allow()`` takes a token, or says no."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.capacity = max(1.0, 2 * rate)
        self.tokens = self.capacity
        self._clock = clock
        self._at = clock()

    def allow(self) -> bool:
        """True if one more message fits the rate now (and count it)."""
        now = self._clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._at) * self.rate)
        self._at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def message_too_big(text_data: Optional[str], bytes_data: Optional[bytes], limit: int) -> bool:
    """True if a frame is over ``limit`` bytes (text counted as UTF-8)."""
    if bytes_data is not None:
        return len(bytes_data) > limit
    if text_data is None:
        return False
    # Each character is at least one byte: most frames are judged without
    # encoding them.
    return len(text_data) > limit or len(text_data.encode("utf-8", "surrogatepass")) > limit


# ---- logout ----

LOGOUT_CHANNEL = "lockable_logout"
"""The notification channel of logouts: each payload is a ``login_key``.
The bridge listens on it beside ``lockable``."""
LOGOUT_SQL = "SELECT pg_catalog.pg_notify(%s, %s)"


def login_key(session_key: str) -> str:
    """What names a login session in a logout notice: an HMAC of its session
    key with the site's ``SECRET_KEY``, so that the notice names no session
    key, and nobody without the secret can name a session (anyone may
    ``NOTIFY``)."""
    from django.utils.crypto import salted_hmac

    return salted_hmac("django_lockable.live.logout", session_key, algorithm="sha256").hexdigest()


def login_key_of(scope: Dict[str, Any]) -> Optional[str]:
    """The ``login_key`` of the socket's session (``AuthMiddlewareStack``'s
    ``scope["session"]``), or None when it has none."""
    session = scope.get("session")
    key = getattr(session, "session_key", None) if session is not None else None
    return login_key(key) if isinstance(key, str) and key else None


def close_sockets_on_logout(sender: Any, request: Any = None, user: Any = None, **kwargs: Any) -> None:
    """The ``user_logged_out`` receiver (connected by the app config): tell
    every server, through PostgreSQL (``NOTIFY lockable_logout``), to close
    the live-editing sockets of the session that logs out, with 4401.

    Sent in the request's transaction (a savepoint of it): the notice goes
    out when the logout commits.  ``LOCKABLE_CLOSE_ON_LOGOUT = False`` turns
    it off.  A database error is logged, never raised: the logout goes on.
    """
    from django.db import transaction

    if not lockable_settings.CLOSE_ON_LOGOUT:
        return
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if not isinstance(key, str) or not key:
        return
    using = lockable_settings.DATABASE
    try:
        with transaction.atomic(using=using):
            with connections[using].cursor() as cur:
                cur.execute(LOGOUT_SQL, [LOGOUT_CHANNEL, login_key(key)])
    except DatabaseError as exc:
        logger.warning("could not tell the servers to close the sockets of a session that logged out: %s", exc)


# ---- the sessions of a process ----


Send = Callable[[Dict[str, Any]], Awaitable[None]]
Close = Callable[[int], Awaitable[None]]


class Registry:
    """The live-editing sessions of one process, kept with its notification
    bridge (the package's one global): the sessions of each owner, and the
    ``UidHub`` of each uid that a session uses."""

    def __init__(self) -> None:
        self.owners: Dict[str, Set[LockSession]] = {}
        self.hubs: Dict[str, UidHub] = {}

    def sockets(self, owner: str) -> int:
        """How many sessions of owner are open in this process."""
        return len(self.owners.get(owner, ()))

    def add(self, session: "LockSession") -> None:
        """Count session among its user's (``user_owner``)."""
        self.owners.setdefault(session.user_owner, set()).add(session)

    def discard(self, session: "LockSession") -> None:
        """Stop counting session (harmless if it was not counted)."""
        sessions = self.owners.get(session.user_owner)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self.owners[session.user_owner]

    def hub(self, uid: str, using: str) -> "UidHub":
        """The hub of uid (made on first use)."""
        found = self.hubs.get(uid)
        if found is None:
            found = self.hubs[uid] = UidHub(uid, using)
        return found

    def release_hub(self, hub: "UidHub") -> None:
        """Forget hub once no session uses it."""
        if not hub.sessions and self.hubs.get(hub.uid) is hub:
            del self.hubs[hub.uid]
            hub.close()


def registry_of(bridge: Any) -> Registry:
    """The registry kept with ``bridge`` (made on first use)."""
    found = getattr(bridge, "live", None)
    if found is None:
        found = Registry()
        bridge.live = found
    return found


def logged_out(login: Optional[str], bridge: Any = None) -> bool:
    """True if this process heard lately that the login session logged out
    (``bridge``: None, the running loop's)."""
    from .notifications import get_bridge

    return login is not None and (bridge or get_bridge()).logged_out(login)


def too_many_sockets(owner: str, bridge: Any = None) -> bool:
    """True if owner has ``LOCKABLE_MAX_SOCKETS_PER_USER`` sessions open in
    this process already (``bridge``: None, the running loop's)."""
    from .notifications import get_bridge

    limit = lockable_settings.MAX_SOCKETS_PER_USER
    return limit is not None and registry_of(bridge or get_bridge()).sockets(owner) >= limit


class UidHub:
    """The sessions of one uid in one process, and what they share:

    - their looks (``want_look``): the sessions that ask for one while a look
      is due or under way share the next, at most one per ``LOOK_GAP``; each
      session then acts on what it saw (``LockSession.apply_line``);
    - one database call of theirs at a time (``run``), so that a lock row an
      open transaction holds blocks one worker thread; waiting for the turn
      is bounded by ``LOCKABLE_LOCK_TIMEOUT`` too.  The hub's own looks
      (reads, bounded as every call) do not wait for that turn.
    """

    def __init__(self, uid: str, using: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.uid = uid
        self.using = using
        self.sessions: Set[LockSession] = set()
        self.looks = 0
        """How many looks the hub made (for tests and monitoring)."""
        self.line: Optional[Line] = None
        """What the last look saw (presence included), or None before one."""
        self.events: Deque[Any] = deque(maxlen=32)
        """The uid's latest events that end a grant or a place (``LOSS_EVENTS``)."""
        self._notes: List[Any] = []
        """``requested`` and ``declined`` events, for the next look to check."""
        self._last_event: Any = None
        self._last_name_fetch = float("-inf")
        self._presence_timer: Optional[asyncio.TimerHandle] = None
        self._gate = asyncio.Lock()
        self._wanting: Dict[LockSession, None] = {}
        self._task: Optional[asyncio.Task[None]] = None
        self._last_look = float("-inf")
        self._due = False
        self._woken = asyncio.Event()
        self._clock = clock

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``in_thread(fn, *args)``, after the other calls of this uid's
        sessions in this process.  Raises ``LockTimeout`` if the turn does not
        come within ``LOCKABLE_LOCK_TIMEOUT``, and what ``in_thread`` raises."""
        bound = lockable_settings.LOCK_TIMEOUT
        try:
            await asyncio.wait_for(self._gate.acquire(), bound.total_seconds())
        except TimeoutError:
            raise _core.LockTimeout(
                f"the calls on {self.uid!r} waited {bound.total_seconds():g} s for each other "
                "(LOCKABLE_LOCK_TIMEOUT): try again later", lock_timeout=bound) from None
        try:
            return await in_thread(self.using, fn, *args)
        finally:
            self._gate.release()

    def event(self, event: Any) -> None:
        """An event of the bridge, which each session of the uid hands on:
        kept once (the bridge gives one event to all of them in a row).
        A ``saved`` is told to the sessions at once; a ``requested`` or
        ``declined`` waits for the next look, which checks it."""
        if event is self._last_event:
            return
        self._last_event = event
        if event.event in LOSS_EVENTS:
            self.events.append(event)
        elif event.event in ("requested", "declined"):
            self._notes.append(event)
            del self._notes[:-32]
        elif event.event == "saved":
            asyncio.ensure_future(self._announce_saved(event))

    async def _announce_saved(self, event: Any) -> None:
        """Tell every session of the uid but the writer's (its owner) that
        the record was saved, with the new version and who saved it.  A
        writer whose name the process does not know (usually it does: the
        holder is in the presence) is looked up at most once a second per
        uid, so that forged notifications cost little."""
        person = NAMES.person(event.owner)
        now = self._clock()
        if person is not None and person["user_id"] is not None and person["name"] is None \
                and now - self._last_name_fetch >= 1.0:
            self._last_name_fetch = now
            try:
                await in_thread(self.using, NAMES.fetch, [event.owner], self.using)
            except DatabaseUnavailable:
                pass
        message = {"type": "saved", "version": event.version, "by": NAMES.person(event.owner)}
        for session in list(self.sessions):
            if session.active and session.owner != event.owner:
                await session.notify(message)

    def presence(self) -> Tuple[List[Dict[str, Any]], int]:
        """``presence_of_line`` of the last look."""
        return presence_of_line(self.line)

    def _deliver_notes(self, line: Line) -> List[Tuple["LockSession", Dict[str, Any]]]:
        """The ``request`` and ``declined`` messages the notes make, checked
        against a look: a request reaches the holder it names if the asker
        has a place in the line; a refusal reaches the asker if it still
        waits and the one who said no holds the lock."""
        notes, self._notes = self._notes, []
        out: List[Tuple[LockSession, Dict[str, Any]]] = []
        for note in notes:
            if note.owner is None or note.holder is None or line.owner != note.holder:
                continue
            for session in self.sessions:
                if not session.active:
                    continue
                if (note.event == "requested" and session.state == EDITING and session.owner == note.holder
                        and note.owner in line.owners):
                    out.append((session, {"type": "request", "from": NAMES.person(note.owner),
                                          "message": note.message}))
                elif note.event == "declined" and session.state == WAITING and session.owner == note.owner:
                    out.append((session, {"type": "declined", "by": NAMES.person(note.holder)}))
        return out

    def _schedule_presence_look(self, line: Line) -> None:
        """Look again when the first presence lease would lapse, so that the
        sessions stop showing a client that went silent."""
        if self._presence_timer is not None:
            self._presence_timer.cancel()
            self._presence_timer = None
        if line.present_until is None or not self.sessions:
            return
        delay = max((line.present_until - datetime.now(UTC)).total_seconds() + CHECK_MARGIN, CHECK_MIN_DELAY)
        self._presence_timer = asyncio.get_running_loop().call_later(delay, self._presence_due)

    def _presence_due(self) -> None:
        self._presence_timer = None
        for session in list(self.sessions):
            if session.active:
                self.want_look(session, due=True)

    def close(self) -> None:
        """No session uses the hub any more: stop its timer."""
        if self._presence_timer is not None:
            self._presence_timer.cancel()
            self._presence_timer = None

    def want_look(self, session: "LockSession", due: bool = False) -> "asyncio.Task[None]":
        """Count session in for the next look; return the task that makes it.

        ``due``: the look was due by the clock (a lease or a place ending),
        not asked by a hint: it is made without the pause between looks
        (timers are few: at most one per session and ``CHECK_MIN_DELAY``)."""
        self._wanting[session] = None
        if due:
            self._due = True
            self._woken.set()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._look_loop())
        return self._task

    async def _look_loop(self) -> None:
        while self._wanting:
            pause = self._last_look + LOOK_GAP - self._clock()
            if pause > 0 and not self._due:
                try:  # the pause ends early for a look that is due
                    await asyncio.wait_for(self._woken.wait(), pause)
                except TimeoutError:
                    pass
            self._woken.clear()
            sessions = [session for session in self._wanting if session.active]
            self._wanting = {}
            self._due = False
            if not sessions:
                continue
            generations = {session: session.generation for session in sessions}
            self._last_look = self._clock()
            try:
                # Not in the queue of the sessions' calls: a look only reads
                # (it never waits for a lock row), and one waiting behind the
                # heartbeats of every socket of the uid delays the hand-off.
                line = await in_thread(self.using, look_and_name, self.uid, self.using)
            except (DatabaseUnavailable, _core.LockTimeout) as exc:
                await asyncio.gather(*(session.try_again_later(exc) for session in sessions))
                continue
            except Exception:  # a task of its own: nobody else would see it
                logger.exception("the sessions of %r: a look failed", self.uid)
                continue
            finally:
                self._last_look = self._clock()
            self.looks += 1
            self.line = line
            self._schedule_presence_look(line)
            # The head of the line first: its turn for the calls comes
            # first, so that when the lease ran out its own acquire is the
            # one that hands it the lock.
            sessions.sort(key=lambda session: line.look_for(session.owner).position or len(line.owners) + 1)
            wrote = await asyncio.gather(*(session.apply_line(line, generations[session]) for session in sessions))
            for session, message in self._deliver_notes(line):
                await session.notify(message)
            if any(wrote):
                # A session changed the lock or the line: the hints that
                # follow are the database's own news, looked at without a pause.
                self._last_look = float("-inf")


# ---- the session ----


# ---- a session's database calls (each run in a worker thread) ----


def join(uid: str, owner: str, ttl: timedelta, queue: bool, idle: bool,
         using: _db.Using = "default") -> Tuple[LockStatus, bool]:
    """The client's own acquire (``queue``: or a place in line) for the
    full ttl, and its presence lease renewed with ``idle``, in one
    statement where the database keeps presence.  Returns the status and
    whether the presence change is news (``presence_touch``'s result)."""
    if not _db.features(using).presence:
        return _core.acquire(uid, owner, ttl, None, queue, using), False
    row = _db.call_one(using, _ACQUIRE_TOUCH_SQL, [uid, owner, ttl, idle, uid, owner, ttl, timedelta(0), queue],
                       lockable_settings.LOCK_TIMEOUT)
    changed = bool(row.pop("presence_changed"))
    return LockStatus.from_row(row), changed


def touch(uid: str, owner: str, ttl: timedelta, idle: bool, using: _db.Using = "default") -> bool:
    """Renew owner's presence lease on uid for ttl (False, and nothing
    done, where the database keeps no presence)."""
    if not _db.features(using).presence:
        return False
    return bool(_db.call_value(using, _TOUCH_SQL, [uid, owner, ttl, idle], lockable_settings.LOCK_TIMEOUT))


def view(uid: str, owner: str, ttl: timedelta, idle: bool, using: _db.Using = "default") -> Line:
    """A viewer's ``touch``, then ``look_and_name``: what it sees."""
    touch(uid, owner, ttl, idle, using)
    return look_and_name(uid, using)


def release_and_leave(uid: str, owner: str, release: bool, leave: bool, using: _db.Using = "default") -> None:
    """Release owner's lock or place on uid (``release``) and remove its
    presence lease (``leave``), in one statement where both are asked."""
    presence = leave and _db.features(using).presence
    if release and presence:
        _db.call_one(using, _RELEASE_LEAVE_SQL, [uid, owner, uid, owner], lockable_settings.LOCK_TIMEOUT)
    elif release:
        _core.release(uid, owner, using)
    elif presence:
        _db.call_value(using, _LEAVE_SQL, [uid, owner], lockable_settings.LOCK_TIMEOUT)


def waiter_named(line: Line, to: Any) -> Optional[str]:
    """The owner in line that ``to`` names: that owner itself, or the first
    in line order whose user id is ``to`` (an int or its text); None if
    nobody waiting matches."""
    if isinstance(to, str) and to in line.owners:
        return to
    for owner in line.owners:
        user_id = _core.parse_user_id(owner)
        if user_id is not None and (user_id == to or str(user_id) == str(to)):
            return owner
    return None


def hand_over_to(uid: str, holder: str, to: Any, using: _db.Using = "default") -> Tuple[Optional[bool], Optional[str]]:
    """Hand uid from holder to the waiter ``to`` names (``waiter_named``), with
    the ttl its place asked for: ``(handed, owner)``; ``(None, None)`` when
    ``to`` names nobody in the line."""
    from . import _transfer

    target = waiter_named(look_line(uid, using), to)
    if target is None:
        return None, None
    return _transfer.hand_over(uid, holder, target, None, using), target


def decline_to(uid: str, holder: str, to: Any, using: _db.Using = "default") -> Tuple[Optional[bool], Optional[str]]:
    """Say no to the waiter ``to`` names: ``(declined, owner)``; ``(None,
    None)`` when ``to`` names nobody in the line."""
    from . import _transfer

    target = waiter_named(look_line(uid, using), to)
    if target is None:
        return None, None
    return _transfer.decline(uid, holder, target, using), target


def take_over_as(request: SocketRequest, uid: str, owner: str, ttl: timedelta, reason: Optional[str], idle: bool,
                 using: str) -> Tuple[LockStatus, Optional[str]]:
    """Take uid for owner (the socket's, maybe a tab's): from another tab of
    the same user by a hand over from it (no permission asked: the
    database role needs only ``lockable_user``), else by
    ``policy.take_over_for`` (the permission, and ``lockable_admin``).
    Then the client's own ``join`` renews the grant (same token) and its
    presence.  Returns the status and the owner displaced (None if none).

    Raises ``policy.TakeOverDenied``, ``LockAdminRequired``,
    ``TransferNotSupported`` and what the calls raise."""
    from . import _transfer, policy

    current = _core.peek(uid, using=using)
    previous = None if current is None else current.owner
    if not (previous is not None and previous != owner and policy.is_same_user(request.user, previous)
            and _transfer.hand_over(uid, previous, owner, ttl, using)):
        # Another user's lock (or nobody's, or it changed hands meanwhile):
        # the policy judges the holder the take over really displaces.
        previous = policy.take_over_for(request, uid, reason, ttl, using=using, owner=owner).previous_owner
    status, _ = join(uid, owner, ttl, False, idle, using)
    return status, previous


class LockSession:
    """One websocket's lock session (see the module's rules).

    ``owner`` is the user's lock owner (``owner_for``); a ``lock`` or
    ``view`` with a ``tab`` makes the session's ``owner`` that tab's
    (``_core.tab_owner``: ``user:7#<tab>``), while ``user_owner`` stays the
    user's.  ``send`` sends a message to the client, ``close(code)`` closes
    its socket; ``bridge`` is the process's ``NotificationBridge`` (None:
    ``get_bridge()``); ``login`` the ``login_key`` of the socket's login
    session, so that its logout closes it.  The session watches its uid on
    the bridge while it edits, waits or views.

    Calls: ``handle(content)`` for each client message, ``end()`` when the
    socket closed (releases the lock or leaves the line, and the presence).
    The bridge calls ``lock_event``, ``resync`` and ``logged_out``; each
    only schedules work.  All of a session's database work runs one call at
    a time.
    """

    def __init__(self, owner: str, *, send: Send, close: Close, ttl: Optional[timedelta] = None,
                 request: Optional[SocketRequest] = None, using: Optional[str] = None,
                 bridge: Any = None, login: Optional[str] = None,
                 clock: Callable[[], float] = time.monotonic):
        from .notifications import get_bridge

        self.owner = owner
        """The owner the session locks and is present as: the user's, or a tab's."""
        self.user_owner = owner
        """The user's owner (``owner_for``), which the limits count by."""
        self.ttl = lockable_settings.TTL if ttl is None else ttl
        self.using = using or lockable_settings.DATABASE
        self.request = request
        self.bridge = bridge if bridge is not None else get_bridge()
        self.registry = registry_of(self.bridge)
        self.login = login
        self._send_to_client = send
        self._close_socket = close
        self._clock = clock
        self.uid: Optional[str] = None
        self.state: Optional[str] = None
        """None before the first ``lock`` or ``view``, then ``editing``,
        ``waiting``, ``viewing`` or ``lost``."""
        self.token: Optional[int] = None
        self.idle = False
        """What the client said last: no input for ``LOCKABLE_IDLE``."""
        self.deadline = 0.0
        """Monotonic time at which the lease or place the client's last
        ``lock``/``heartbeat`` asked for ends (at the latest)."""
        self.expires_at: Optional[datetime] = None
        """The holder's expiry, as the database last said."""
        self.asked: Optional[str] = None
        """The holder this waiter asked (``request``) and has no answer from."""
        self.generation = 0
        """Counts the session's changes of state: a look made before the
        last one is looked at again, not believed."""
        self.ended = False
        self.unavailable = False
        """True once the socket was closed with 4503 (the database unreachable,
        or a call that timed out): nothing is given up."""
        self.gone = False
        """True once a send failed: the connection was cut."""
        self.last_message: Optional[Dict[str, Any]] = None
        self._mutex = asyncio.Lock()
        self._timer: Optional[asyncio.TimerHandle] = None
        self._hub: Optional[UidHub] = None
        self._recheck_task: Optional[asyncio.Task[None]] = None
        """The look this session waits for, if any."""
        self.registry.add(self)
        if login is not None:
            self.bridge.watch_login(login, self)

    @property
    def active(self) -> bool:
        """True while the session edits, waits or views on an open socket."""
        return not self.ended and self.state in (EDITING, WAITING, VIEWING)

    # ---- client messages ----

    async def handle(self, content: Any) -> None:
        """Act on one decoded client message; reply with a status or an error."""
        from ._transfer import TransferNotSupported

        try:
            request = parse_request(content)
        except BadMessage as exc:
            await self._send(error_message(str(exc)), reply=True)
            return
        async with self._mutex:
            if self.ended:
                return
            try:
                await getattr(self, "_" + request.action)(request)
            except BadMessage as exc:
                await self._send(error_message(str(exc)), reply=True)
            except (DatabaseUnavailable, _core.LockTimeout) as exc:
                await self.try_again_later(exc)
            except QueueNotSupported:
                await self._send(error_message("this server's lockable has no waiting line (lockable 1.2)"),
                                 reply=True)
            except TransferNotSupported:
                await self._send(error_message(
                    "this server's lockable cannot move locks: asking, handing over and taking over need "
                    "lockable 1.4"), reply=True)
            except DatabaseError as exc:
                diag = _db.diagnostics(exc)
                text = getattr(diag, "message_primary", None) or str(exc).strip()
                logger.warning("lock session of %s on %r: %s", self.owner, self.uid, text)
                await self._send(error_message(f"the database refused: {text}"), reply=True)

    def _owner_of_tab(self, tab: Optional[str]) -> str:
        if tab is None:
            return self.user_owner
        try:
            return _core.tab_owner(self.user_owner, tab)
        except ValueError as exc:
            raise BadMessage(str(exc)) from None

    async def _may_use(self, uid: str, owner: str) -> None:
        """The checks of ``lock`` and ``view``: one uid and one owner per
        socket while it is there, and ``LOCKABLE_LOCK_PERMISSION``."""
        if self.uid is not None and uid != self.uid and self.active:
            raise BadMessage(f"this socket already edits, waits for or views {self.uid!r}: send unlock first")
        if self.active and owner != self.owner:
            raise BadMessage("this socket is there as another tab: send unlock first")
        if self.request is not None:
            try:
                allowed = await in_thread(self.using, may_lock, self.request, uid)
            except (DatabaseUnavailable, DatabaseError):
                raise
            except Exception:  # the site's own callable failed: refuse, and say why in the log
                logger.exception("LOCKABLE_LOCK_PERMISSION failed on %r for %s", uid, self.owner)
                allowed = False
            if not allowed:
                raise BadMessage("you may not lock this resource")

    async def _lock(self, request: Request) -> None:
        uid = request.uid
        assert uid is not None
        owner = self._owner_of_tab(request.tab)
        await self._may_use(uid, owner)
        refusal = await in_thread(self.using, _core.too_many_uids, owner, uid, self.using)
        if refusal is not None:
            raise BadMessage(refusal)
        self.owner = owner
        if self.uid != uid:
            self._attach(uid)
        # Watch before acquiring: an event between the two is not missed.
        self.bridge.watch(uid, self)
        self.idle = request.idle
        await self._acquire(queue=True, holding=False)

    async def _view(self, request: Request) -> None:
        uid = request.uid
        assert uid is not None
        owner = self._owner_of_tab(request.tab)
        if self.uid == uid and self.state in (EDITING, WAITING):
            raise BadMessage(f"this socket already edits or waits for {uid!r}: send unlock first, then view")
        await self._may_use(uid, owner)
        self.owner = owner
        if self.uid != uid:
            self._attach(uid)
        self.bridge.watch(uid, self)
        self.idle = request.idle
        started = self._clock()
        line = await self._run(view, uid, self.owner, self.ttl, self.idle, self.using)
        self.deadline = started + self.ttl.total_seconds()
        self._saw(line)
        seen = line.look_for(self.owner)
        self._set_state(VIEWING, None, seen.expires_at)
        await self._send(message_of_look(uid, VIEWING, seen, **self._extra(VIEWING, seen.owner)), reply=True)

    async def _heartbeat(self, request: Request) -> None:
        if self.uid is None:
            raise BadMessage("this socket holds no lock and no place: send lock first")
        self.idle = request.idle
        if self.state == VIEWING:
            started = self._clock()
            await self._run(touch, self.uid, self.owner, self.ttl, self.idle, self.using)
            self.deadline = started + self.ttl.total_seconds()
            await self._send(self._status_now(), reply=True)
            return
        if self.state not in (EDITING, WAITING):
            await self._send(self.last_message or status_message(self.uid, LOST), reply=True)
            return
        holding = self.state == EDITING
        await self._acquire(queue=not holding, holding=holding)

    async def _unlock(self, request: Request) -> None:
        if self.uid is None:
            raise BadMessage("this socket holds no lock and no place: nothing to unlock")
        if self.active:
            await self._run(release_and_leave, self.uid, self.owner,
                            self.state in (EDITING, WAITING) and not self._shared_with_another_socket(),
                            not self._shared_with_another_socket(presence=True), self.using)
        self._set_state(LOST, None)
        line = await self._look()
        await self._send(message_of_look(self.uid, LOST, line.look_for(self.owner),
                                         **{**self._extra(LOST), "reason": RELEASED}), reply=True)

    async def _request(self, request: Request) -> None:
        from . import _transfer

        if self.uid is None or self.state != WAITING:
            raise BadMessage("only a waiter asks for the lock: this socket does not wait for it")
        holder = (self.last_message or {}).get("owner")
        if self.asked is not None and self.asked == holder:
            raise BadMessage("you have asked already: wait for the answer")
        asked = await self._run(_transfer.request, self.uid, self.owner, request.message, self.using)
        if not asked:
            raise BadMessage("you have no place in this lock's line, or nobody holds it: there is nobody to ask")
        self.asked = holder
        await self._send(self._status_now(), reply=True)

    async def _hand_over(self, request: Request) -> None:
        if self.uid is None or self.state != EDITING:
            raise BadMessage("only the holder hands the lock over: this socket does not edit")
        handed, target = await self._run(hand_over_to, self.uid, self.owner, request.to, self.using)
        if handed is None:
            raise BadMessage("nobody of that id waits for this lock: one hands it over to someone in the line")
        if not handed:
            self._want_recheck()
            raise BadMessage("you do not hold this lock: only its holder may hand it over")
        await self._lose(HANDED_OVER, target, reply=True)

    async def _decline(self, request: Request) -> None:
        if self.uid is None or self.state != EDITING:
            raise BadMessage("only the holder declines a request: this socket does not edit")
        declined, _ = await self._run(decline_to, self.uid, self.owner, request.to, self.using)
        if declined is None:
            raise BadMessage("nobody of that id waits for this lock")
        if not declined:
            self._want_recheck()
            raise BadMessage("you do not hold this lock: only its holder may decline")
        await self._send(self._status_now(), reply=True)

    async def _take_over(self, request: Request) -> None:
        from . import policy
        from ._transfer import LockAdminRequired

        if self.uid is None:
            raise BadMessage("this socket has no lock to take over: send lock or view first")
        if self.state == EDITING:
            raise BadMessage("this socket holds the lock already")
        if self.request is None:
            raise BadMessage("you may not take this lock over")
        self.idle = request.idle
        started = self._clock()
        self.bridge.watch(self.uid, self)
        try:
            status, _ = await self._run(take_over_as, self.request, self.uid, self.owner, self.ttl, request.reason,
                                        self.idle, self.using)
        except policy.TakeOverDenied:
            raise BadMessage("you may not take this lock over") from None
        except LockAdminRequired as exc:
            logger.error("live editing cannot take %r over: %s", self.uid, exc)
            raise BadMessage("this server cannot take locks over: its database role lacks lockable_admin") from None
        except ValueError as exc:
            raise BadMessage(str(exc)) from None
        finally:
            if self.state not in (EDITING, WAITING, VIEWING):
                self.bridge.unwatch(self.uid, self)
        self.deadline = started + self.ttl.total_seconds()
        state = state_of(status, holding=False)
        self._set_state(state, status.token if state == EDITING else None, status.expires_at)
        if state == LOST:
            self.bridge.unwatch(self.uid, self)
        await self._send(message_of(self.uid, state, status, **self._extra(state, status.owner)), reply=True)

    async def _acquire(self, *, queue: bool, holding: bool) -> None:
        """The client's own acquire: the full ttl, from now, and its presence."""
        assert self.uid is not None
        started = self._clock()
        old_token = self.token
        status, _ = await self._run(join, self.uid, self.owner, self.ttl, queue, self.idle, self.using)
        self.deadline = started + self.ttl.total_seconds()
        state = state_of(status, holding=holding)
        if state == LOST:
            # Handed on while the client edited, or the place lapsed: why,
            # from the events heard.
            seen = Look(status.owner, status.token, status.expires_at, status.waiters or 0, status.position)
            reason, by = loss_reason(self.owner, old_token, seen, self._hub.events if self._hub else (),
                                     lease_over=self._lease_over())
            await self._run(release_and_leave, self.uid, self.owner, False,
                            not self._shared_with_another_socket(presence=True), self.using)
            self._set_state(LOST, None, status.expires_at)
            await self._send(message_of(self.uid, LOST, status, **{**self._extra(LOST), "reason": reason,
                                                                  "by": NAMES.person(by)}), reply=True)
            return
        self._set_state(state, status.token if state == EDITING else None, status.expires_at)
        if self._hub is not None and self._hub.line is None:
            await self._look()  # the first session of the uid here: presence to report
        await self._send(message_of(self.uid, state, status, **self._extra(state, status.owner)), reply=True)

    def _lease_over(self) -> bool:
        return self._clock() >= self.deadline or (
            self.expires_at is not None and self.expires_at <= datetime.now(UTC) and self.state == EDITING)

    async def _lose(self, reason: str, by: Optional[str], reply: bool = False) -> None:
        """The session lost its lock or place (``reason``; ``by`` the owner it
        went to): leave the presence and tell the client."""
        assert self.uid is not None
        if not self._shared_with_another_socket(presence=True):
            await self._run(release_and_leave, self.uid, self.owner, False, True, self.using)
        self._set_state(LOST, None)
        line = await self._look()
        if by is not None:
            await in_thread(self.using, NAMES.fetch, [by], self.using)
        await self._send(message_of_look(self.uid, LOST, line.look_for(self.owner), **{**self._extra(LOST),
                                         "reason": reason, "by": NAMES.person(by)}), reply=reply)

    def _extra(self, state: str, holder: Optional[str] = None) -> Dict[str, Any]:
        """The fields of a status beyond the lock's: presence, and why it waits."""
        presence, count = self._hub.presence() if self._hub is not None else ([], 0)
        reason = waiting_reason(self.owner, holder) if state == WAITING else None
        return {"presence": presence, "presence_count": count, "reason": reason, "by": None}

    def _status_now(self) -> Dict[str, Any]:
        """The client's last status, with the presence of the last look."""
        assert self.uid is not None
        base = dict(self.last_message or status_message(self.uid, self.state or LOST))
        presence, count = self._hub.presence() if self._hub is not None else ([], 0)
        base.update(presence=presence, presence_count=count)
        return base

    def _saw(self, line: Line) -> None:
        if self._hub is not None:
            self._hub.line = line

    async def _look(self) -> Line:
        """A look of the session's own (presence and names included), kept
        as the hub's latest."""
        assert self.uid is not None
        line = await self._run(look_and_name, self.uid, self.using)
        self._saw(line)
        return line

    def _attach(self, uid: str) -> None:
        """Use uid's hub (leaving the hub, and the watch, of the uid before)."""
        self._detach()
        self.uid = uid
        self._hub = self.registry.hub(uid, self.using)
        self._hub.sessions.add(self)

    def _detach(self) -> None:
        if self.uid is not None:
            self.bridge.unwatch(self.uid, self)
        if self._hub is not None:
            self._hub.sessions.discard(self)
            self.registry.release_hub(self._hub)
            self._hub = None

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A database call on the session's uid, through its hub."""
        assert self._hub is not None
        return await self._hub.run(fn, *args)

    # ---- the socket closed ----

    async def end(self) -> None:
        """The socket closed (or the consumer failed): release the lock or
        leave the line, and the presence (unless the database was
        unreachable, or another socket of this process edits, waits or views
        as the same owner), and stop watching.  Never raises for the
        database: what cannot be released runs out by itself."""
        if self.ended:
            return
        was_there = self.state in (EDITING, WAITING, VIEWING)
        self.ended = True
        self._cancel_timer()
        self.registry.discard(self)
        if self.login is not None:
            self.bridge.unwatch_login(self.login, self)
        async with self._mutex:
            if self.uid is None:
                return
            self.bridge.unwatch(self.uid, self)
            try:
                if was_there and not self.unavailable:
                    release = self.state in (EDITING, WAITING) and not self._shared_with_another_socket()
                    leave = not self._shared_with_another_socket(presence=True)
                    if release or leave:
                        await self._run(release_and_leave, self.uid, self.owner, release, leave, self.using)
            except DatabaseError as exc:  # LockTimeout and DatabaseUnavailable included
                logger.warning("could not release %r for %s (its lease runs out by itself): %s",
                               self.uid, self.owner, exc)
            finally:
                self._detach()

    def _shared_with_another_socket(self, presence: bool = False) -> bool:
        # Two sockets of one owner (two tabs without tab ids, or a reload)
        # share its lock, and its presence.
        assert self.uid is not None
        states = (EDITING, WAITING, VIEWING) if presence else (EDITING, WAITING)
        return any(other is not self and other.uid == self.uid and other.owner == self.owner
                   and not other.ended and other.state in states
                   for other in self.registry.owners.get(self.user_owner, ()))

    # ---- the bridge and the timer ----

    def lock_event(self, event: Any) -> None:
        """A hint from the bridge: look at the database soon (a ``saved`` is
        told to the client without a look)."""
        if self._hub is not None:
            self._hub.event(event)
        if getattr(event, "event", None) != "saved":
            self._want_recheck()

    def resync(self) -> None:
        """Events may have been missed: look at the database soon."""
        self._want_recheck()

    def logged_out(self) -> None:
        """The socket's login session logged out (on any server): tell the
        client ``lost`` (``logged_out``), close the socket with 4401, and
        release."""
        if not self.ended:
            asyncio.ensure_future(self._logged_out())

    async def _logged_out(self) -> None:
        if self.uid is not None and self.active:
            await self._send(dict(self._status_now(), state=LOST, token=None, position=None,
                                  reason=LOGGED_OUT, by=None))
        await self.close_and_end(CLOSE_UNAUTHENTICATED, "its session logged out")

    def _want_recheck(self, due: bool = False) -> None:
        if not self.active or self._hub is None:
            return
        self._recheck_task = self._hub.want_look(self, due)

    def _timer_fired(self) -> None:
        self._timer = None
        self._want_recheck(due=True)

    async def apply_line(self, line: Line, generation: int) -> bool:
        """Act on a look of the hub (made when the session was at
        ``generation``) and tell the client if anything changed; a look that
        predates a change of the session is made again.  True if the session
        wrote (an acquire or a release): the hints that follow are real."""
        async with self._mutex:
            if not self.active:
                return False
            if self.generation != generation:
                self._want_recheck()
                return False
            try:
                return await self._act_on(line.look_for(self.owner))
            except (DatabaseUnavailable, _core.LockTimeout) as exc:
                await self.try_again_later(exc)
            except Exception:  # a task of the hub's: nobody else would see it
                logger.exception("lock session of %s on %r: a look failed", self.owner, self.uid)
            return False

    async def _act_on(self, seen: Look) -> bool:
        """Act on what a look saw; True if that took a write."""
        assert self.uid is not None and self.state in (EDITING, WAITING, VIEWING)
        if self.asked is not None and seen.owner != self.asked:
            self.asked = None  # another holder never saw the request
        remaining = timedelta(seconds=self.deadline - self._clock())
        action = decide(self.state, self.token, self.owner, seen, remaining)
        if action in (CONFIRM, HAND_ON):
            await self._confirm(remaining)
            return True
        if action == GIVE_BACK:
            await self._run(release_and_leave, self.uid, self.owner, True,
                            not self._shared_with_another_socket(presence=True), self.using)
            self._set_state(LOST, None)
            line = await self._look()
            await self._send(message_of_look(self.uid, LOST, line.look_for(self.owner), **{**self._extra(LOST),
                                             "reason": EXPIRED}))
            return True
        if action == LOSE:
            assert self._hub is not None
            reason, by = loss_reason(self.owner, self.token, seen, self._hub.events, self._lease_over())
            await self._lose(reason, by)
            return True
        self._set_state(self.state, self.token, seen.expires_at)
        await self._send(message_of_look(self.uid, self.state, seen, self.token,
                                         **self._extra(self.state, seen.owner)))
        return False

    async def _confirm(self, remaining: timedelta) -> None:
        """An acquire that renews, but not beyond the client's deadline: the
        only way a session tells its client ``editing`` on its own."""
        assert self.uid is not None
        holding = self.state == EDITING
        status = await self._run(_core.acquire, self.uid, self.owner, remaining, None, not holding, self.using)
        state = state_of(status, holding=holding)
        if state != WAITING:
            self.asked = None
        self._set_state(state, status.token if state == EDITING else None, status.expires_at)
        extra = self._extra(state, status.owner)
        if state == LOST:
            extra.update(reason=EXPIRED)
            if not self._shared_with_another_socket(presence=True):
                await self._run(release_and_leave, self.uid, self.owner, False, True, self.using)
        await self._send(message_of(self.uid, state, status, **extra))

    def _set_state(self, state: str, token: Optional[int], expires_at: Optional[datetime] = None) -> None:
        self.state = state
        self.token = token
        self.expires_at = expires_at
        self.generation += 1
        self._cancel_timer()
        if state == LOST and self.uid is not None:
            self.asked = None
            self.bridge.unwatch(self.uid, self)
            return
        delay = next_check(state, deadline=self.deadline, expires_at=expires_at, now=self._clock(),
                           wall_now=datetime.now(UTC))
        if delay is not None and not self.ended:
            self._timer = asyncio.get_running_loop().call_later(delay, self._timer_fired)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ---- talking to the client ----

    async def notify(self, message: Dict[str, Any]) -> None:
        """Send a message that is not a status (``request``, ``declined``,
        ``saved``); a ``declined`` ends the waiter's pending request."""
        if message.get("type") == "declined":
            self.asked = None
        await self._send(message)

    async def _send(self, message: Dict[str, Any], reply: bool = False) -> None:
        """Send a message; a status the client already has is not sent again,
        unless it answers the client (a heartbeat always gets its reply)."""
        if self.ended or self.gone:
            return
        if message.get("type") == "status":
            if message == self.last_message and not reply:
                return
            self.last_message = message
        try:
            await self._send_to_client(message)
        except Exception as exc:  # the server's own class: autobahn's Disconnected under Daphne
            # The client is gone (its connection cut); the server tells the
            # consumer so in a moment, and end() releases then.
            self.gone = True
            logger.info("lock session of %s on %r: the socket is gone (%s)", self.owner, self.uid, exc)

    async def try_again_later(self, reason: BaseException) -> None:
        """The database cannot be reached, or a call timed out: close with
        4503, giving nothing up (the client reconnects and joins again)."""
        if self.unavailable:
            return
        self.unavailable = True
        logger.warning("lock session of %s on %r: %s; closing the socket (try again later)",
                       self.owner, self.uid, "the database cannot be reached"
                       if isinstance(reason, DatabaseUnavailable) else reason)
        self._cancel_timer()
        await self._close(CLOSE_TRY_AGAIN_LATER)

    async def close_and_end(self, code: int, why: str) -> None:
        """Close the socket with code and end the session (releasing: see
        ``end``); for a limit, a logout or a failure of the consumer."""
        logger.info("lock session of %s on %r: closing the socket with %d: %s", self.owner, self.uid, code, why)
        await self._close(code)
        await self.end()

    async def _close(self, code: int) -> None:
        try:
            await self._close_socket(code)
        except Exception as exc:  # the server's own class, as in _send: the socket is gone already
            self.gone = True
            logger.info("lock session of %s on %r: could not close the socket (%s)", self.owner, self.uid, exc)
