"""LockConsumer through channels.testing.WebsocketCommunicator, against the
real database and the real notification bridge of each test's event loop.

Most tests set ``scope["user"]`` on the bare consumer; the tests of
authentication and origins go through the example's routed application
(CsrfOriginValidator and AuthMiddlewareStack) with a session cookie.
Waits are bounded; nothing sleeps to hope a state came.
"""
import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Callable, Dict, List, Optional

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError
from django.test import override_settings

from django_lockable import _core, live, owner_for
from django_lockable.channels import LockConsumer
from django_lockable.notifications import get_bridge

from .conftest import run

Message = Dict[str, Any]


class Client:
    """One websocket to the consumer, as a test drives it."""

    def __init__(self, application: Any, user: Any = None, headers: Optional[List] = None) -> None:
        self.comm = WebsocketCommunicator(application, "/ws/lock/", headers=headers)
        if user is not None:
            self.comm.scope["user"] = user
        self.received: List[Message] = []

    async def connect(self) -> Any:
        connected, detail = await self.comm.connect(timeout=10)
        return connected, detail

    async def send(self, **message: Any) -> None:
        await self.comm.send_json_to(message)

    async def next(self, timeout: float = 10) -> Message:
        message = await self.comm.receive_json_from(timeout=timeout)
        self.received.append(message)
        return message

    async def until(self, predicate: Callable[[Message], bool], timeout: float = 10) -> Message:
        """The first message that satisfies predicate, within timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            message = await self.next(timeout=max(0.01, deadline - time.monotonic()))
            if predicate(message):
                return message

    async def lock(self, uid: str) -> Message:
        await self.send(action="lock", uid=uid)
        return await self.next()

    async def close_code(self, timeout: float = 10) -> Optional[int]:
        output = await self.comm.receive_output(timeout)
        assert output["type"] == "websocket.close", output
        return output.get("code")

    async def disconnect(self) -> None:
        await self.comm.disconnect(timeout=10)

    def statuses(self) -> List[Message]:
        return [message for message in self.received if message["type"] == "status"]


def consumer(ttl: float = 6) -> Any:
    return LockConsumer.as_asgi(ttl=ttl)


async def connected(user: Any, ttl: float = 6) -> Client:
    client = Client(consumer(ttl), user)
    assert (await client.connect())[0]
    return client


def state(expected: str, **fields: Any) -> Callable[[Message], bool]:
    return lambda m: m["type"] == "status" and m["state"] == expected and all(m[k] == v for k, v in fields.items())


def session_cookie(user: Any) -> str:
    """A logged-in session of user, as Django's login would make it."""
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"sessionid={session.session_key}"


async def listening() -> Any:
    """The bridge of this loop, once it listens (a bound wait)."""
    bridge = get_bridge()
    bridge.start()
    for _ in range(1000):
        if bridge.connected:
            return bridge
        await asyncio.sleep(0.01)
    raise AssertionError("the bridge did not connect within 10 s")


# ---- the three client messages ----

def test_lock_grants_the_free_lock(users, document):
    alice = users["alice"]

    async def body():
        client = await connected(alice)
        message = await client.lock(document.lock_uid)
        assert message == {
            "type": "status", "uid": document.lock_uid, "state": "editing", "owner": owner_for(alice),
            "user_id": alice.pk, "position": None, "waiters": 0, "expires_at": message["expires_at"],
            "token": message["token"], "reason": None, "by": None,
            "presence": [{"user_id": alice.pk, "name": "alice", "state": "editing", "idle": False}],
            "presence_count": 1, "idle_after": 120.0}
        assert isinstance(message["token"], int)
        assert datetime.fromisoformat(message["expires_at"].replace("Z", "+00:00")) > datetime.now(UTC)
        await client.disconnect()

    run(body)


