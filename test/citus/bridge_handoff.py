"""test/citus/bridge_handoff.py: a hand-off made on a Citus worker reaches
django-lockable's notification bridge.

Run by suite 88-citus after lockable.distribute(), with PGHOST, PGPORT,
PGUSER and PGDATABASE naming the coordinator.  The bridge is given the
coordinator only; it must find the workers in pg_dist_node and listen there
too.  The uid is held by alice with bob in line; alice's release, delegated
by Citus to the worker that holds the uid's shard, hands the lock to bob
there, and the 'acquired' notification is sent by that worker.  Prints what
it saw; exits 0 if the watcher got 'acquired' for bob, 1 otherwise.

Usage: python3 bridge_handoff.py UID
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))

import psycopg  # noqa: E402

from django_lockable.notifications import Node, NotificationBridge  # noqa: E402


class Watcher:
    def __init__(self):
        self.events = []
        self.resyncs = 0

    def lock_event(self, event):
        self.events.append(event)

    def resync(self):
        self.resyncs += 1


async def main(uid):
    base = {"host": os.environ["PGHOST"], "port": int(os.environ["PGPORT"]),
            "user": os.environ.get("PGUSER", "postgres"), "dbname": os.environ["PGDATABASE"]}
    bridge = NotificationBridge(primary=Node.of(base, "database"))
    watcher = Watcher()
    bridge.watch(uid, watcher)
    for _ in range(200):
        if len(bridge.connections()) >= 3 and bridge.connected:
            break
        await asyncio.sleep(0.05)
    print(f"bridge listening on {sorted(bridge.connections())}")
    async with await psycopg.AsyncConnection.connect(autocommit=True, **base) as conn:
        cur = await conn.execute("SELECT lockable.lock_release(%s, 'alice')", (uid,))
        print(f"release: {(await cur.fetchone())[0]}")
    for _ in range(100):
        if any(e.event == "acquired" and e.owner == "bob" for e in watcher.events):
            break
        await asyncio.sleep(0.05)
    await bridge.close()
    print(f"events: {[(e.event, e.owner) for e in watcher.events]}")
    return 0 if any(e.event == "acquired" and e.owner == "bob" for e in watcher.events) else 1


sys.exit(asyncio.run(main(sys.argv[1])))
