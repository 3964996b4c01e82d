"""The package's settings: every one, its default, and how it is read.

Settings are read from ``django.conf.settings`` on every access, never
cached, so ``override_settings`` in tests and changes at run time apply at
once.  Values are normalized here (seconds become ``timedelta``, dotted paths
become callables) so the rest of the package sees one form only.

================================  ===============  ==========================================
setting                           default          meaning
================================  ===============  ==========================================
LOCKABLE_OWNER                    None             callable ``(user) -> str`` (or its dotted
                                                   path) naming a user's lock owner; None:
                                                   ``"user:<pk>"``
LOCKABLE_TTL                      60 (seconds)     lease of a lock or place when none is
                                                   given
LOCKABLE_MAX_TTL                  600 (seconds)    the longest ttl a REST client may ask for
                                                   (400 above it)
LOCKABLE_LOCK_PERMISSION          None             callable ``(request, uid) -> bool`` (or
                                                   its dotted path): may this request lock
                                                   uid? None: any authenticated user
LOCKABLE_TAKE_OVER_PERMISSION     None             callable ``(request, uid, holder) ->
                                                   bool`` (or its dotted path): may this
                                                   request take uid over from holder (an
                                                   owner, or None when nobody holds it)?
                                                   None: staff users, and users with the
                                                   permission
                                                   ``django_lockable.take_over_lock``. A user
                                                   may always take over from their own other
                                                   tab or session, whatever it says
LOCKABLE_DISPLAY_NAME             None             callable ``(user) -> str`` (or its dotted
                                                   path): how a user is named to others (who
                                                   took a lock over); None: the full name,
                                                   else the user name
LOCKABLE_DATABASE                 "default"        database alias of the REST views,
                                                   ``Mutex``, ``writing_as``,
                                                   ``lockable_sweep``, the live editing
                                                   consumer and the admin's lock pages
LOCKABLE_LISTEN_DATABASE          None             database alias whose connection parameters
                                                   the notification bridge listens with;
                                                   None: as ``LOCKABLE_DATABASE``
LOCKABLE_LISTEN_NODES             ()               further PostgreSQL nodes to listen on:
                                                   dicts of libpq parameters (or conninfo
                                                   strings) over the listen database's own
LOCKABLE_LOCK_TIMEOUT             2 (seconds)      the bound of every lockable call
                                                   (``lock_timeout``): a lock that an open
                                                   transaction holds makes the call raise
                                                   ``LockTimeout`` after this long
LOCKABLE_MAX_MESSAGE_BYTES        4096             the largest websocket message a
                                                   live-editing socket takes (closed with
                                                   4413 above it)
LOCKABLE_MAX_SOCKETS_PER_USER     10               live-editing sockets one owner may have
                                                   open in one server process (4429 above
                                                   it); None: no limit
LOCKABLE_MAX_MESSAGES_PER_SECOND  5                messages per second a live-editing socket
                                                   may send, in bursts of up to twice that
                                                   (4429 above it); None: no limit
LOCKABLE_MAX_UIDS_PER_USER        20               uids one owner may hold or wait for at
                                                   once, asked through the REST view or live
                                                   editing (429, or an error message); None:
                                                   no limit
LOCKABLE_CLOSE_ON_LOGOUT          True             on ``user_logged_out``, close the
                                                   live-editing sockets of that session, on
                                                   every server
LOCKABLE_PRESENCE_MAX             20               the most presence entries a live-editing
                                                   status lists (``presence_count`` counts
                                                   them all)
LOCKABLE_IDLE                     120 (seconds)    no input for this long and a live-editing
                                                   client reports itself idle (told to the
                                                   client in every status, ``idle_after``)
================================  ===============  ==========================================
"""
from datetime import timedelta
from typing import Any, Callable, Dict, Optional, Tuple, Union

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

Seconds = Union[timedelta, int, float]

DEFAULTS = {
    "OWNER": None,
    "TTL": timedelta(seconds=60),
    "MAX_TTL": timedelta(seconds=600),
    "LOCK_PERMISSION": None,
    "TAKE_OVER_PERMISSION": None,
    "DISPLAY_NAME": None,
    "DATABASE": "default",
    "LISTEN_DATABASE": None,
    "LISTEN_NODES": (),
    "LOCK_TIMEOUT": timedelta(seconds=2),
    "MAX_MESSAGE_BYTES": 4096,
    "MAX_SOCKETS_PER_USER": 10,
    "MAX_MESSAGES_PER_SECOND": 5,
    "MAX_UIDS_PER_USER": 20,
    "CLOSE_ON_LOGOUT": True,
    "PRESENCE_MAX": 20,
    "IDLE": timedelta(seconds=120),
}


def as_timedelta(value: Seconds, name: str) -> timedelta:
    """Return value (a ``timedelta`` or a number of seconds) as a timedelta.

    Raises ``TypeError`` for anything else (booleans included), naming
    ``name`` in the message.
    """
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise TypeError(f"{name} must be a timedelta or a number of seconds, not {value!r}")