def test_lock_of_a_held_uid_waits_in_line_with_the_holder_and_position(users, document, superuser):
    uid = document.lock_uid

    async def body():
        alice, bob, carol = [await connected(users[name]) for name in ("alice", "bob", "carol")]
        editing = await alice.lock(uid)
        bob_status = await bob.lock(uid)
        assert (bob_status["state"], bob_status["position"], bob_status["waiters"]) == ("waiting", 1, 1)
        assert (bob_status["owner"], bob_status["user_id"], bob_status["token"]) == (
            owner_for(users["alice"]), users["alice"].pk, None)
        assert bob_status["expires_at"] == editing["expires_at"]
        carol_status = await carol.lock(uid)
        assert (carol_status["state"], carol_status["position"], carol_status["waiters"]) == ("waiting", 2, 2)
        # the holder hears that the line grew, and so does bob
        await alice.until(state("editing", waiters=2))
        await bob.until(state("waiting", position=1, waiters=2))
        assert superuser.line(uid) == [owner_for(users["bob"]), owner_for(users["carol"])]
        for client in (alice, bob, carol):
            await client.disconnect()

    run(body)


def test_the_owner_is_the_user_never_the_client(users, document, superuser):
    async def body():
        client = await connected(users["bob"])
        await client.send(action="lock", uid=document.lock_uid, owner="user:1", user_id=1)
        message = await client.next()
        assert (message["owner"], message["user_id"]) == (owner_for(users["bob"]), users["bob"].pk)
        assert superuser.holder(document.lock_uid)[0] == owner_for(users["bob"])
        await client.disconnect()

    run(body)


def test_heartbeat_renews_the_lock_with_the_same_token(users, document, superuser):
    async def body():
        client = await connected(users["alice"])
        first = await client.lock(document.lock_uid)
        expires_at_of_lock = superuser.holder(document.lock_uid)[2]
        await client.send(action="heartbeat")
        renewed = await client.next()
        assert (renewed["state"], renewed["token"]) == ("editing", first["token"])
        # The messages say milliseconds, and both may fall in one: the
        # database's row says microseconds.
        assert renewed["expires_at"] >= first["expires_at"]
        assert superuser.holder(document.lock_uid)[2] > expires_at_of_lock
        await client.disconnect()

    run(body)


def test_heartbeat_renews_the_place_which_keeps_its_position(users, document, superuser):
    uid = document.lock_uid

    async def body():
        alice, bob = await connected(users["alice"]), await connected(users["bob"])
        await alice.lock(uid)
        await bob.lock(uid)
        (before,) = superuser.run("SELECT expires_at FROM lockable.lock_queue WHERE uid = %s", [uid])
        await bob.send(action="heartbeat")
        renewed = await bob.next()
        assert (renewed["state"], renewed["position"]) == ("waiting", 1)
        (after,) = superuser.run("SELECT expires_at FROM lockable.lock_queue WHERE uid = %s", [uid])
        assert after > before
        await alice.disconnect()
        await bob.disconnect()

    run(body)


def test_unlock_hands_the_lock_to_the_next_in_line(users, document, superuser):
    uid = document.lock_uid

    async def body():
        alice, bob, carol = [await connected(users[name]) for name in ("alice", "bob", "carol")]
        first = await alice.lock(uid)
        await bob.lock(uid)
        await carol.lock(uid)
        await alice.send(action="unlock")
        left = await alice.until(lambda m: m["type"] == "status" and m["state"] != "editing")
        assert (left["state"], left["token"], left["position"]) == ("lost", None, None)
        handed = await bob.until(state("editing"))
        assert handed["token"] > first["token"] and handed["owner"] == owner_for(users["bob"])
        await carol.until(state("waiting", position=1, waiters=1))
        assert superuser.holder(uid)[:2] == (owner_for(users["bob"]), handed["token"])
        # a heartbeat after unlock says lost again, and changes nothing
        await alice.send(action="heartbeat")
        assert (await alice.next())["state"] == "lost"
        # lock again: the end of the line
        assert (await alice.lock(uid))["position"] == 2
        for client in (alice, bob, carol):
            await client.disconnect()

    run(body)


