"""The package's settings: every one, its default, and how it is read.

Settings are read from ``django.conf.settings`` on every access, never
cached, so ``override_settings`` in tests and changes at run time apply at
once.  Values are normalized here (seconds become ``timedelta``, dotted paths
become callables) so the rest of the package sees one form only.

=============================  =============  ==================================
setting                        default        meaning
=============================  =============  ==================================
LOCKABLE_OWNER                 None           callable ``(user) -> str`` (or its
                                              dotted path) naming a user's lock
                                              owner; None: ``"user:<pk>"``
LOCKABLE_TTL                   60 (seconds)   lease of a lock or place when none
                                              is given
LOCKABLE_MAX_TTL               600 (seconds)  the longest ttl a REST client may
                                              ask for (400 above it)
LOCKABLE_LOCK_PERMISSION       None           callable ``(request, uid) ->
                                              bool`` (or its dotted path): may
                                              this request lock uid? None: any
                                              authenticated user
LOCKABLE_TAKE_OVER_PERMISSION  None           callable ``(request, uid, holder)
                                              -> bool`` (or its dotted path):
                                              may this request take uid over
                                              from holder (an owner, or None
                                              when nobody holds it)? None: staff
                                              users, and users with the
                                              permission
                                              ``django_lockable.take_over_lock``.
                                              A user may always take over from
                                              their own other tab or session,
                                              whatever it says
LOCKABLE_DISPLAY_NAME          None           callable ``(user) -> str`` (or its
                                              dotted path): how a user is named
                                              to others (who took a lock over);
                                              None: the full name, else the user
                                              name
LOCKABLE_DATABASE              "default"      database alias of the REST views,
                                              ``Mutex``, ``writing_as``,
                                              ``lockable_sweep``, the live
                                              editing consumer and the admin's
                                              lock pages
LOCKABLE_LISTEN_DATABASE       None           database alias whose connection
                                              parameters the notification bridge
                                              listens with; None: as
                                              ``LOCKABLE_DATABASE``
LOCKABLE_LISTEN_NODES          ()             further PostgreSQL nodes to listen
                                              on: dicts of libpq parameters (or
                                              conninfo strings) over the listen
                                              database's own
=============================  =============  ==================================
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
