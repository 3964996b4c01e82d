"""Issue 22's protocol across two real Daphne processes that share only
PostgreSQL: presence, asking and handing over, a take over from the
user's other tab, ``saved``, and a dead server's presence lapsing.

Each socket is a ``wsclient.WebSocket`` with a logged-in session's cookie,
through the example's routing (``CsrfOriginValidator``,
``AuthMiddlewareStack``).  Waits are bounded.
"""
import asyncio
import os
import signal
from typing import Any, Dict, Iterator, List

import pytest

from django_lockable import _core, _db, owner_for

from .conftest import EXAMPLE_DIR, PYTHON_DIR, run
from .processes import Server, free_port
from .test_consumer import session_cookie
from .wsclient import WebSocket

TTL = 3.0
"""The lease of these servers' sockets (EXAMPLE_LOCK_TTL), in seconds."""

pytestmark = pytest.mark.skipif(
    not _db.features("default").presence, reason="the database's lockable has no presence leases")


def start_server(cluster: Any, name: str) -> Server:
    os.makedirs(cluster.output, exist_ok=True)
    server = Server(free_port(), os.path.join(cluster.output, f"servers-{name}.log"))
    return server.start({**cluster.app_environment(), "EXAMPLE_LOCK_TTL": str(TTL)}, [EXAMPLE_DIR, PYTHON_DIR])


@pytest.fixture(scope="module")
def two_servers(cluster: Any) -> Iterator[List[Server]]:
    started: List[Server] = []
    try:
        for name in ("one", "two"):
            started.append(start_server(cluster, name))
        yield started
    finally:
        for server in started:
            server.stop()
    for server in started:
        with open(server.log_path, errors="replace") as log:
            text = log.read()
        assert "Task exception was never retrieved" not in text and "Traceback" not in text, text[-3000:]


def people(message: Dict[str, Any]) -> List[tuple]:
    return [(entry["user_id"], entry["state"], entry["idle"]) for entry in message["presence"]]


def status(**fields: Any):
    return lambda m: m["type"] == "status" and all(m.get(k) == v for k, v in fields.items())


async def socket(server: Server, user: Any) -> WebSocket:
    cookie = await asyncio.to_thread(session_cookie, user)
    return await WebSocket(server.port, cookie).connect()


def test_presence_crosses_servers(two_servers, users, document):
    one, two = two_servers
    alice, bob = users["alice"], users["bob"]
    uid = document.lock_uid

    async def body():
        a = await socket(one, alice)
        b = await socket(two, bob)
        await a.send(action="lock", uid=uid, tab="a1")
        assert (await a.next())["state"] == "editing"
        await b.send(action="view", uid=uid, tab="b1")
        viewing = await b.next()
        assert people(viewing) == [(alice.pk, "editing", False), (bob.pk, "viewing", False)]
        assert viewing["presence"][0]["name"] == "alice"
        await a.until(lambda m: m["type"] == "status" and people(m) == people(viewing))
        await b.send(action="heartbeat", idle=True)
        await a.until(lambda m: m["type"] == "status" and (bob.pk, "viewing", True) in people(m))
        await b.close()
        await a.until(lambda m: m["type"] == "status" and people(m) == [(alice.pk, "editing", False)])
        await a.close()

    run(body)