def test_disconnect_releases_and_hands_on(users, document, superuser):
    uid = document.lock_uid

    async def body():
        alice, bob = await connected(users["alice"]), await connected(users["bob"])
        await alice.lock(uid)
        await bob.lock(uid)
        await alice.disconnect()  # the tab closes
        handed = await bob.until(state("editing"))
        assert superuser.holder(uid)[:2] == (owner_for(users["bob"]), handed["token"])
        await bob.disconnect()
        assert superuser.holder(uid) is None

    run(body)


def test_disconnect_of_a_waiter_leaves_the_line(users, document, superuser):
    uid = document.lock_uid

    async def body():
        alice, bob, carol = [await connected(users[name]) for name in ("alice", "bob", "carol")]
        await alice.lock(uid)
        await bob.lock(uid)
        await carol.lock(uid)
        await bob.disconnect()
        await carol.until(state("waiting", position=1, waiters=1))
        await alice.until(state("editing", waiters=1))
        assert superuser.line(uid) == [owner_for(users["carol"])]
        await alice.disconnect()
        await carol.until(state("editing"))
        await carol.disconnect()

    run(body)


def test_lock_again_after_lost_joins_the_line_again(users, document):
    uid = document.lock_uid

    async def body():
        alice, bob = await connected(users["alice"]), await connected(users["bob"])
        await alice.lock(uid)
        await alice.send(action="unlock")
        await alice.next()
        assert (await bob.lock(uid))["state"] == "editing"
        assert (await alice.lock(uid))["state"] == "waiting"
        await alice.disconnect()
        await bob.disconnect()

    run(body)


def test_two_tabs_of_one_user_share_the_lock(users, document, superuser):
    uid = document.lock_uid

    async def body():
        tab1, tab2 = await connected(users["alice"]), await connected(users["alice"])
        first = await tab1.lock(uid)
        second = await tab2.lock(uid)
        assert (second["state"], second["token"]) == ("editing", first["token"])
        await tab1.disconnect()  # the other tab still edits: nothing is released
        assert superuser.holder(uid)[:2] == (owner_for(users["alice"]), first["token"])
        await tab2.disconnect()
        assert superuser.holder(uid) is None

    run(body)


# ---- errors: an error message, and the connection stays ----

BAD_FRAMES = [
    ({"text": "not json"}, "malformed frame: not JSON"),
    ({"bytes": b"\x00\x01"}, "malformed frame: send JSON text, not binary"),
    ({"text": "[1, 2]"}, "a message is a JSON object"),
    ({"text": "{}"}, "unknown action None"),
    ({"text": '{"action": "dance"}'}, "unknown action 'dance'"),
    ({"text": '{"action": "lock"}'}, "lock needs a \"uid\""),
    ({"text": '{"action": "lock", "uid": ""}'}, "lock needs a \"uid\""),
    ({"text": '{"action": "lock", "uid": 7}'}, "lock needs a \"uid\""),
    ({"text": json.dumps({"action": "lock", "uid": "x" * 513})}, "lock needs a \"uid\""),
    ({"text": '{"action": "lock", "uid": "doc\\u0000"}'}, "NUL"),
    ({"text": '{"action": "heartbeat"}'}, "send lock first"),
    ({"text": '{"action": "unlock"}'}, "nothing to unlock"),
]


@pytest.mark.parametrize("frame, error", BAD_FRAMES, ids=[e for _, e in BAD_FRAMES])
def test_a_bad_frame_gets_an_error_and_keeps_the_connection(users, document, frame, error):
    async def body():
        client = await connected(users["alice"])
        await client.comm.send_to(text_data=frame.get("text"), bytes_data=frame.get("bytes"))
        message = await client.next()
        assert message["type"] == "error" and error in message["message"], message
        assert set(message) == {"type", "message"}
        assert (await client.lock(document.lock_uid))["state"] == "editing"
        await client.disconnect()

    run(body)


def test_one_socket_one_uid_at_a_time(users, document, uid):
    async def body():
        client = await connected(users["alice"])
        await client.lock(document.lock_uid)
        await client.send(action="lock", uid=f"documents.document:{document.pk}0")
        message = await client.next()
        assert message["type"] == "error" and "send unlock first" in message["message"]
        await client.send(action="heartbeat")
        assert (await client.next())["state"] == "editing"
        await client.disconnect()

    run(body)


