"""test/citus/package_calls.py: django-lockable's calls on a distributed
install.

Run by suite 88-citus after lockable.distribute(), with PGHOST, PGPORT,
PGUSER and PGDATABASE naming the coordinator, under the system's Django and
psycopg.  Citus delegates a per-uid call only when it is a statement by
itself, so the package must not wrap it (its lock_timeout bound, a presence
touch in the same statement): each call below is made through the package
on a connection in autocommit, and must be granted on the worker of the
uid's shard (its token carries that worker's Citus group in its low 12
bits), never refused with 0A000.  Prints what it did; exits 0 if all held.

Usage: python3 package_calls.py UID GROUP   (GROUP: the Citus group of the
worker that holds UID's shard)
"""
import os
import sys
from datetime import timedelta

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import django  # noqa: E402
from django.conf import settings  # noqa: E402

settings.configure(INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
                   DATABASES={}, USE_TZ=True)
django.setup()

import psycopg  # noqa: E402

from django_lockable import _core, _db, live  # noqa: E402


def main(uid: str, group: int) -> int:
    failures = []
    conn = psycopg.connect(autocommit=True)
    try:
        found = _db.features(conn)
        print(f"features: {found}")
        if not found.distributed:
            failures.append("the package does not see the install as distributed")
        # what the package sent before it knew: the call wrapped in its bound
        # is not delegated, and refused (so this script can fail)
        wrapped = _db._BOUNDED_SQL.format(join="CROSS JOIN", on="",
                                          call="SELECT * FROM lockable.lock_acquire(%s, %s)")
        try:
            conn.execute(wrapped, ["2s", uid, "mallory"])
            failures.append("the wrapped call was not refused: this check cannot fail")
        except psycopg.Error as exc:
            print(f"the wrapped call: {exc.sqlstate} {str(exc).splitlines()[0]}")
            if exc.sqlstate != "0A000":
                failures.append(f"the wrapped call failed with {exc.sqlstate}, not 0A000")
        status = _core.acquire(uid, "alice", timedelta(minutes=1), using=conn)
        print(f"acquire: granted={status.granted} token={status.token}")
        if not status.granted or status.token is None or status.token % 4096 != group:
            failures.append(f"acquire was not granted on group {group}: {status}")
        if not _core.verify(uid, "alice", status.token, using=conn):
            failures.append("verify of alice's grant")
        if found.presence:
            queued, changed = live.join(uid, "bob", timedelta(minutes=1), True, False, using=conn)
            print(f"join: granted={queued.granted} position={queued.position} presence news={changed}")
            if queued.granted or queued.position != 1 or not changed:
                failures.append(f"bob's join: {queued}, presence news {changed}")
            line = live.look_line(uid, using=conn)
            print(f"look: {line.people()}")
            if [owner for owner, _, _ in line.people()] != ["alice", "bob"]:
                failures.append(f"the look: {line.people()}")
            live.release_and_leave(uid, "bob", True, True, using=conn)
        if not _core.release(uid, "alice", using=conn):
            failures.append("alice's release")
        if _core.owner_of(uid, using=conn) is not None:
            failures.append("the lock is still held")
    except Exception as exc:  # the failure this script exists to catch: 0A000
        failures.append(f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


sys.exit(main(sys.argv[1], int(sys.argv[2])))
