"""The notification bridge: lockable's LISTEN/NOTIFY events, delivered to the
live-editing sessions of this server process.

Terms:

- *event*: one notification on channel ``lockable`` (``acquired``,
  ``released``, ``broken``, ``expired``, ``queued``, ``left``; from 1.4
  ``taken_over``, ``handed_over``, ``requested``, ``declined``, ``saved``
  and ``presence``; see the extension's README, "Notification payload"),
  parsed into a ``LockEvent``.
- *watcher*: anything that wants the events of a uid; in practice one
  ``django_lockable.live.LockSession`` per open websocket.  A watcher has two
  non-blocking methods: ``lock_event(event)`` and ``resync()``.
- *node*: a PostgreSQL server to listen on.  The first is the database
  itself (``LOCKABLE_LISTEN_DATABASE``, by default ``LOCKABLE_DATABASE``);
  ``LOCKABLE_LISTEN_NODES`` adds more, and on a Citus cluster (when
  ``pg_dist_node`` exists) every active primary node it lists is added, since
  a lock function delegated to a worker sends its notification there.

The protocol, which every part of the package relies on:

1. There is one bridge per event loop, so one per server process under
   Daphne or Uvicorn, and it holds one LISTEN connection per node
   (psycopg 3, ``AsyncConnection.notifies()``).  It is the package's only
   global state.
2. Events are hints.  Anyone may ``NOTIFY lockable``, and events are lost
   while a connection is down.  A watcher that hears one looks at the
   database; it never believes the payload.
3. When a node's connection is lost, and again when it is back, every
   watcher is told to ``resync()``: it looks at the database itself.  The
   first resync lets sessions find out at once that the database is gone
   (their calls fail, and their clients reconnect); the second catches up on
   what happened while nobody listened.
4. Reconnection backs off exponentially, from ``BACKOFF_MIN`` to
   ``BACKOFF_MAX`` seconds, with jitter, and starts again from the minimum
   after a successful connection.
5. Servers share nothing but PostgreSQL: no channel layer (Redis) is needed
   for lock events.
6. Logouts travel the same way, on channel ``lockable_logout``
   (``django_lockable.live.LOGOUT_CHANNEL``): each payload names one login
   session by its ``login_key`` (an HMAC with the site's secret key), and
   the watchers of that login (``watch_login``) are told ``logged_out()``.
"""
import asyncio
import json
import logging
import random
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Protocol, Sequence, Set, Tuple

import psycopg

from .live import LOGOUT_CHANNEL

logger = logging.getLogger(__name__)

CHANNEL = "lockable"
EVENTS = frozenset({"acquired", "released", "broken", "expired", "queued", "left",
                    "taken_over", "handed_over", "requested", "declined", "saved", "presence"})

BACKOFF_MIN = 0.1
"""Seconds before the first reconnection attempt."""
BACKOFF_MAX = 3.0
"""The longest pause between two reconnection attempts, in seconds."""

LOGGED_OUT_MEMORY = 60.0
"""Seconds a bridge remembers a logout notice, to refuse new sockets of that
session: Django's logout sends its signal before it deletes the session."""
LOGGED_OUT_KEPT = 10000
"""The most logout notices a bridge remembers (the oldest go first)."""

APPLICATION_NAME = "django-lockable listener"
"""The ``application_name`` of the bridge's sessions, as pg_stat_activity shows it."""