def test_lock_permission_refusal_is_an_error(users, uid, superuser):
    # The example lets users lock existing documents only.
    async def body():
        client = await connected(users["alice"])
        await client.send(action="lock", uid=uid)
        message = await client.next()
        assert message == {"type": "error", "message": "you may not lock this resource"}
        assert superuser.holder(uid) is None
        await client.disconnect()

    run(body)


def test_a_refusal_by_the_database_is_an_error(users, document):
    async def body():
        client = Client(LockConsumer.as_asgi(ttl=timedelta(days=2)), users["alice"])  # over lockable.max_ttl
        await client.connect()
        message = await client.lock(document.lock_uid)
        assert message["type"] == "error" and message["message"].startswith("the database refused: ttl")
        await client.disconnect()

    run(body)


# ---- who may connect ----

def test_an_anonymous_socket_is_closed_with_4401(document):
    async def body():
        client = Client(consumer(), AnonymousUser())
        assert (await client.connect())[0]  # accepted, so that the browser sees the code
        assert await client.close_code() == 4401

    run(body)


def routed(headers: List) -> Client:
    from example_site.asgi import application

    return Client(application, headers=headers)


@pytest.mark.parametrize("origin", [b"http://localhost:8000", b"http://127.0.0.1:8000"])
def test_a_logged_in_page_of_the_site_connects_through_the_routing(users, document, origin):
    cookie = session_cookie(users["carol"]).encode()
    host = origin.split(b"//")[1]  # a browser sends the page's host and port

    async def body():
        client = routed([(b"origin", origin), (b"host", host), (b"cookie", cookie)])
        assert (await client.connect())[0]
        message = await client.lock(document.lock_uid)
        assert (message["state"], message["owner"]) == ("editing", owner_for(users["carol"]))
        await client.disconnect()

    run(body)


def test_no_session_through_the_routing_is_closed_with_4401(document):
    async def body():
        client = routed([(b"origin", b"http://localhost:8000"), (b"host", b"localhost:8000")])
        assert (await client.connect())[0]
        assert await client.close_code() == 4401

    run(body)


@pytest.mark.parametrize("origin", [b"http://evil.example", b"http://localhost.evil.example:8000", None])
def test_a_page_of_another_site_cannot_connect(users, origin):
    # Cross-site websocket hijacking: the browser sends the victim's cookie.
    headers = [(b"cookie", session_cookie(users["alice"]).encode())]
    if origin is not None:
        headers.append((b"origin", origin))

    async def body():
        client = routed(headers)
        connected_, _ = await client.connect()
        assert not connected_

    run(body)


def origin_accepted(users: Dict[str, Any], origin: Optional[bytes], host: bytes = b"127.0.0.1:8000",
                    scheme: Optional[str] = None) -> bool:
    """Whether the routed application accepts a logged-in socket from a page
    of origin, to host (and by scheme ws, or wss)."""
    headers = [(b"host", host), (b"cookie", session_cookie(users["alice"]).encode())]
    if origin is not None:
        headers.append((b"origin", origin))

    async def body() -> bool:
        client = routed(headers)
        if scheme is not None:
            client.comm.scope["scheme"] = scheme
        accepted, _ = await client.connect()
        if accepted:
            await client.disconnect()
        return accepted

    return run(body)


