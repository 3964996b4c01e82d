"""What bounds a live-editing socket, and what ends one (issue 20, items
10(a), 13, 15, 16 and 17), through ``WebsocketCommunicator`` against the
real database and bridge:

- a lock row that an open transaction holds: the socket is closed with 4503
  after ``LOCKABLE_LOCK_TIMEOUT``, and the sockets of other documents are
  served meanwhile (10(a));
- a message over ``LOCKABLE_MAX_MESSAGE_BYTES``: 4413, and released (13);
- ``LOCKABLE_MAX_SOCKETS_PER_USER``, ``LOCKABLE_MAX_MESSAGES_PER_SECOND``
  (4429, released) and ``LOCKABLE_MAX_UIDS_PER_USER`` (an error message, and
  429 from the REST view); a flood of forged hints costs a look or two per
  uid and moment, not one per hint and session (15);
- a deeply nested frame is an error message, and a consumer that fails
  still releases (16);
- a logout closes that session's sockets with 4401, and releases (17).
"""
import asyncio
import json
import threading
import time
from typing import Any, Iterator

import psycopg
import pytest
from django.test import Client as HttpClient
from django.test import override_settings

from django_lockable import _db, owner_for

from .conftest import run
from .test_consumer import Client, connected, listening, routed, session_cookie, state


async def closed_with(client: Client, timeout: float = 10) -> Any:
    """The code the socket is closed with, after any messages before it."""
    deadline = time.monotonic() + timeout
    while True:
        output = await client.comm.receive_output(max(0.01, deadline - time.monotonic()))
        if output["type"] == "websocket.close":
            return output.get("code")


def holder(superuser: Any, uid: str) -> Any:
    found = superuser.holder(uid)
    return None if found is None else found[0]


# ---- 10(a): a lock row held by an open transaction ----

class Intruder:
    """A session that joins a uid's line (lock_acquire with queue) in a
    transaction it keeps open: the uid's lock row stays locked."""

    def __init__(self, cluster: Any) -> None:
        self.conn = psycopg.connect(**cluster.superuser_conninfo(), autocommit=False)
        self.conn.execute("SET statement_timeout = '30s'")  # never hang the run

    def hold(self, uid: str) -> None:
        self.conn.execute("SELECT lockable.lock_acquire(%s, 'intruder:1', '1 minute', '0', true)", [uid])

    def let_go(self) -> None:
        self.conn.rollback()

    def close(self) -> None:
        self.conn.rollback()
        self.conn.close()


@pytest.fixture
def intruder(cluster: Any) -> Iterator[Intruder]:
    found = Intruder(cluster)
    yield found
    found.close()


def test_a_lock_row_held_open_closes_the_sockets_with_4503_and_holds_one_thread(
        users, document, superuser, intruder):
    from documents.models import Document

    uid = document.lock_uid
    other = Document.objects.create(title="Another document")
    bound = 1.5

    async def body():
        await asyncio.to_thread(intruder.hold, uid)
        # More sockets on the held uid than the loop has worker threads (6
        # on two cores): each call used to hold a thread for ever.
        tabs = [await connected(users["alice"]) for _ in range(8)]
        started = time.monotonic()
        for tab in tabs:
            await tab.send(action="lock", uid=uid)
        await asyncio.sleep(0.05)
        bob = await connected(users["bob"])
        before = time.monotonic()
        served = await bob.lock(other.lock_uid)
        assert served["state"] == "editing"
        assert time.monotonic() - before < bound / 2, "another document waited for the held uid's calls"
        codes = await asyncio.gather(*(closed_with(tab, timeout=bound * 10) for tab in tabs))
        assert codes == [4503] * len(tabs)
        assert time.monotonic() - started < bound * 9
        await asyncio.to_thread(intruder.let_go)
        # nothing was given up; the client comes back and joins again
        again = await connected(users["alice"])
        assert (await again.lock(uid))["state"] == "editing"
        await again.disconnect()
        await bob.disconnect()

    with override_settings(LOCKABLE_LOCK_TIMEOUT=bound):
        run(body)
    assert holder(superuser, uid) is None


