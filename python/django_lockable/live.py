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
- **The database unreachable** (a restart): the session gives nothing up
  and has its socket closed with 4503, "try again later".  The client
  reconnects and sends ``lock``, which renews the lock or place that
  outlived the outage.

Server messages: ``{"type": "status", "uid", "state", "owner", "user_id",
"position", "waiters", "expires_at", "token"}`` with ``state`` one of
``editing``, ``waiting``, ``lost``, and ``{"type": "error", "message"}``.
"""
import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Awaitable, Callable, Dict, Optional

from asgiref.sync import sync_to_async
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connections

from . import _core, _db
from ._conf import lockable_settings
from ._core import MAX_NAME_BYTES, LockStatus, QueueNotSupported

logger = logging.getLogger(__name__)

EDITING = "editing"
WAITING = "waiting"
LOST = "lost"
STATES = (EDITING, WAITING, LOST)
ACTIONS = ("lock", "heartbeat", "unlock")

# Close codes: 4xxx, the application's range of RFC 6455, which every ASGI
# server sends (Daphne's autobahn refuses 1011 and 1013).  The same table is
# in lockable.js (CLOSE_CODES) and in python/README.md ("Close codes"), and
# a test keeps the three alike.
CLOSE_UNAUTHENTICATED = 4401
"""Close code for an anonymous socket (as HTTP 401)."""
CLOSE_SERVER_ERROR = 4500
"""Close code for a server misconfiguration: ``LOCKABLE_OWNER`` named no
owner for the user (as HTTP 500)."""
CLOSE_TRY_AGAIN_LATER = 4503
"""Close code when the database cannot be reached: nothing was given up,
reconnect later (as HTTP 503)."""
CLOSE_CODES = {
    CLOSE_UNAUTHENTICATED: "unauthenticated",
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

_LOOK_SQL = (
    "SELECT a.owner, a.token, a.expires_at,"
    "       (SELECT pg_catalog.count(*) FROM lockable.lock_queue AS q WHERE q.uid = u.uid)::integer,"
    "       (SELECT q.position FROM lockable.lock_queue AS q WHERE q.uid = u.uid AND q.owner = %s)"
    "  FROM (SELECT %s::text AS uid) AS u"
    "  LEFT JOIN lockable.active_locks AS a ON a.uid = u.uid"
)


# ---- messages ----


class BadMessage(ValueError):
    """A client message the session cannot act on; its text goes back in an
    ``error`` message, and the connection stays open."""


@dataclass(frozen=True)
class Request:
    """One client message: ``action`` is ``lock``, ``heartbeat`` or ``unlock``;
    ``uid`` comes with ``lock``."""

    action: str
    uid: Optional[str] = None


def parse_request(content: Any) -> Request:
    """Return the request of a decoded JSON message.

    Raises ``BadMessage`` for anything but an object with a known
    ``action``, and for a ``lock`` without a uid of 1 to 512 bytes.
    """
    if not isinstance(content, dict):
        raise BadMessage("a message is a JSON object with an \"action\"")
    action = content.get("action")
    if action not in ACTIONS:
        raise BadMessage(f"unknown action {action!r}: expected one of {', '.join(ACTIONS)}")
    if action != "lock":
        return Request(action)
    uid = content.get("uid")
    if not isinstance(uid, str) or not uid or len(uid.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise BadMessage(f"lock needs a \"uid\": a string of 1 to {MAX_NAME_BYTES} bytes")
    if "\x00" in uid:
        raise BadMessage("a uid cannot contain NUL (0x00) characters")
    try:
        uid.encode("utf-8")
    except UnicodeEncodeError:
        raise BadMessage("a uid must be valid Unicode (no lone surrogates)") from None
    return Request(action, uid)


def error_message(text: str) -> Dict[str, Any]:
    """The ``error`` message for a bad client message."""
    return {"type": "error", "message": text}


def _iso(value: Optional[datetime]) -> Optional[str]:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def status_message(uid: str, state: str, *, owner: Optional[str] = None, token: Optional[int] = None,
                   expires_at: Optional[datetime] = None, waiters: Optional[int] = None,
                   position: Optional[int] = None) -> Dict[str, Any]:
    """The ``status`` message: ``owner``, ``user_id`` and ``expires_at`` describe
    the live holder (None when nobody holds the lock live); ``token`` is the
    client's own fencing token while it edits; ``position`` its place in line
    while it waits (1 = next); ``waiters`` the line's length."""
    assert state in STATES
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