# Issue 20, item 14: the origin is scheme, host and port, as Django's CSRF
# check has it; a host name alone let a page of any port in.
@pytest.mark.parametrize("origin, host, scheme, accepted", [
    (b"http://127.0.0.1:8000", b"127.0.0.1:8000", None, True),
    (b"http://localhost:8000", b"localhost:8000", None, True),
    (b"http://127.0.0.1:47490", b"127.0.0.1:8000", None, False),   # another port of the host
    (b"http://127.0.0.1", b"127.0.0.1:8000", None, False),
    (b"http://127.0.0.1:8000", b"127.0.0.1", None, False),
    (b"http://localhost:8000", b"127.0.0.1:8000", None, False),     # another host of ALLOWED_HOSTS
    (b"https://127.0.0.1:8000", b"127.0.0.1:8000", None, False),    # another scheme
    (b"https://127.0.0.1:8000", b"127.0.0.1:8000", "wss", True),
    (b"http://127.0.0.1:8000", b"127.0.0.1:8000", "wss", False),
    (b"http://evil.example:8000", b"evil.example:8000", None, False),  # not in ALLOWED_HOSTS
    (b"null", b"127.0.0.1:8000", None, False),
    (b"http://127.0.0.1:8000/", b"127.0.0.1:8000", None, False),
    (None, b"127.0.0.1:8000", None, False),
], ids=lambda value: value.decode() if isinstance(value, bytes) else str(value))
def test_the_origin_check_compares_scheme_host_and_port(users, origin, host, scheme, accepted):
    assert origin_accepted(users, origin, host, scheme) is accepted


@pytest.mark.parametrize("origin, accepted", [
    (b"https://app.example.com", True),
    (b"http://app.example.com", False),
    (b"https://app.example.com:8443", False),
    (b"https://other.example.com", False),
    (b"https://edit.docs.example.org", True),      # https://*.docs.example.org
    (b"https://docs.example.org", True),
    (b"http://edit.docs.example.org", False),
    (b"https://edit.docs.example.org:444", False),
    (b"https://evildocs.example.org", False),
], ids=lambda value: value.decode() if isinstance(value, bytes) else str(value))
def test_the_origin_check_takes_csrf_trusted_origins(users, origin, accepted):
    trusted = ["https://app.example.com", "https://*.docs.example.org", "app.example.net"]
    with override_settings(CSRF_TRUSTED_ORIGINS=trusted):
        assert origin_accepted(users, origin) is accepted
        # an entry without a scheme (Django 3.2's form) matches nothing
        assert origin_accepted(users, b"https://app.example.net") is False
        assert origin_accepted(users, b"http://app.example.net") is False


def test_the_origin_check_honours_secure_proxy_ssl_header(users):
    forwarded = [(b"x-forwarded-proto", b"https")]
    cookie = session_cookie(users["alice"]).encode()
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        async def body(origin: bytes) -> bool:
            client = routed([(b"host", b"127.0.0.1:8000"), (b"origin", origin), *forwarded, (b"cookie", cookie)])
            accepted, _ = await client.connect()
            if accepted:
                await client.disconnect()
            return accepted

        assert run(lambda: body(b"https://127.0.0.1:8000")) is True
        assert run(lambda: body(b"http://127.0.0.1:8000")) is False


def test_a_misconfigured_owner_closes_with_4500(users):
    async def body():
        client = Client(consumer(), users["alice"])
        assert (await client.connect())[0]
        assert await client.close_code() == 4500

    with override_settings(LOCKABLE_OWNER=lambda user: ""):
        run(body)


# ---- silence and expiry: no disconnect needed ----

def test_a_silent_waiter_loses_its_place_when_its_ttl_lapses(users, document, superuser):
    uid = document.lock_uid

    async def body():
        alice = await connected(users["alice"], ttl=30)
        bob = await connected(users["bob"], ttl=1.5)
        await alice.lock(uid)
        await bob.lock(uid)
        lost = await bob.until(lambda m: m["type"] == "status" and m["state"] != "waiting", timeout=1.5 + 3)
        assert (lost["state"], lost["position"]) == ("lost", None)
        assert superuser.line(uid) == []
        # A place that lapses sends no notification: the holder's next
        # heartbeat counts the line again.
        await alice.send(action="heartbeat")
        await alice.until(state("editing", waiters=0))
        await alice.disconnect()
        await bob.disconnect()

    run(body)