def test_a_heartbeat_on_a_held_row_closes_with_4503_and_keeps_the_lock(users, document, superuser, intruder):
    uid = document.lock_uid

    async def body():
        alice = await connected(users["alice"])
        held = await alice.lock(uid)
        await asyncio.to_thread(intruder.hold, uid)  # a place in line: the row is written
        await alice.send(action="heartbeat")
        assert await closed_with(alice, timeout=5) == 4503
        await alice.disconnect()
        await asyncio.to_thread(intruder.let_go)
        assert superuser.holder(uid)[:2] == (owner_for(users["alice"]), held["token"])
        again = await connected(users["alice"])
        assert (await again.lock(uid))["token"] == held["token"]
        await again.disconnect()

    with override_settings(LOCKABLE_LOCK_TIMEOUT=0.5):
        run(body)


# ---- 13: the message size limit ----

def test_a_message_over_the_limit_closes_with_4413_and_releases(users, document, superuser):
    uid = document.lock_uid

    async def body():
        alice, bob = await connected(users["alice"]), await connected(users["bob"])
        await alice.lock(uid)
        await bob.lock(uid)
        await alice.comm.send_to(text_data=" " * 4097)
        assert await closed_with(alice) == 4413
        await bob.until(state("editing"), timeout=2)
        await alice.disconnect()
        await bob.disconnect()

    run(body)


LOCK_X = json.dumps({"action": "lock", "uid": "x"})


@pytest.mark.parametrize("frame, closed", [
    ({"text": LOCK_X.ljust(4096)}, False),        # 4096 bytes: taken (and refused by the permission)
    ({"text": LOCK_X.ljust(4097)}, True),
    ({"text": "é" * 2049}, True),                 # 2049 characters, 4098 bytes
    ({"text": "x" * (100 * 1024 * 1024)}, True),  # the 100 MB frame
    ({"bytes": b"\x00" * 4097}, True),
    ({"bytes": b"\x00" * 4096}, False),          # an error message, as any binary frame
])
def test_the_limit_is_lockable_max_message_bytes(users, frame, closed):
    async def body():
        client = await connected(users["carol"])
        await client.comm.send_to(text_data=frame.get("text"), bytes_data=frame.get("bytes"))
        output = await client.comm.receive_output(5)
        if closed:
            assert (output["type"], output.get("code")) == ("websocket.close", 4413)
        else:
            assert output["type"] == "websocket.send", output
            await client.disconnect()

    run(body)


def test_the_limit_follows_the_setting(users, document):
    async def body():
        client = await connected(users["carol"])
        await client.comm.send_to(text_data=json.dumps({"action": "lock", "uid": document.lock_uid}) + " " * 200)
        assert (await client.next())["type"] == "status"
        await client.comm.send_to(text_data=" " * 257)
        assert await client.close_code() == 4413

    with override_settings(LOCKABLE_MAX_MESSAGE_BYTES=256):
        run(body)


# ---- 15: per-user limits, and hints coalesced ----

def test_a_user_may_open_lockable_max_sockets_per_user(users, document):
    async def body():
        async def counted() -> Client:
            # The accept comes before the session is counted; an answer to a
            # frame comes after, as frames wait for connect to finish.
            client = await connected(users["alice"])
            await client.send(action="heartbeat")
            assert (await client.next())["type"] == "error"
            return client

        tabs = [await counted() for _ in range(3)]
        extra = await connected(users["alice"])  # accepted, so that the browser sees the code
        assert await extra.close_code() == 4429
        bob = await connected(users["bob"])       # other users are not counted
        assert (await bob.lock(document.lock_uid))["state"] == "editing"
        await tabs[0].disconnect()
        again = await connected(users["alice"])
        assert (await again.lock(document.lock_uid))["state"] == "waiting"
        for client in (*tabs[1:], again, bob):
            await client.disconnect()

    with override_settings(LOCKABLE_MAX_SOCKETS_PER_USER=3):
        run(body)


