"""The notification bridge: one listener per event loop, several nodes,
reconnection with backoff, and the resync of every session after it.

Sessions here are ``LockSession``s driven without a socket: their messages
go to an ``Outbox``.
"""
import asyncio
import json
import time
from datetime import timedelta
from typing import Any, Callable, Dict, List

from django.db import connections
from django.test import override_settings

from django_lockable import owner_for
from django_lockable.live import LockSession
from django_lockable.notifications import LockEvent, NotificationBridge, get_bridge

from .conftest import run


async def until(predicate: Callable[[], bool], timeout: float = 10, what: str = "") -> None:
    """Wait until predicate() holds, polling; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what or predicate}")
        await asyncio.sleep(0.02)


class Recorder:
    """A watcher that keeps what the bridge tells it."""

    def __init__(self) -> None:
        self.events: List[LockEvent] = []
        self.resyncs = 0

    def lock_event(self, event: LockEvent) -> None:
        self.events.append(event)

    def resync(self) -> None:
        self.resyncs += 1


class Outbox:
    """Where a socketless session's messages go."""

    def __init__(self) -> None:
        self.messages: List[Dict[str, Any]] = []
        self.closed: List[int] = []

    async def send(self, message: Dict[str, Any]) -> None:
        self.messages.append(message)

    async def close(self, code: int) -> None:
        self.closed.append(code)


def session(user: Any, bridge: NotificationBridge, ttl: float = 30) -> "tuple[LockSession, Outbox]":
    outbox = Outbox()
    return LockSession(owner_for(user), send=outbox.send, close=outbox.close, ttl=timedelta(seconds=ttl),
                       bridge=bridge), outbox


def test_one_bridge_per_event_loop():
    async def twice():
        return get_bridge(), get_bridge()

    first, again = run(twice)
    assert first is again
    other, _ = run(twice)
    assert other is not first


def test_the_bridge_listens_on_every_node_of_the_setting(cluster, superuser, uid):
    extra = [{"dbname": "postgres"}, "dbname=template1 application_name=extra-node"]
    payload = {"event": "queued", "uid": uid, "position": 1, "waiters": 1}

    async def body():
        bridge = NotificationBridge.from_settings()
        assert [node.conninfo["dbname"] for node in bridge.extra] == ["postgres", "template1"]
        assert bridge.extra[1].conninfo["application_name"] == "extra-node"
        recorder = Recorder()
        bridge.watch(uid, recorder)
        await until(lambda: bridge.connected and len(bridge.connections()) == 3, what="three listeners")
        for database in (cluster.database, "postgres", "template1"):
            await asyncio.to_thread(notify_in, cluster, database, json.dumps({**payload, "owner": database}))
        await until(lambda: len(recorder.events) == 3, what="an event from each node")
        assert sorted(event.owner for event in recorder.events) == sorted([cluster.database, "postgres",
                                                                            "template1"])
        # the first resync came when each listener connected
        assert recorder.resyncs >= 3
        await bridge.close()

    with override_settings(LOCKABLE_LISTEN_NODES=extra):
        run(body)


def notify_in(cluster: Any, database: str, payload: str) -> None:
    import psycopg

    with psycopg.connect(**cluster.superuser_conninfo(database), autocommit=True) as conn:
        conn.execute("SELECT pg_catalog.pg_notify('lockable', %s)", [payload])


def test_a_watcher_that_left_hears_nothing(superuser, uid):
    async def body():
        bridge = NotificationBridge.from_settings()
        stays, leaves = Recorder(), Recorder()
        bridge.watch(uid, stays)
        bridge.watch(uid, leaves)
        bridge.unwatch(uid, leaves)
        await until(lambda: bridge.connected)
        await asyncio.to_thread(superuser.notify, json.dumps({"event": "left", "uid": uid, "owner": "x",
                                                              "waiters": 0}))
        await until(lambda: stays.events)
        assert leaves.events == []
        await bridge.close()

    run(body)