# libpq parameters the bridge adds unless the node's own say otherwise:
# a dead TCP peer is noticed within about a minute, a dead server at once.
_DEFAULT_PARAMETERS = {
    "application_name": APPLICATION_NAME,
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

# Django's OPTIONS that are not libpq parameters.
_NOT_LIBPQ = frozenset({"isolation_level", "cursor_factory", "server_side_binding", "assume_role",
                        "pool", "context"})

_CITUS_SQL = (
    "SELECT pg_catalog.to_regclass('pg_catalog.pg_dist_node') IS NOT NULL"
    "   AND pg_catalog.to_regclass('pg_catalog.pg_dist_local_group') IS NOT NULL"
)
_CITUS_NODES_SQL = (
    "SELECT n.groupid, n.nodename, n.nodeport,"
    "       (SELECT l.groupid FROM pg_catalog.pg_dist_local_group AS l LIMIT 1)"
    "  FROM pg_catalog.pg_dist_node AS n"
    " WHERE n.isactive AND n.noderole = 'primary'"
    " ORDER BY n.groupid"
)


@dataclass(frozen=True)
class LockEvent:
    """One notification of the extension, parsed.

    ``owner`` is the holder or waiter the event is about; ``token`` comes
    with ``acquired``, ``released``, ``broken`` and ``expired``, ``position``
    with ``queued``; ``waiters`` is the line's length after the event.
    """

    event: str
    uid: str
    owner: Optional[str] = None
    token: Optional[int] = None
    position: Optional[int] = None
    waiters: Optional[int] = None
    previous_owner: Optional[str] = None
    """``taken_over``, ``handed_over``: the owner of the grant that ended."""
    previous_token: Optional[int] = None
    holder: Optional[str] = None
    """``requested``, ``declined``: the holder asked, or who said no."""
    message: Optional[str] = None
    """``requested``: the asker's message."""
    version: Optional[int] = None
    """``saved``: the row's new version."""


def parse_event(payload: str) -> Optional[LockEvent]:
    """Return the ``LockEvent`` of a ``lockable`` payload, or None if it is not
    one (not JSON, not an object, an unknown event, no string uid).

    Forged payloads parse like real ones: events are hints only.
    """
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("event") not in EVENTS or not isinstance(data.get("uid"), str):
        return None

    def number(name: str) -> Optional[int]:
        value = data.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def text(value: Any) -> Optional[str]:
        return value if isinstance(value, str) else None

    previous = data.get("previous")
    if not isinstance(previous, dict):
        previous = {}
    previous_token = previous.get("token")
    return LockEvent(event=data["event"], uid=data["uid"], owner=text(data.get("owner")),
                     token=number("token"), position=number("position"), waiters=number("waiters"),
                     previous_owner=text(previous.get("owner")),
                     previous_token=previous_token if isinstance(previous_token, int)
                     and not isinstance(previous_token, bool) else None,
                     holder=text(data.get("holder")), message=text(data.get("message")),
                     version=number("version"))


class Watcher(Protocol):
    """What the bridge calls; both calls must return at once (schedule work)."""

    def lock_event(self, event: LockEvent) -> None:
        """An event for a watched uid arrived."""

    def resync(self) -> None:
        """Events may have been missed: look at the database."""


@dataclass(frozen=True)
class Node:
    """A PostgreSQL server to listen on: libpq parameters, and where they came from."""

    params: Tuple[Tuple[str, Any], ...]
    origin: str
    """``"database"``, ``"setting"`` or ``"citus"``."""

    @classmethod
    def of(cls, params: Dict[str, Any], origin: str) -> "Node":
        merged = {**_DEFAULT_PARAMETERS, **{k: v for k, v in params.items() if v not in (None, "")}}
        return cls(tuple(sorted(merged.items())), origin)

    @property
    def conninfo(self) -> Dict[str, Any]:
        """The parameters as keyword arguments for ``psycopg.AsyncConnection.connect``."""
        return dict(self.params)

    @property
    def name(self) -> str:
        """``host:port/dbname``, for logs."""
        info = self.conninfo
        return f"{info.get('host', '(default host)')}:{info.get('port', '(default port)')}/{info.get('dbname', '')}"

    @property
    def key(self) -> Tuple[Any, Any, Any]:
        """What makes two nodes the same server and database."""
        info = self.conninfo
        return (str(info.get("host", "")), str(info.get("port", "")), info.get("dbname"))


def database_parameters(alias: str) -> Dict[str, Any]:
    """The libpq parameters of a Django database alias (PostgreSQL backend).

    Django's connection parameters (psycopg2's keywords: ``database`` is
    libpq's ``dbname``) without the OPTIONS that are Django's own.
    """
    from django.db import connections

    params = dict(connections[alias].get_connection_params())
    if "database" in params:
        params["dbname"] = params.pop("database")
    return {key: value for key, value in params.items() if key not in _NOT_LIBPQ}


def citus_nodes(rows: Iterable[Sequence[Any]], base: Dict[str, Any]) -> List[Node]:
    """The nodes to listen on, besides the one queried, from Citus metadata.

    ``rows`` are ``(groupid, nodename, nodeport, local_groupid)`` of the
    active primary nodes (``_CITUS_NODES_SQL``); the node whose group is the
    local one is the server already listened on and is skipped.  Each node
    gets ``base`` (the database's own parameters) with its host and port.
    """
    nodes = []
    for groupid, nodename, nodeport, local_groupid in rows:
        if groupid == local_groupid:
            continue
        nodes.append(Node.of({**base, "host": nodename, "port": nodeport}, "citus"))
    return nodes


def _jitter(delay: float) -> float:
    return delay * random.uniform(0.8, 1.2)


@dataclass
class _Listener:
    node: Node
    task: "asyncio.Task[None]"
    connected: bool = False
    connections: int = 0
    """How many times it connected (1 + reconnections)."""
    backend_pid: Optional[int] = None
    """The server process of the current connection."""


@dataclass
class NotificationBridge:
    """One process's LISTEN connections and the watchers of each uid.

    ``watch``/``unwatch`` register a watcher for a uid; the first ``watch``
    starts listening.  Events are dispatched to the watchers of their uid, in
    the order a node delivers them.  See the module's docstring for
    reconnection and resync.
    """

    primary: Node
    extra: Sequence[Node] = ()
    backoff_min: float = BACKOFF_MIN
    backoff_max: float = BACKOFF_MAX
    _watchers: Dict[str, Set[Watcher]] = field(default_factory=dict)
    _listeners: Dict[Tuple[Any, Any, Any], _Listener] = field(default_factory=dict)
    _logins: Dict[str, Set[Any]] = field(default_factory=dict)
    _logged_out: "OrderedDict[str, float]" = field(default_factory=OrderedDict)
    events: int = 0
    """Events dispatched so far (for tests and monitoring)."""
    resyncs: int = 0
    """Resyncs of every watcher so far."""
    logouts: int = 0
    """Logout notices heard so far."""
    live: Any = None
    """The live-editing sessions of this process (``django_lockable.live``'s
    ``Registry``), kept here so that the bridge stays the one global."""

    @classmethod
    def from_settings(cls) -> "NotificationBridge":
        """The bridge the settings describe: the listen database, and
        ``LOCKABLE_LISTEN_NODES`` over its parameters."""
        from ._conf import lockable_settings

        base = database_parameters(lockable_settings.LISTEN_DATABASE)
        extra = [Node.of({**base, **node}, "setting") for node in lockable_settings.LISTEN_NODES]
        return cls(primary=Node.of(base, "database"), extra=extra)

    # ---- watchers ----

    def watch(self, uid: str, watcher: Watcher) -> None:
        """Deliver the events of uid to watcher (and resyncs); starts listening."""
        self._watchers.setdefault(uid, set()).add(watcher)
        self.start()

    def unwatch(self, uid: str, watcher: Watcher) -> None:
        """Stop delivering uid's events to watcher; harmless if it did not watch."""
        watchers = self._watchers.get(uid)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[uid]

    def watch_login(self, login: str, watcher: Any) -> None:
        """Tell watcher ``logged_out()`` when a logout notice names login (a
        ``login_key``); starts listening."""
        self._logins.setdefault(login, set()).add(watcher)
        self.start()

    def unwatch_login(self, login: str, watcher: Any) -> None:
        """Stop telling watcher of login's logout; harmless if it did not watch."""
        watchers = self._logins.get(login)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._logins[login]

    def dispatch_logout(self, payload: str) -> None:
        """Tell the watchers of the login a logout notice names, and remember
        it for ``LOGGED_OUT_MEMORY`` seconds (``logged_out``)."""
        self.logouts += 1
        now = time.monotonic()
        self._logged_out[payload] = now + LOGGED_OUT_MEMORY
        self._logged_out.move_to_end(payload)
        while self._logged_out and (len(self._logged_out) > LOGGED_OUT_KEPT
                                    or next(iter(self._logged_out.values())) < now):
            self._logged_out.popitem(last=False)
        for watcher in list(self._logins.get(payload, ())):
            try:
                watcher.logged_out()
            except Exception:
                logger.exception("a watcher failed on a logout")

    def logged_out(self, login: str) -> bool:
        """True if a logout notice named login lately: a socket of a session
        that is logging out (the notice is sent before Django deletes the
        session) must not get in."""
        until = self._logged_out.get(login)
        return until is not None and until > time.monotonic()

    def watchers(self, uid: str) -> Set[Watcher]:
        """The watchers of uid in this process (a copy)."""
        return set(self._watchers.get(uid, ()))

    @property
    def connected(self) -> bool:
        """True while every node's connection is up and listening."""
        return bool(self._listeners) and all(listener.connected for listener in self._listeners.values())

    def connections(self) -> Dict[str, int]:
        """How many times each node's listener connected, by node name."""
        return {listener.node.name: listener.connections for listener in self._listeners.values()}

    def backend_pids(self) -> List[int]:
        """The server processes of the connections that are up now."""
        return [listener.backend_pid for listener in self._listeners.values()
                if listener.connected and listener.backend_pid is not None]

    def dispatch(self, payload: str) -> None:
        """Deliver one ``lockable`` payload to the watchers of its uid."""
        event = parse_event(payload)
        if event is None:
            logger.debug("ignoring a lockable notification that is not an event: %r", payload[:200])
            return
        self.events += 1
        for watcher in self.watchers(event.uid):
            try:
                watcher.lock_event(event)
            except Exception:  # one broken watcher must not starve the others
                logger.exception("a watcher of %r failed on %s", event.uid, event.event)

    def resync_all(self) -> None:
        """Tell every watcher to look at the database."""
        self.resyncs += 1
        for watchers in list(self._watchers.values()):
            for watcher in list(watchers):
                try:
                    watcher.resync()
                except Exception:
                    logger.exception("a watcher failed to resync")

    # ---- listening ----

    def start(self) -> None:
        """Start listening on every node, if not yet (the first watch does it)."""
        if self._listeners:
            return
        self._add_listener(self.primary)
        for node in self.extra:
            self._add_listener(node)

    def _add_listener(self, node: Node) -> None:
        if node.key in self._listeners:
            return
        task = asyncio.get_running_loop().create_task(self._listen(node), name=f"lockable listener {node.name}")
        self._listeners[node.key] = _Listener(node, task)

    async def close(self) -> None:
        """Stop listening (the connections close)."""
        listeners, self._listeners = list(self._listeners.values()), {}
        await asyncio.gather(*(stop_task(listener.task) for listener in listeners))

    async def _listen(self, node: Node) -> None:
        """Listen on node for ever: connect, LISTEN, dispatch; reconnect with
        backoff; resync every watcher when the connection is lost and when it
        is back."""
        delay = self.backoff_min
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(autocommit=True, **node.conninfo)
            except (psycopg.Error, OSError) as exc:
                logger.warning("cannot listen on %s (next try in %.1f s): %s", node.name, delay, exc)
                await asyncio.sleep(_jitter(delay))
                delay = min(delay * 2, self.backoff_max)
                continue
            listener = self._listeners.get(node.key)
            try:
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    await conn.execute(f"LISTEN {LOGOUT_CHANNEL}")
                    if node is self.primary:
                        try:
                            await self._discover(conn)
                        except psycopg.DatabaseError as exc:  # keep listening here, without the nodes
                            logger.warning("cannot read the Citus nodes through %s: %s", node.name, exc)
                    if listener is not None:
                        listener.connected = True
                        listener.connections += 1
                        listener.backend_pid = conn.info.backend_pid
                        if listener.connections > 1:
                            logger.info("listening on %s again", node.name)
                    delay = self.backoff_min
                    # Whatever happened before this moment was not heard.
                    self.resync_all()
                    async for notify in conn.notifies():
                        if notify.channel == LOGOUT_CHANNEL:
                            self.dispatch_logout(notify.payload)
                        else:
                            self.dispatch(notify.payload)
            except (psycopg.Error, OSError) as exc:
                logger.warning("lost the listening connection to %s: %s", node.name, exc)
            finally:
                if listener is not None:
                    listener.connected = False
            # The database may be gone: every session finds out for itself.
            self.resync_all()
            await asyncio.sleep(_jitter(delay))
            delay = min(delay * 2, self.backoff_max)

    async def _discover(self, conn: "psycopg.AsyncConnection[Any]") -> None:
        """On a Citus cluster, listen on every active primary node as well."""
        cur = await conn.execute(_CITUS_SQL)
        row = await cur.fetchone()
        if not (row and row[0]):
            return
        cur = await conn.execute(_CITUS_NODES_SQL)
        base = {k: v for k, v in self.primary.conninfo.items() if k not in ("host", "port", "hostaddr")}
        wanted = citus_nodes(await cur.fetchall(), base)
        wanted_keys = {node.key for node in wanted}
        for key, listener in list(self._listeners.items()):
            if listener.node.origin == "citus" and key not in wanted_keys:
                del self._listeners[key]
                asyncio.ensure_future(stop_task(listener.task))
        for node in wanted:
            self._add_listener(node)


async def stop_task(task: "asyncio.Task[Any]") -> None:
    """Cancel task until it has stopped.

    One cancel is not always enough: psycopg 3.1 connects through
    ``asyncio.wait_for``, which on Python 3.11 loses a cancellation that
    races with the connection's completion (fixed in 3.12).
    """
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.5)


_bridges: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, NotificationBridge]" = weakref.WeakKeyDictionary()


def get_bridge() -> NotificationBridge:
    """The bridge of the running event loop, made from the settings on first use."""
    loop = asyncio.get_running_loop()
    bridge = _bridges.get(loop)
    if bridge is None:
        bridge = _bridges[loop] = NotificationBridge.from_settings()
    return bridge