def test_a_message_flood_closes_with_4429_and_releases(users, document, superuser):
    uid = document.lock_uid

    async def body():
        alice, bob = await connected(users["alice"]), await connected(users["bob"])
        await alice.lock(uid)
        await bob.lock(uid)
        for _ in range(40):
            await alice.send(action="heartbeat")
        output = None
        while True:  # the replies to the messages within the burst, then the close
            output = await alice.comm.receive_output(5)
            if output["type"] == "websocket.close":
                break
        assert output.get("code") == 4429
        await bob.until(state("editing"), timeout=2)
        assert holder(superuser, uid) == owner_for(users["bob"])
        await alice.disconnect()
        await bob.disconnect()

    with override_settings(LOCKABLE_MAX_MESSAGES_PER_SECOND=5):
        run(body)


def test_a_socket_at_the_rate_is_never_closed(users, document):
    async def body():
        alice = await connected(users["alice"])
        await alice.lock(document.lock_uid)
        for _ in range(15):  # 1.5 s at 10 a second: the burst, then the rate
            await alice.send(action="heartbeat")
            assert (await alice.next())["state"] == "editing"
            await asyncio.sleep(0.1)
        await alice.disconnect()

    with override_settings(LOCKABLE_MAX_MESSAGES_PER_SECOND=10):
        run(body)


def test_a_user_may_hold_or_wait_for_lockable_max_uids_per_user(users, superuser):
    from documents.models import Document

    docs = [Document.objects.create(title=f"Document {n}") for n in range(4)]
    alice, bob = owner_for(users["alice"]), owner_for(users["bob"])
    superuser.run("SELECT lockable.lock_acquire(%s, %s, '1 minute')", [docs[0].lock_uid, alice])
    superuser.run("SELECT lockable.lock_acquire(%s, %s, '1 minute')", [docs[1].lock_uid, bob])
    superuser.run("SELECT lockable.lock_acquire(%s, %s, '1 minute', '0', true)", [docs[1].lock_uid, alice])

    async def body():
        client = await connected(users["alice"])
        await client.send(action="lock", uid=docs[2].lock_uid)
        refused = await client.next()
        assert refused["type"] == "error" and "LOCKABLE_MAX_UIDS_PER_USER" in refused["message"], refused
        # what she holds or waits for already is never refused
        assert (await client.lock(docs[0].lock_uid))["state"] == "editing"
        await client.send(action="unlock")
        await client.next()
        # one given up: one more may be taken
        assert (await client.lock(docs[3].lock_uid))["state"] == "editing"
        await client.disconnect()

    try:
        with override_settings(LOCKABLE_MAX_UIDS_PER_USER=2):
            run(body)
            # her socket gave docs[0] and docs[3] up: she waits for docs[1]
            http = HttpClient(HTTP_HOST="127.0.0.1")
            http.force_login(users["alice"])
            assert http.post(f"/api/lock/{docs[0].lock_uid}/").status_code == 200
            response = http.post(f"/api/lock/{docs[2].lock_uid}/")
            assert response.status_code == 429 and "LOCKABLE_MAX_UIDS_PER_USER" in response.json()["detail"]
            assert http.post(f"/api/lock/{docs[1].lock_uid}/?queue=1").status_code == 423  # renews her place
    finally:
        superuser.run("SELECT lockable.lock_release_all(%s)", [alice])
        superuser.run("SELECT lockable.lock_release_all(%s)", [bob])


class Calls:
    """Counts the database calls the package makes (its cursors)."""

    def __init__(self, monkeypatch: Any) -> None:
        self.count = 0
        self._lock = threading.Lock()
        real = _db.cursor

        def counted(using: Any) -> Any:
            with self._lock:
                self.count += 1
            return real(using)

        monkeypatch.setattr(_db, "cursor", counted)