def test_a_vanished_holder_is_handed_on_within_a_second_of_its_expiry(users, document, superuser):
    """The waiter sends nothing either: only its consumer's look at the
    holder's expires_at can hand the lock on."""
    uid = document.lock_uid

    async def body():
        alice = await connected(users["alice"], ttl=1.5)
        bob = await connected(users["bob"], ttl=30)
        held = await alice.lock(uid)
        await bob.lock(uid)
        expires_at = datetime.fromisoformat(held["expires_at"].replace("Z", "+00:00"))
        within = (expires_at - datetime.now(UTC)).total_seconds() + 1.0
        handed = await bob.until(state("editing"), timeout=within)
        assert superuser.holder(uid)[:2] == (owner_for(users["bob"]), handed["token"])
        await alice.until(state("lost"))
        await alice.disconnect()
        await bob.disconnect()

    run(body)


# ---- notifications are hints ----

def test_a_forged_notify_lets_nobody_edit(users, document, superuser):
    uid = document.lock_uid
    alice_owner, bob_owner = owner_for(users["alice"]), owner_for(users["bob"])
    forged = [
        {"event": "released", "uid": uid, "owner": alice_owner, "token": 1, "waiters": 1},
        {"event": "acquired", "uid": uid, "owner": bob_owner, "token": 10 ** 9, "waiters": 0},
        {"event": "broken", "uid": uid, "owner": alice_owner, "token": 1, "waiters": 1},
        {"event": "expired", "uid": uid, "owner": alice_owner, "token": 1, "waiters": 1},
    ]

    async def body():
        bridge = await listening()
        alice, bob, carol = [await connected(users[name]) for name in ("alice", "bob", "carol")]
        held = await alice.lock(uid)
        await bob.lock(uid)
        await alice.until(state("editing", waiters=1))
        events = bridge.events
        for payload in forged:
            await asyncio.to_thread(superuser.notify, json.dumps(payload))
        await asyncio.to_thread(superuser.notify, "not even JSON")
        # A real change after the forgeries: once bob hears of it, his
        # consumer has dealt with every hint before it.
        await carol.lock(uid)
        await bob.until(state("waiting", position=1, waiters=2))
        await alice.until(state("editing", waiters=2))
        assert bridge.events >= events + len(forged) + 1  # they were all dispatched
        assert all(m["state"] == "waiting" for m in bob.statuses())
        assert all(m["state"] == "editing" and m["token"] == held["token"] for m in alice.statuses())
        assert superuser.holder(uid)[:2] == (alice_owner, held["token"])
        for client in (alice, bob, carol):
            await client.disconnect()

    run(body)


# ---- the database unreachable ----

def test_an_unreachable_database_closes_with_4503_and_gives_nothing_up(users, document, superuser, monkeypatch):
    uid = document.lock_uid

    async def body():
        alice = await connected(users["alice"])
        held = await alice.lock(uid)

        def unreachable(*args, **kwargs):
            raise OperationalError("could not connect to server: Connection refused")

        monkeypatch.setattr(_core, "acquire", unreachable)
        monkeypatch.setattr(_core, "release", unreachable)
        monkeypatch.setattr(live, "join", unreachable)  # the acquire with the presence lease (1.4)
        await alice.send(action="heartbeat")
        assert await alice.close_code() == 4503
        monkeypatch.undo()
        await alice.disconnect()
        # nothing was released: the lock waits for the client to come back
        assert superuser.holder(uid)[:2] == (owner_for(users["alice"]), held["token"])
        again = await connected(users["alice"])
        assert (await again.lock(uid))["token"] == held["token"]
        await again.disconnect()

    run(body)


def test_a_connection_the_server_dropped_is_retried_once(users, document, monkeypatch):
    real_join = live.join
    failures = []

    def once(*args, **kwargs):
        if not failures:
            failures.append(1)
            raise OperationalError("server closed the connection unexpectedly")
        return real_join(*args, **kwargs)

    async def body():
        alice = await connected(users["alice"])
        await alice.lock(document.lock_uid)
        monkeypatch.setattr(live, "join", once)  # the client's own acquire (and its presence)
        await alice.send(action="heartbeat")
        assert (await alice.next())["state"] == "editing"
        assert failures == [1]
        await alice.disconnect()

    run(body)