def test_ask_and_hand_over_across_servers(two_servers, users, document, superuser):
    one, two = two_servers
    alice, bob = users["alice"], users["bob"]
    uid = document.lock_uid

    async def body():
        a = await socket(one, alice)
        b = await socket(two, bob)
        await a.send(action="lock", uid=uid, tab="a1")
        await a.next()
        await b.send(action="lock", uid=uid, tab="b1")
        assert (await b.next())["state"] == "waiting"
        await b.send(action="request", message="my turn?")
        asked = await a.until(lambda m: m["type"] == "request")
        assert asked == {"type": "request", "from": {"user_id": bob.pk, "name": "bob"}, "message": "my turn?"}
        await a.send(action="decline", to=bob.pk)
        declined = await b.until(lambda m: m["type"] == "declined")
        assert declined["by"] == {"user_id": alice.pk, "name": "alice"}
        await b.send(action="request")
        await a.until(lambda m: m["type"] == "request")
        await a.send(action="hand_over", to=asked["from"]["user_id"])
        lost = await a.until(status(state="lost"))
        assert (lost["reason"], lost["by"]) == ("handed_over", {"user_id": bob.pk, "name": "bob"})
        editing = await b.until(status(state="editing"))
        assert superuser.holder(uid)[:2] == (f"{owner_for(bob)}#b1", editing["token"])
        await a.close()
        await b.close()

    run(body)


def test_the_other_tab_takes_over_across_servers(two_servers, users, document, superuser):
    one, two = two_servers
    alice = users["alice"]
    uid = document.lock_uid

    async def body():
        first = await socket(one, alice)
        second = await socket(two, alice)
        await first.send(action="lock", uid=uid, tab="first")
        await first.next()
        await second.send(action="lock", uid=uid, tab="second")
        assert (await second.next())["reason"] == "other_tab"
        await second.send(action="take_over")
        assert (await second.until(lambda m: m["type"] == "status"))["state"] == "editing"
        lost = await first.until(status(state="lost"))
        assert lost["reason"] == "other_tab"
        assert superuser.holder(uid)[0] == f"{owner_for(alice)}#second"
        await first.close()
        await second.close()

    run(body)


def test_saved_reaches_the_other_server(two_servers, users, document):
    from asgiref.sync import sync_to_async
    from documents.models import Document

    one, two = two_servers
    alice, bob = users["alice"], users["bob"]
    uid = document.lock_uid

    async def body():
        a = await socket(one, alice)
        b = await socket(two, bob)
        await a.send(action="lock", uid=uid)
        editing = await a.next()
        await b.send(action="view", uid=uid)
        await b.next()

        def save() -> int:
            row = Document.objects.get(pk=document.pk)
            row.body = "saved on no server at all"
            with _core.writing_as(alice, token=editing["token"]):
                row.save()
            return row.version

        version = await sync_to_async(save, thread_sensitive=False)()
        saved = await b.until(lambda m: m["type"] == "saved")
        assert saved == {"type": "saved", "version": version, "by": {"user_id": alice.pk, "name": "alice"}}
        await a.close()
        await b.close()

    run(body)


def test_a_dead_servers_viewers_lapse_from_the_other_servers_presence(two_servers, users, cluster, superuser,
                                                                       document):
    """A server killed outright releases nothing: its sockets' presence
    leases run out, and the other server's sockets stop showing them."""
    one = two_servers[0]
    alice, bob = users["alice"], users["bob"]
    uid = document.lock_uid
    doomed = start_server(cluster, "doomed")

    async def body():
        a = await socket(one, alice)
        b = await socket(doomed, bob)
        await a.send(action="lock", uid=uid)
        await a.next()
        await b.send(action="view", uid=uid)
        await b.next()
        await a.until(lambda m: m["type"] == "status" and m["presence_count"] == 2)
        assert doomed.process is not None
        os.killpg(doomed.process.pid, signal.SIGKILL)
        doomed.process.wait(10)
        # alice keeps renewing; bob's lease lapses within its ttl, and the
        # presence look at its end drops him from her list
        for _ in range(int(TTL) * 2 + 2):
            await a.send(action="heartbeat")
            try:
                await a.until(lambda m: m["type"] == "status" and m["presence_count"] == 1, timeout=1)
                break
            except TimeoutError:
                continue
        else:
            raise AssertionError(f"bob still present: {a.received[-1]}")
        assert [row[0] for row in superuser.run("SELECT owner FROM lockable.presence_of(%s)", [uid])] == [
            owner_for(alice)]
        await a.close()

    try:
        run(body)
    finally:
        doomed.stop()