def test_a_flood_of_forged_hints_costs_a_look_per_uid_and_moment(users, document, superuser, monkeypatch):
    uid = document.lock_uid
    alice_owner, bob_owner = owner_for(users["alice"]), owner_for(users["bob"])
    kinds = [
        {"event": "released", "uid": uid, "owner": alice_owner, "token": 1, "waiters": 1},
        {"event": "acquired", "uid": uid, "owner": bob_owner, "token": 10 ** 9, "waiters": 0},
        {"event": "acquired", "uid": uid, "owner": owner_for(users["carol"]), "token": 10 ** 9, "waiters": 0},
        {"event": "expired", "uid": uid, "owner": alice_owner, "token": 1, "waiters": 1},
        {"event": "queued", "uid": uid, "owner": bob_owner, "position": 1, "waiters": 2},
    ]
    batches, per_batch = 10, 50

    def flood() -> None:
        for batch in range(batches):
            payloads = [json.dumps({**kinds[n % len(kinds)], "n": batch * per_batch + n}) for n in range(per_batch)]
            superuser.run("SELECT pg_catalog.pg_notify('lockable', p) FROM pg_catalog.unnest(%s::text[]) AS p",
                          [payloads])
            time.sleep(0.02)

    async def body():
        bridge = await listening()
        alice, bob, carol = [await connected(users[name], ttl=30) for name in ("alice", "bob", "carol")]
        held = await alice.lock(uid)
        await bob.lock(uid)
        await carol.lock(uid)
        await alice.until(state("editing", waiters=2))
        await bob.until(state("waiting", position=1, waiters=2))
        events = bridge.events
        calls = Calls(monkeypatch)
        started = time.monotonic()
        await asyncio.to_thread(flood)
        while bridge.events < events + batches * per_batch:
            await asyncio.sleep(0.01)
        seconds = time.monotonic() - started
        await asyncio.sleep(0.3)  # the looks the last hints asked for
        # One look per uid per LOOK_GAP (0.05 s) at most, over the flood's
        # length, and not one more for each of the three sessions.
        assert calls.count <= seconds / 0.05 + 3, (calls.count, seconds)
        monkeypatch.undo()
        assert all(m["state"] == "waiting" for m in bob.statuses() + carol.statuses())
        assert all(m["state"] == "editing" and m["token"] == held["token"] for m in alice.statuses())
        assert superuser.holder(uid)[:2] == (alice_owner, held["token"])
        for client in (alice, bob, carol):
            await client.disconnect()

    run(body)


# ---- 16: a nested frame, and a consumer that fails ----

def test_a_deeply_nested_frame_is_an_error_and_keeps_the_connection(users, document, superuser):
    uid = document.lock_uid

    async def body():
        client = await connected(users["alice"])
        held = await client.lock(uid)
        for depth in (2000, 100_000):
            await client.comm.send_to(text_data="[" * depth + "]" * depth)
            message = await client.next()
            assert message["type"] == "error", message
        await client.send(action="heartbeat")
        assert (await client.next())["token"] == held["token"]
        await client.disconnect()

    with override_settings(LOCKABLE_MAX_MESSAGE_BYTES=1_000_000):
        run(body)
    assert holder(superuser, uid) is None


def test_a_session_that_fails_on_a_message_closes_with_4500_and_releases(users, document, superuser, monkeypatch):
    from django_lockable import live

    uid = document.lock_uid

    async def body():
        alice, bob = await connected(users["alice"]), await connected(users["bob"])
        await alice.lock(uid)
        await bob.lock(uid)
        real = live.parse_request

        def failing(content: Any) -> Any:
            if content.get("action") == "unlock":
                raise RuntimeError("a bug")
            return real(content)

        monkeypatch.setattr(live, "parse_request", failing)
        await alice.send(action="unlock")
        assert await closed_with(alice) == 4500
        started = time.monotonic()
        await bob.until(state("editing"), timeout=2)
        assert time.monotonic() - started < 1
        await alice.disconnect()
        await bob.disconnect()

    run(body)


def test_a_consumer_that_crashes_releases(users, document, superuser, monkeypatch):
    from django_lockable import channels

    uid = document.lock_uid

    async def body():
        alice, bob = await connected(users["alice"]), await connected(users["bob"])
        await alice.lock(uid)
        await bob.lock(uid)

        def crash(*args: Any) -> bool:
            raise RecursionError("maximum recursion depth exceeded")

        monkeypatch.setattr(channels, "message_too_big", crash)
        await alice.until(state("editing", waiters=1))
        await alice.send(action="heartbeat")
        with pytest.raises(RecursionError):
            await alice.comm.receive_output(5)  # the consumer died
        started = time.monotonic()
        await bob.until(state("editing"), timeout=2)
        assert time.monotonic() - started < 1
        await bob.disconnect()

    run(body)


