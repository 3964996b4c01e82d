"""How the package talks to the database: cursors, errors, server features.

Every lock call takes ``using``: a Django database alias, or a DB-API
connection of its own (psycopg2 or psycopg 3), used as it is (its
transaction, its autocommit).  The SQL is the same for both drivers: ``%s``
placeholders, every name schema-qualified, nothing built from strings.

What the installed extension can do is detected once per Django connection
(per alias and thread, like Django's own ``pg_version``) and on every call
that needs it for a connection of your own.  The waiting line (lockable
1.2, issue 9) is judged by ``lockable.lock_status`` having ``waiters``, and
moving locks (take over, hand over, asking, the history: lockable 1.4,
issue 21) by ``lockable.lock_take_over`` existing, not by the version
number.
"""
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Union

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

# A Django database alias, or a psycopg2 / psycopg 3 connection.
Using = Union[str, Any]

_FEATURES_SQL = """
SELECT e.extversion,
       EXISTS (SELECT 1
                 FROM pg_catalog.pg_attribute AS a
                WHERE a.attrelid = t.typrelid
                  AND a.attname = 'waiters'
                  AND a.attnum > 0
                  AND NOT a.attisdropped),
       pg_catalog.to_regprocedure(
           'lockable.lock_take_over(text, text, interval, text, boolean)') IS NOT NULL
  FROM pg_catalog.pg_extension AS e
  LEFT JOIN pg_catalog.pg_type AS t
         ON t.oid = pg_catalog.to_regtype('lockable.lock_status')
 WHERE e.extname = 'lockable'
"""

# The attribute of a Django connection wrapper that caches its features.
_CACHE_ATTRIBUTE = "_lockable_features"


@dataclass(frozen=True)
class Features:
    """What the lockable extension installed in one database can do."""

    version: str
    """``pg_extension.extversion``, such as ``"1.1"``."""
    queue: bool
    """True with the waiting line: ``lock_status`` has ``waiters`` and
    ``position``, and ``lock_acquire`` takes ``queue``."""
    transfer: bool = False
    """True when locks can be moved on purpose (lockable 1.4): there are
    ``lock_take_over``, ``lock_hand_over``, ``lock_request``,
    ``lock_decline`` and the view ``lock_history``."""


def cursor(using: Using) -> Any:
    """Return a new cursor of the alias or connection ``using``."""
    if isinstance(using, str):
        return connections[using].cursor()
    return using.cursor()


def describe(using: Using) -> str:
    """Name ``using`` for error messages."""
    if isinstance(using, str):
        return f"database {using!r}"
    return "this connection"


def features(using: Using) -> Features:
    """Return what the extension in ``using``'s database can do.

    Cached on the Django connection of an alias (until ``forget_features``);
    looked up on every call for a connection of your own.  Raises
    ``ImproperlyConfigured`` if the extension is not installed there.
    """
    wrapper = connections[using] if isinstance(using, str) else None
    cached = getattr(wrapper, _CACHE_ATTRIBUTE, None)
    if cached is not None:
        return cached
    with cursor(using) as cur:
        cur.execute(_FEATURES_SQL)
        row = cur.fetchone()
    if row is None:
        raise ImproperlyConfigured(
            f"the lockable extension is not installed in {describe(using)}: a superuser runs "
            "CREATE EXTENSION lockable there (or a migration with CreateLockableExtension)"
        )
    found = Features(version=row[0], queue=bool(row[1]), transfer=bool(row[2]))
    if wrapper is not None:
        setattr(wrapper, _CACHE_ATTRIBUTE, found)
    return found


def forget_features(using: Using) -> None:
    """Drop the cached features of alias ``using`` (after CREATE or ALTER EXTENSION)."""
    if isinstance(using, str) and hasattr(connections[using], _CACHE_ATTRIBUTE):
        delattr(connections[using], _CACHE_ATTRIBUTE)


def fetch_dict(cur: Any) -> Optional[Dict[str, Any]]:
    """Return the cursor's next row as a dict by column name, or None."""
    row = cur.fetchone()
    if row is None:
        return None
    names: Sequence[str] = [column[0] for column in cur.description]
    return dict(zip(names, row))


def driver_error(exc: BaseException) -> Optional[BaseException]:
    """Return the driver's error behind exc (exc itself for a raw driver error)."""
    for candidate in (exc, exc.__cause__):
        if candidate is not None and (
            getattr(candidate, "pgcode", None) or getattr(candidate, "sqlstate", None)
        ):
            return candidate
    return None


def sqlstate(exc: BaseException) -> Optional[str]:
    """Return the SQLSTATE of a database error from either driver, or None.

    Django wraps the driver's error (its ``__cause__``); psycopg2 calls the
    code ``pgcode``, psycopg 3 ``sqlstate``.
    """
    error = driver_error(exc)
    if error is None:
        return None
    return getattr(error, "pgcode", None) or getattr(error, "sqlstate", None)


def diagnostics(exc: BaseException) -> Any:
    """Return the ``diag`` object of a database error (fields may be None)."""
    return getattr(driver_error(exc), "diag", None)