class LockableSettings:
    """Read-through access to the ``LOCKABLE_*`` settings, with defaults.

    ``lockable_settings.TTL`` reads ``settings.LOCKABLE_TTL`` (or its
    default) now.  Invalid values raise ``ImproperlyConfigured``.
    """

    def _raw(self, name: str) -> Any:
        return getattr(settings, "LOCKABLE_" + name, DEFAULTS[name])

    def _callable(self, name: str) -> Optional[Callable[..., Any]]:
        value = self._raw(name)
        if value is None or callable(value):
            return value
        if isinstance(value, str):
            try:
                return import_string(value)
            except ImportError as exc:
                raise ImproperlyConfigured(f"LOCKABLE_{name}: cannot import {value!r}: {exc}") from exc
        raise ImproperlyConfigured(f"LOCKABLE_{name} must be a callable or its dotted path, not {value!r}")

    def _duration(self, name: str) -> timedelta:
        try:
            value = as_timedelta(self._raw(name), "LOCKABLE_" + name)
        except TypeError as exc:
            raise ImproperlyConfigured(str(exc)) from exc
        if value <= timedelta(0):
            raise ImproperlyConfigured(f"LOCKABLE_{name} must be positive, not {value!r}")
        return value

    def _limit(self, name: str, *, optional: bool) -> Optional[Union[int, float]]:
        value = self._raw(name)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value != value:
            allowed = "a positive number, or None for no limit" if optional else "a positive number"
            raise ImproperlyConfigured(f"LOCKABLE_{name} must be {allowed}, not {value!r}")
        return value

    @property
    def OWNER(self) -> Optional[Callable[[Any], str]]:
        """The callable that names a user's owner, or None for ``user:<pk>``."""
        return self._callable("OWNER")

    @property
    def TTL(self) -> timedelta:
        """The default lease."""
        return self._duration("TTL")

    @property
    def MAX_TTL(self) -> timedelta:
        """The longest lease a REST client may ask for."""
        return self._duration("MAX_TTL")

    @property
    def LOCK_PERMISSION(self) -> Optional[Callable[[Any, str], bool]]:
        """The callable deciding who may lock which uid, or None."""
        return self._callable("LOCK_PERMISSION")

    @property
    def TAKE_OVER_PERMISSION(self) -> Optional[Callable[[Any, str, Optional[str]], bool]]:
        """The callable deciding who may take which uid over from whom, or
        None for the default (``django_lockable.policy``)."""
        return self._callable("TAKE_OVER_PERMISSION")

    @property
    def DISPLAY_NAME(self) -> Optional[Callable[[Any], str]]:
        """The callable naming a user to others, or None for the default."""
        return self._callable("DISPLAY_NAME")

    @property
    def DATABASE(self) -> str:
        """The database alias used where no model decides it."""
        value = self._raw("DATABASE")
        if not isinstance(value, str):
            raise ImproperlyConfigured(f"LOCKABLE_DATABASE must be a database alias, not {value!r}")
        return value

    @property
    def LISTEN_DATABASE(self) -> str:
        """The alias whose connection parameters the notification bridge uses."""
        value = self._raw("LISTEN_DATABASE")
        if value is None:
            return self.DATABASE
        if not isinstance(value, str):
            raise ImproperlyConfigured(f"LOCKABLE_LISTEN_DATABASE must be a database alias, not {value!r}")
        return value

    @property
    def LOCK_TIMEOUT(self) -> timedelta:
        """The bound of every lockable call (``lock_timeout``)."""
        return self._duration("LOCK_TIMEOUT")

    @property
    def MAX_MESSAGE_BYTES(self) -> int:
        """The largest websocket message a live-editing socket takes, in bytes."""
        value = self._limit("MAX_MESSAGE_BYTES", optional=False)
        assert value is not None
        return int(value)

    @property
    def MAX_SOCKETS_PER_USER(self) -> Optional[int]:
        """Live-editing sockets one owner may have open in one process, or None."""
        value = self._limit("MAX_SOCKETS_PER_USER", optional=True)
        return None if value is None else int(value)

    @property
    def MAX_MESSAGES_PER_SECOND(self) -> Optional[float]:
        """Messages per second a live-editing socket may send, or None."""
        value = self._limit("MAX_MESSAGES_PER_SECOND", optional=True)
        return None if value is None else float(value)

    @property
    def MAX_UIDS_PER_USER(self) -> Optional[int]:
        """Uids one owner may hold or wait for at once, or None."""
        value = self._limit("MAX_UIDS_PER_USER", optional=True)
        return None if value is None else int(value)

    @property
    def CLOSE_ON_LOGOUT(self) -> bool:
        """Whether a logout closes that session's live-editing sockets."""
        return bool(self._raw("CLOSE_ON_LOGOUT"))

    @property
    def PRESENCE_MAX(self) -> int:
        """The most presence entries a live-editing status lists."""
        value = self._limit("PRESENCE_MAX", optional=False)
        assert value is not None
        return int(value)

    @property
    def IDLE(self) -> timedelta:
        """No input for this long, and a live-editing client reports itself idle."""
        return self._duration("IDLE")

    @property
    def LISTEN_NODES(self) -> Tuple[Dict[str, Any], ...]:
        """Further nodes to listen on, each a dict of libpq parameters that
        override the listen database's own (a conninfo string is parsed)."""
        value = self._raw("LISTEN_NODES")
        if value is None:
            return ()
        if isinstance(value, (str, dict)) or not isinstance(value, (list, tuple)):
            raise ImproperlyConfigured(
                f"LOCKABLE_LISTEN_NODES must be a list of dicts or conninfo strings, not {value!r}")
        nodes = []
        for node in value:
            if isinstance(node, str):
                from psycopg.conninfo import conninfo_to_dict

                try:
                    node = conninfo_to_dict(node)
                except Exception as exc:  # psycopg.ProgrammingError for a bad conninfo
                    raise ImproperlyConfigured(f"LOCKABLE_LISTEN_NODES: bad conninfo {node!r}: {exc}") from exc
            if not isinstance(node, dict) or not all(isinstance(key, str) for key in node):
                raise ImproperlyConfigured(
                    f"LOCKABLE_LISTEN_NODES: a node is a dict of libpq parameters, not {node!r}")
            nodes.append(dict(node))
        return tuple(nodes)


lockable_settings = LockableSettings()