# ---- 17: logout ----

def logged_in_socket(cookie: str) -> Client:
    return routed([(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000"), (b"cookie", cookie.encode())])


def log_out(cookie: str) -> int:
    http = HttpClient(HTTP_HOST="127.0.0.1")
    http.cookies["sessionid"] = cookie.split("=", 1)[1]
    return http.post("/accounts/logout/").status_code


def test_a_logout_closes_that_sessions_sockets_with_4401_and_releases(users, document, superuser):
    uid = document.lock_uid
    first, second = session_cookie(users["alice"]), session_cookie(users["alice"])  # two browsers
    bob_cookie = session_cookie(users["bob"])

    async def body():
        await listening()
        tab1, tab2 = logged_in_socket(first), logged_in_socket(first)
        elsewhere, bob = logged_in_socket(second), logged_in_socket(bob_cookie)
        for client in (tab1, tab2, elsewhere, bob):
            assert (await client.connect())[0]
        assert (await tab1.lock(uid))["state"] == "editing"
        assert (await tab2.lock(uid))["state"] == "editing"    # her other tab, same session
        assert (await bob.lock(uid))["state"] == "waiting"
        await elsewhere.send(action="heartbeat")
        assert (await elsewhere.next())["type"] == "error"     # no lock there: she is logged in
        assert await asyncio.to_thread(log_out, first) == 302
        assert await closed_with(tab1, timeout=5) == 4401
        assert await closed_with(tab2, timeout=5) == 4401
        await bob.until(state("editing"), timeout=2)
        # the session of her other browser lives on
        await elsewhere.send(action="heartbeat")
        assert (await elsewhere.next())["type"] == "error"
        for client in (elsewhere, bob):
            await client.disconnect()
        await tab1.disconnect()
        await tab2.disconnect()

    run(body)


def test_a_new_socket_of_a_session_whose_logout_was_heard_is_refused(users, superuser):
    """Django sends user_logged_out before it deletes the session: a socket
    opened in between, with the session still valid, must not get in."""
    from django_lockable.live import login_key

    cookie = session_cookie(users["carol"])

    async def body():
        bridge = await listening()
        logouts = bridge.logouts
        notice = login_key(cookie.split("=", 1)[1])
        await asyncio.to_thread(superuser.run, "SELECT pg_catalog.pg_notify('lockable_logout', %s)", [notice])
        while bridge.logouts < logouts + 1:
            await asyncio.sleep(0.01)
        client = logged_in_socket(cookie)  # the session itself is still there
        assert (await client.connect())[0]
        assert await closed_with(client) == 4401

    run(body)


def test_a_forged_logout_notice_closes_nothing(users, document, superuser):
    cookie = session_cookie(users["carol"])

    async def body():
        bridge = await listening()
        client = logged_in_socket(cookie)
        assert (await client.connect())[0]
        assert (await client.lock(document.lock_uid))["state"] == "editing"
        logouts = bridge.logouts
        session_key = cookie.split("=", 1)[1]
        for payload in (session_key, "0" * 64, "", "not a key"):
            await asyncio.to_thread(superuser.run, "SELECT pg_catalog.pg_notify('lockable_logout', %s)", [payload])
        while bridge.logouts < logouts + 4:
            await asyncio.sleep(0.01)
        await client.send(action="heartbeat")
        assert (await client.next())["state"] == "editing"
        await client.disconnect()

    run(body)


def test_no_logout_notice_without_the_setting(users, document):
    cookie = session_cookie(users["carol"])

    async def body():
        bridge = await listening()
        client = logged_in_socket(cookie)
        assert (await client.connect())[0]
        assert (await client.lock(document.lock_uid))["state"] == "editing"
        logouts = bridge.logouts
        assert await asyncio.to_thread(log_out, cookie) == 302
        await asyncio.sleep(0.5)
        assert bridge.logouts == logouts
        await client.disconnect()

    with override_settings(LOCKABLE_CLOSE_ON_LOGOUT=False):
        run(body)

