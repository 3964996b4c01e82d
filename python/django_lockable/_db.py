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
issue 21) by ``lockable.lock_take_over`` existing, and presence (lockable
1.4, issue 22) by ``lockable.presence_touch`` existing, not by the version
number.

Every call of a lockable function or view is *bounded* (``call``): it runs
under ``lock_timeout``, so that a row or table lock that an open
transaction holds (a session that took a lock in a transaction it never
ends, say) makes the call fail with ``LockTimeout`` after that long, rather
than hold its thread for ever.  The bound is set and put back in the same
statement, so it costs no round trip and outlives the call in no
transaction::

    SELECT c.*, set_config('lock_timeout', b.previous, true)
      FROM (SELECT previous, set_config('lock_timeout', <bound>, true)) AS b
     CROSS JOIN LATERAL (<the call> WHERE <b's row exists>) AS c

The call is the inner side of a nested loop over ``b`` (it refers to it),
so it runs after the bound is set; the outer target list puts the
session's value back after each row.  In autocommit the statement is a
transaction of its own anyway.  If the call fails, its transaction (or
savepoint) is rolled back, and ``set_config``'s local value with it.

On a distributed install (``Features.distributed``: ``lockable.distribute()``
ran on Citus) the call is sent as it is, a statement by itself, which is
what Citus delegates to the node of the uid's shard; the bound there is the
role's own ``lock_timeout``.
"""
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Dict, List, Optional, Sequence, Union

from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connections

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
           'lockable.lock_take_over(text, text, interval, text, boolean)') IS NOT NULL,
       pg_catalog.to_regprocedure(
           'lockable.presence_touch(text, text, interval, boolean)') IS NOT NULL,
       pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL
  FROM pg_catalog.pg_extension AS e
  LEFT JOIN pg_catalog.pg_type AS t
         ON t.oid = pg_catalog.to_regtype('lockable.lock_status')
 WHERE e.extname = 'lockable'
"""

# With Citus installed: whether lockable.distribute() made lockable.locks a
# Citus table (asked only then: without Citus the catalog does not exist).
_DISTRIBUTED_SQL = """
SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition
                WHERE logicalrelid OPERATOR(pg_catalog.=) pg_catalog.to_regclass('lockable.locks'))
"""

# The attribute of a Django connection wrapper that caches its features.
_CACHE_ATTRIBUTE = "_lockable_features"

# A lockable call (any SELECT) under lock_timeout; see the module's docstring.
# The first parameter is the bound; the call's own follow.  The inner
# subquery refers to b, so it is evaluated after b, once per row of b (one).
_BOUNDED_SQL = (
    "SELECT c.*, pg_catalog.set_config('lock_timeout', b.previous, true) AS lockable_lock_timeout"
    "  FROM (SELECT p.previous, pg_catalog.set_config('lock_timeout', %s, true) AS bound"
    "          FROM (SELECT pg_catalog.current_setting('lock_timeout') AS previous OFFSET 0) AS p"
    "        OFFSET 0) AS b"
    " {join} LATERAL (SELECT q.* FROM ({call}) AS q WHERE b.bound IS NOT NULL OFFSET 0) AS c{on}"
)


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
    presence: bool = False
    """True when the database keeps presence leases (lockable 1.4 with
    ``presence_touch``, ``presence_leave`` and ``presence_of``)."""
    distributed: bool = False
    """True when ``lockable.distribute()`` ran (Citus): every per-uid call
    must then be a statement by itself, for Citus to delegate it to the
    node of the uid's shard, so ``call`` sends it unwrapped."""


class LockTimeout(OperationalError):
    """A lockable call waited ``LOCKABLE_LOCK_TIMEOUT`` for a row or table
    lock that another transaction holds, and gave up (SQLSTATE 55P03 from
    ``lock_timeout``): nothing was changed.  Try again later.

    An ``OperationalError``, for Django's connections and for connections of
    one's own alike (the driver's error is its ``__cause__``).  The REST view
    answers 503 with ``Retry-After``, the live-editing consumer closes with
    4503 ("try again later"), and the DRF ``exception_handler`` turns it into
    503 wherever it comes from.
    """

    def __init__(self, message: str, *, lock_timeout: timedelta):
        super().__init__(message)
        self.lock_timeout = lock_timeout


def lock_timeout_setting(value: timedelta) -> str:
    """``lock_timeout``'s text for a bound: whole milliseconds, at least 1."""
    return f"{max(1, math.ceil(value.total_seconds() * 1000))}ms"


def call(using: Using, sql: str, params: Sequence[Any], lock_timeout: timedelta, *,
         key: Optional[str] = None) -> List[Dict[str, Any]]:
    """Run one lockable call (a SELECT) bounded by ``lock_timeout``; return
    its rows as dicts by column name.

    ``key`` names a column that is never NULL in a row of the call, for a
    call that may return no row: the bound is then put back by a LEFT JOIN's
    row of NULLs, which is not returned.  The rows come in the call's own
    order (its ORDER BY): they are the inner side of a nested loop over the
    one row that sets the bound.  Raises ``LockTimeout`` when the
    call waited ``lock_timeout`` for a lock, and whatever else the driver
    raises.
    """
    if features(using).distributed:
        # Citus delegates only a call that is a statement by itself: sent as
        # it is, bounded by the role's own lock_timeout on the node that
        # runs it (python/README, "Citus").
        statement, arguments, wrapped = sql, list(params), False
    else:
        join, on = ("LEFT JOIN", " ON true") if key is not None else ("CROSS JOIN", "")
        statement = _BOUNDED_SQL.format(join=join, on=on, call=sql)
        arguments, wrapped = [lock_timeout_setting(lock_timeout), *params], True
    with cursor(using) as cur:
        try:
            cur.execute(statement, arguments)
        except Exception as exc:  # Django's OperationalError, or the driver's own
            if sqlstate(exc) != "55P03":
                raise
            raise LockTimeout(
                f"a lockable call waited {lock_timeout.total_seconds():g} s for a lock that another "
                "transaction holds, and gave up (lock_timeout, LOCKABLE_LOCK_TIMEOUT): try again later",
                lock_timeout=lock_timeout) from driver_error(exc)
        names: Sequence[str] = [column[0] for column in cur.description]
        if wrapped:
            names = names[:-1]
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
    if key is not None:
        rows = [row for row in rows if row[key] is not None]
    return rows


def call_one(using: Using, sql: str, params: Sequence[Any], lock_timeout: timedelta) -> Dict[str, Any]:
    """``call`` for a call that returns exactly one row: that row."""
    (row,) = call(using, sql, params, lock_timeout)
    return row


def call_value(using: Using, sql: str, params: Sequence[Any], lock_timeout: timedelta) -> Any:
    """``call`` for a call that returns one row of one column: its value."""
    (value,) = call_one(using, sql, params, lock_timeout).values()
    return value


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
    distributed = False
    if row is not None and row[4]:
        with cursor(using) as cur:
            cur.execute(_DISTRIBUTED_SQL)
            distributed = bool(cur.fetchone()[0])
    found = Features(version=row[0], queue=bool(row[1]), transfer=bool(row[2]), presence=bool(row[3]),
                     distributed=distributed)
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