def test_a_lost_listener_reconnects_with_backoff_and_resyncs_every_session(users, document, superuser):
    """The hand-off happens while nobody listens: only the resync after the
    reconnection can tell bob."""
    uid = document.lock_uid

    async def body():
        bridge = NotificationBridge.from_settings()
        bridge.backoff_min = 1.0  # time to hand the lock on unheard
        alice, _ = session(users["alice"], bridge)
        bob, bob_out = session(users["bob"], bridge)
        await alice.handle({"action": "lock", "uid": uid})
        await bob.handle({"action": "lock", "uid": uid})
        assert (alice.state, bob.state) == ("editing", "waiting")
        await until(lambda: bridge.connected)
        resyncs = bridge.resyncs
        (pid,) = bridge.backend_pids()
        await asyncio.to_thread(superuser.run, "SELECT pg_catalog.pg_terminate_backend(%s)", [pid])
        await until(lambda: not bridge.connected, what="the bridge saw its connection go")
        # the resync of the loss finds nothing new
        await until(lambda: bob._recheck_task is None or bob._recheck_task.done())
        assert bob.state == "waiting"
        await asyncio.to_thread(superuser.run, "SELECT lockable.lock_release(%s, %s)",
                                [uid, owner_for(users["alice"])])
        await until(lambda: bob.state == "editing", timeout=15, what="bob told after the reconnection")
        assert bridge.connections()[bridge.primary.name] == 2
        assert bridge.resyncs >= resyncs + 2
        assert bob_out.messages[-1]["state"] == "editing"
        assert superuser.holder(uid)[:2] == (owner_for(users["bob"]), bob_out.messages[-1]["token"])
        await alice.end()
        await bob.end()
        await bridge.close()

    run(body)


def test_a_postgres_restart_closes_sockets_with_4503_and_gives_nothing_up(cluster, users, document, superuser):
    """Sessions learn of the outage from the bridge's resync, close their
    sockets with "try again later" and release nothing; after the restart the
    bridge listens again and the lock and the place are still there."""
    uid = document.lock_uid

    async def body():
        bridge = NotificationBridge.from_settings()
        alice, alice_out = session(users["alice"], bridge)
        bob, bob_out = session(users["bob"], bridge)
        await alice.handle({"action": "lock", "uid": uid})
        await bob.handle({"action": "lock", "uid": uid})
        token = alice.token
        await until(lambda: bridge.connected)
        await asyncio.to_thread(cluster.pg_ctl, "stop", "-m", "fast", "-w")
        try:
            await until(lambda: alice_out.closed and bob_out.closed, timeout=20, what="both sockets closed")
            assert (alice_out.closed, bob_out.closed) == ([4503], [4503])
            await alice.end()  # the socket closed: nothing is released
            await bob.end()
        finally:
            await asyncio.to_thread(cluster.pg_ctl, "start", "-w", "-l", f"{cluster.data}/../server.log")
        await until(lambda: bridge.connected, timeout=30, what="listening again")
        assert bridge.connections()[bridge.primary.name] == 2
        assert await asyncio.to_thread(superuser.holder, uid) is not None
        assert superuser.holder(uid)[:2] == (owner_for(users["alice"]), token)
        assert superuser.line(uid) == [owner_for(users["bob"])]
        # the clients come back, and join again: the lock and the place are theirs
        alice2, alice2_out = session(users["alice"], bridge)
        bob2, bob2_out = session(users["bob"], bridge)
        await alice2.handle({"action": "lock", "uid": uid})
        await bob2.handle({"action": "lock", "uid": uid})
        assert (alice2.state, alice2.token, bob2.state, bob2_out.messages[-1]["position"]) == (
            "editing", token, "waiting", 1)
        await alice2.end()
        await until(lambda: bob2.state == "editing")
        await bob2.end()
        await bridge.close()

    try:
        run(body, timeout=120)
    finally:
        connections.close_all()  # this thread's connection did not survive the restart


def test_a_send_to_a_cut_connection_does_not_stop_the_release(users, document, superuser):
    """The server raises when a session writes to a connection that was cut
    (autobahn's Disconnected under Daphne); the session must survive it, so
    that the disconnect that follows releases the lock."""
    uid = document.lock_uid

    async def body():
        bridge = NotificationBridge.from_settings()
        sent: List[Dict[str, Any]] = []

        async def send(message: Dict[str, Any]) -> None:
            if sent:
                raise ConnectionError("Attempt to send on a closed protocol")
            sent.append(message)

        async def close(code: int) -> None:
            raise AssertionError("not closed by the session")

        alice = LockSession(owner_for(users["alice"]), send=send, close=close, bridge=bridge)
        await alice.handle({"action": "lock", "uid": uid})
        assert sent[0]["state"] == "editing"
        await alice.handle({"action": "heartbeat"})  # its reply cannot be sent
        assert alice.gone
        await alice.end()
        assert superuser.holder(uid) is None
        await bridge.close()

    run(body)