def look(uid: str, owner: str, using: _db.Using = "default") -> Look:
    """Read uid's live holder and line from ``lockable.active_locks`` and
    ``lockable.lock_queue`` (one query, no writes)."""
    row = _db.call_one(using, _LOOK_SQL, [owner, uid], lockable_settings.LOCK_TIMEOUT)
    return Look(*row.values())


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


def message_of(uid: str, state: str, status: LockStatus) -> Dict[str, Any]:
    """The status message for an acquire's result in ``state``."""
    return status_message(uid, state, owner=status.owner, token=status.token if state == EDITING else None,
                          expires_at=status.expires_at, waiters=status.waiters,
                          position=status.position if state == WAITING else None)


def message_of_look(uid: str, state: str, seen: Look, token: Optional[int] = None) -> Dict[str, Any]:
    """The status message for what a look saw, in ``state``."""
    return status_message(uid, state, owner=seen.owner, token=token if state == EDITING else None,
                          expires_at=seen.expires_at, waiters=seen.waiters,
                          position=seen.position if state == WAITING else None)


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
    holder's expiry and its own deadline (its place lapsing).  ``deadline``
    and ``now`` are monotonic seconds, ``expires_at`` and ``wall_now``
    datetimes of the database's and this server's clocks.
    """
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


# ---- the session ----


Send = Callable[[Dict[str, Any]], Awaitable[None]]
Close = Callable[[int], Awaitable[None]]


class LockSession:
    """One websocket's lock session (see the module's rules).

    ``owner`` is the user's lock owner (``owner_for``); ``send`` sends a
    message to the client, ``close(code)`` closes its socket; ``bridge`` is
    the process's ``NotificationBridge`` (None: ``get_bridge()``).  The
    session watches its uid on the bridge while it edits or waits.

    Calls: ``handle(content)`` for each client message, ``end()`` when the
    socket closed (releases the lock or leaves the line).  The bridge calls
    ``lock_event`` and ``resync``; both only schedule a look.  All of a
    session's database work runs one call at a time.
    """

    def __init__(self, owner: str, *, send: Send, close: Close, ttl: Optional[timedelta] = None,
                 request: Optional[SocketRequest] = None, using: Optional[str] = None,
                 bridge: Any = None, clock: Callable[[], float] = time.monotonic):
        from .notifications import get_bridge

        self.owner = owner
        self.ttl = lockable_settings.TTL if ttl is None else ttl
        self.using = using or lockable_settings.DATABASE
        self.request = request
        self.bridge = bridge if bridge is not None else get_bridge()
        self._send_to_client = send
        self._close_socket = close
        self._clock = clock
        self.uid: Optional[str] = None
        self.state: Optional[str] = None
        """None before the first ``lock``, then ``editing``, ``waiting`` or ``lost``."""
        self.token: Optional[int] = None
        self.deadline = 0.0
        """Monotonic time at which the lease or place the client's last
        ``lock``/``heartbeat`` asked for ends (at the latest)."""
        self.expires_at: Optional[datetime] = None
        """The holder's expiry, as the database last said."""
        self.ended = False
        self.unavailable = False
        """True once the socket was closed because the database was unreachable."""
        self.gone = False
        """True once a send failed: the connection was cut."""
        self.last_message: Optional[Dict[str, Any]] = None
        self._mutex = asyncio.Lock()
        self._timer: Optional[asyncio.TimerHandle] = None
        self._recheck_wanted = False
        self._hint_mine = False
        self._recheck_task: Optional[asyncio.Task[None]] = None

    # ---- client messages ----

    async def handle(self, content: Any) -> None:
        """Act on one decoded client message; reply with a status or an error."""
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
            except DatabaseUnavailable:
                await self._unavailable()
            except QueueNotSupported:
                await self._send(error_message("this server's lockable has no waiting line (lockable 1.2)"),
                                 reply=True)
            except DatabaseError as exc:
                diag = _db.diagnostics(exc)
                text = getattr(diag, "message_primary", None) or str(exc).strip()
                logger.warning("lock session of %s on %r: %s", self.owner, self.uid, text)
                await self._send(error_message(f"the database refused: {text}"), reply=True)

    async def _lock(self, request: Request) -> None:
        uid = request.uid
        assert uid is not None
        if self.uid is not None and uid != self.uid and self.state in (EDITING, WAITING):
            raise BadMessage(f"this socket already edits or waits for {self.uid!r}: send unlock first")
        if self.request is not None and not await in_thread(self.using, may_lock, self.request, uid):
            raise BadMessage("you may not lock this resource")
        if self.uid is not None and uid != self.uid:
            self.bridge.unwatch(self.uid, self)
        self.uid = uid
        # Watch before acquiring: an event between the two is not missed.
        self.bridge.watch(uid, self)
        await self._acquire(queue=True, holding=False)

    async def _heartbeat(self, request: Request) -> None:
        if self.uid is None:
            raise BadMessage("this socket holds no lock and no place: send lock first")
        if self.state not in (EDITING, WAITING):
            await self._send(self.last_message or status_message(self.uid, LOST), reply=True)
            return
        holding = self.state == EDITING
        await self._acquire(queue=not holding, holding=holding)

    async def _unlock(self, request: Request) -> None:
        if self.uid is None:
            raise BadMessage("this socket holds no lock and no place: nothing to unlock")
        if self.state in (EDITING, WAITING) and not self._shared_with_another_socket():
            await in_thread(self.using, _core.release, self.uid, self.owner, self.using)
        self._set_state(LOST, None)
        seen = await in_thread(self.using, look, self.uid, self.owner, self.using)
        await self._send(message_of_look(self.uid, LOST, seen), reply=True)

    async def _acquire(self, *, queue: bool, holding: bool) -> None:
        """The client's own acquire: the full ttl, from now."""
        assert self.uid is not None
        started = self._clock()
        status = await in_thread(self.using, _core.acquire, self.uid, self.owner, self.ttl, None, queue, self.using)
        self.deadline = started + self.ttl.total_seconds()
        state = state_of(status, holding=holding)
        self._set_state(state, status.token if state == EDITING else None, status.expires_at)
        await self._send(message_of(self.uid, state, status), reply=True)

    # ---- the socket closed ----

    async def end(self) -> None:
        """The socket closed: release the lock or leave the line (unless the
        database was unreachable, or another socket of this process edits or
        waits as the same owner), and stop watching."""
        if self.ended:
            return
        self.ended = True
        self._cancel_timer()
        async with self._mutex:
            if self.uid is None:
                return
            self.bridge.unwatch(self.uid, self)
            if self.state in (EDITING, WAITING) and not self.unavailable and not self._shared_with_another_socket():
                try:
                    await in_thread(self.using, _core.release, self.uid, self.owner, self.using)
                except DatabaseError as exc:
                    logger.warning("could not release %r for %s (its lease runs out by itself): %s",
                                   self.uid, self.owner, exc)

    def _shared_with_another_socket(self) -> bool:
        # Two tabs of one user are one owner: the lock is theirs together.
        assert self.uid is not None
        return any(other is not self and getattr(other, "owner", None) == self.owner
                   and getattr(other, "state", None) in (EDITING, WAITING) and not getattr(other, "ended", True)
                   for other in self.bridge.watchers(self.uid))

    # ---- the bridge and the timer ----

    def lock_event(self, event: Any) -> None:
        """A hint from the bridge: look at the database soon."""
        if event.event == "acquired" and event.owner == self.owner:
            self._hint_mine = True
        self._want_recheck()

    def resync(self) -> None:
        """Events may have been missed: look at the database soon."""
        self._want_recheck()

    def _want_recheck(self) -> None:
        if self.ended or self.state not in (EDITING, WAITING):
            return
        self._recheck_wanted = True
        if self._recheck_task is None or self._recheck_task.done():
            self._recheck_task = asyncio.ensure_future(self._recheck_loop())

    async def _recheck_loop(self) -> None:
        # Hints that arrive while a look is under way make one more look,
        # however many they are.
        while self._recheck_wanted and not self.ended:
            self._recheck_wanted = False
            async with self._mutex:
                if self.ended or self.state not in (EDITING, WAITING):
                    return
                try:
                    await self.recheck()
                except DatabaseUnavailable:
                    await self._unavailable()
                    return
                except Exception:  # a task of its own: nobody else would see it
                    logger.exception("lock session of %s on %r: a look failed", self.owner, self.uid)

    async def recheck(self) -> None:
        """Look at the database and tell the client if anything changed.

        Called with the session's lock held (by the bridge's hints, the
        timer and resyncs, through ``_recheck_loop``)."""
        assert self.uid is not None and self.state in (EDITING, WAITING)
        remaining = timedelta(seconds=self.deadline - self._clock())
        if self._hint_mine and self.state == WAITING and remaining >= MIN_CONFIRM_TTL:
            # "acquired" for this owner: straight to the confirming acquire.
            self._hint_mine = False
            await self._confirm(remaining)
            return
        self._hint_mine = False
        seen = await in_thread(self.using, look, self.uid, self.owner, self.using)
        action = decide(self.state, self.token, self.owner, seen, remaining)
        if action in (CONFIRM, HAND_ON):
            await self._confirm(remaining)
        elif action == GIVE_BACK:
            await in_thread(self.using, _core.release, self.uid, self.owner, self.using)
            self._set_state(LOST, None)
            seen = await in_thread(self.using, look, self.uid, self.owner, self.using)
            await self._send(message_of_look(self.uid, LOST, seen))
        elif action == LOSE:
            self._set_state(LOST, None)
            await self._send(message_of_look(self.uid, LOST, seen))
        else:
            self._set_state(self.state, self.token, seen.expires_at)
            await self._send(message_of_look(self.uid, self.state, seen, self.token))

    async def _confirm(self, remaining: timedelta) -> None:
        """An acquire that renews, but not beyond the client's deadline: the
        only way a session tells its client ``editing`` on its own."""
        assert self.uid is not None
        holding = self.state == EDITING
        status = await in_thread(self.using, _core.acquire, self.uid, self.owner, remaining, None,
                                 not holding, self.using)
        state = state_of(status, holding=holding)
        self._set_state(state, status.token if state == EDITING else None, status.expires_at)
        await self._send(message_of(self.uid, state, status))

    def _set_state(self, state: str, token: Optional[int], expires_at: Optional[datetime] = None) -> None:
        self.state = state
        self.token = token
        self.expires_at = expires_at
        self._cancel_timer()
        if state == LOST and self.uid is not None:
            self.bridge.unwatch(self.uid, self)
            return
        delay = next_check(state, deadline=self.deadline, expires_at=expires_at, now=self._clock(),
                           wall_now=datetime.now(UTC))
        if delay is not None and not self.ended:
            self._timer = asyncio.get_running_loop().call_later(delay, self._want_recheck)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # ---- talking to the client ----

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

    async def _unavailable(self) -> None:
        """The database cannot be reached: close with 4503, giving nothing up."""
        if self.unavailable:
            return
        self.unavailable = True
        logger.warning("lock session of %s on %r: the database cannot be reached; closing the socket",
                       self.owner, self.uid)
        self._cancel_timer()
        try:
            await self._close_socket(CLOSE_TRY_AGAIN_LATER)
        except Exception as exc:  # the server's own class, as in _send: the socket is gone already
            self.gone = True
            logger.info("lock session of %s on %r: could not close the socket (%s)", self.owner, self.uid, exc)
