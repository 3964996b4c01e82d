"""Issue 22's protocol through LockConsumer (WebsocketCommunicator, the real
database and the real bridge of each test's loop): tabs, view, presence,
request, hand over, decline, take over, saved, the reasons of ``lost``,
and every error they add.

The tests of presence leases need lockable 1.4's ``presence_touch``
(marked ``needs_presence``); the rest need ``lock_take_over`` (1.4).
Waits are bounded; nothing sleeps to hope a state came.
"""
import uuid
from typing import Any, Dict, List

import pytest
from django.test import override_settings

from django_lockable import _core, _db, owner_for
from django_lockable.live import NAMES

from .conftest import run
from .test_consumer import connected, listening, state

Message = Dict[str, Any]

needs_presence = pytest.mark.skipif(
    not _db.features("default").presence, reason="the database's lockable has no presence leases")


def tab() -> str:
    return uuid.uuid4().hex


def of_type(kind: str, **fields: Any):
    return lambda m: m["type"] == kind and all(m.get(k) == v for k, v in fields.items())


def people(message: Message) -> List[tuple]:
    return [(entry["user_id"], entry["state"], entry["idle"]) for entry in message["presence"]]


@pytest.fixture
def admin_role(superuser, cluster):
    """The site's role with lockable_admin, for the test (take over)."""
    superuser.run(f"GRANT lockable_admin TO {cluster.role}")
    yield
    superuser.run(f"REVOKE lockable_admin FROM {cluster.role}")


@pytest.fixture
def staff(users):
    """carol, as an active staff user (not saved: the policy reads the object)."""
    from django.contrib.auth import get_user_model

    carol = get_user_model().objects.get(pk=users["carol"].pk)
    carol.is_staff = True
    return carol


# ---- tabs ----


def test_a_tab_locks_as_its_own_owner_and_user_id_is_the_users(users, document, superuser):
    alice = users["alice"]
    t = tab()

    async def body():
        await listening()  # the events of the moves are heard
        client = await connected(alice)
        await client.send(action="lock", uid=document.lock_uid, tab=t)
        message = await client.next()
        assert (message["state"], message["owner"], message["user_id"]) == (
            "editing", f"{owner_for(alice)}#{t}", alice.pk)
        assert superuser.holder(document.lock_uid)[0] == f"{owner_for(alice)}#{t}"
        await client.disconnect()
        assert superuser.holder(document.lock_uid) is None

    run(body)


def test_a_second_tab_waits_with_other_tab_and_takes_over_without_any_permission(users, document, superuser):
    """Neither the take-over permission nor lockable_admin: the other tab hands it over."""
    alice = users["alice"]
    uid = document.lock_uid

    async def body():
        await listening()  # the events of the moves are heard
        first, second = await connected(alice), await connected(alice)
        await first.send(action="lock", uid=uid, tab="first")
        editing = await first.next()
        await second.send(action="lock", uid=uid, tab="second")
        waiting = await second.next()
        assert (waiting["state"], waiting["reason"], waiting["position"]) == ("waiting", "other_tab", 1)
        await second.send(action="take_over")
        taken = await second.until(lambda m: m["type"] == "status")
        assert taken["state"] == "editing" and taken["token"] > editing["token"]
        assert superuser.holder(uid)[0] == f"{owner_for(alice)}#second"
        lost = await first.until(state("lost"))
        assert (lost["reason"], lost["by"]) == ("other_tab", None)
        await first.disconnect()
        await second.disconnect()

    run(body)


def test_a_bad_tab_is_an_error_and_changes_nothing(users, document, superuser):
    async def body():
        await listening()  # the events of the moves are heard
        client = await connected(users["alice"])
        for bad in ["", "x" * 65, "a#b", "é", 7, True]:
            await client.send(action="lock", uid=document.lock_uid, tab=bad)
            message = await client.next()
            assert message["type"] == "error" and "tab" in message["message"], (bad, message)
        assert superuser.holder(document.lock_uid) is None
        await client.disconnect()

    run(body)


def test_the_uid_limit_counts_every_tab_of_the_user(users, superuser):
    uids = [f"test:{uuid.uuid4().hex[:12]}" for _ in range(3)]

    async def body():
        await listening()  # the events of the moves are heard
        with override_settings(LOCKABLE_MAX_UIDS_PER_USER=2, LOCKABLE_LOCK_PERMISSION=None):
            clients = [await connected(users["bob"]) for _ in uids]
            for client, uid in zip(clients[:2], uids):
                await client.send(action="lock", uid=uid, tab=tab())
                assert (await client.next())["state"] == "editing"
            await clients[2].send(action="lock", uid=uids[2], tab=tab())
            refused = await clients[2].next()
            assert refused["type"] == "error" and "LOCKABLE_MAX_UIDS_PER_USER" in refused["message"]
            # a view holds nothing: it is not refused
            await clients[2].send(action="view", uid=uids[2], tab=tab())
            assert (await clients[2].next())["state"] == "viewing"
            for client in clients:
                await client.disconnect()

    run(body)


# ---- view and presence ----


def test_view_sees_the_holder_and_waits_for_nothing(users, document, superuser):
    uid = document.lock_uid

    async def body():
        await listening()  # the events of the moves are heard
        alice, bob = await connected(users["alice"]), await connected(users["bob"])
        await alice.lock(uid)
        bob_tab = tab()
        await bob.send(action="view", uid=uid, tab=bob_tab)
        viewing = await bob.next()
        assert (viewing["state"], viewing["owner"], viewing["position"], viewing["token"]) == (
            "viewing", owner_for(users["alice"]), None, None)
        assert superuser.line(uid) == []
        # a heartbeat renews the view, a lock turns it into a waiter
        await bob.send(action="heartbeat")
        renewed = await bob.next()
        assert renewed["state"] == "viewing", renewed
        await bob.send(action="lock", uid=uid)
        assert "another tab" in (await bob.next())["message"]
        await bob.send(action="lock", uid=uid, tab=bob_tab)
        assert (await bob.next())["state"] == "waiting"
        await alice.disconnect()
        await bob.until(state("editing"))
        await bob.disconnect()

    run(body)


def test_view_errors(users, document, uid):
    async def body():
        await listening()  # the events of the moves are heard
        client = await connected(users["alice"])
        await client.send(action="view")
        assert "uid" in (await client.next())["message"]
        await client.lock(document.lock_uid)
        await client.send(action="view", uid=document.lock_uid)
        assert "unlock first" in (await client.next())["message"]
        await client.send(action="view", uid=uid)
        assert "unlock first" in (await client.next())["message"]
        await client.disconnect()

    run(body)


@needs_presence
def test_presence_lists_the_editor_the_waiters_and_the_viewers_with_names(users, document):
    uid = document.lock_uid
    alice, bob, carol = users["alice"], users["bob"], users["carol"]

    async def body():
        await listening()  # the events of the moves are heard
        a, b, c = await connected(alice), await connected(bob), await connected(carol)
        await a.lock(uid)
        await b.lock(uid)
        await c.send(action="view", uid=uid, tab=tab())
        viewing = await c.next()
        want = [(alice.pk, "editing", False), (bob.pk, "waiting", False), (carol.pk, "viewing", False)]
        assert people(viewing) == want  # the viewer's answer sees itself
        seen = await a.until(lambda m: m["type"] == "status" and people(m) == want)
        assert seen["presence_count"] == 3
        assert [entry["name"] for entry in seen["presence"]] == ["alice", "bob", "carol"]
        await b.until(lambda m: m["type"] == "status" and people(m) == want)
        # idle comes from the client's heartbeat, and every socket hears it
        await c.send(action="heartbeat", idle=True)
        idle = [(alice.pk, "editing", False), (bob.pk, "waiting", False), (carol.pk, "viewing", True)]
        await a.until(lambda m: m["type"] == "status" and people(m) == idle)
        # a viewer that leaves is gone from the list at once
        await c.disconnect()
        await a.until(lambda m: m["type"] == "status" and people(m) == want[:2])
        await a.disconnect()
        await b.disconnect()

    run(body)


@needs_presence
def test_presence_is_bounded_by_presence_max_and_counts_everyone(users, document):
    uid = document.lock_uid

    async def body():
        await listening()  # the events of the moves are heard
        with override_settings(LOCKABLE_PRESENCE_MAX=2):
            viewers = [await connected(users[name]) for name in ("alice", "bob", "carol")]
            for viewer in viewers:
                await viewer.send(action="view", uid=uid, tab=tab())
                await viewer.next()
            seen = await viewers[0].until(lambda m: m["type"] == "status" and m["presence_count"] == 3)
            assert len(seen["presence"]) == 2
            assert [entry["user_id"] for entry in seen["presence"]] == [users["alice"].pk, users["bob"].pk]
            for viewer in viewers:
                await viewer.disconnect()

    run(body)


@needs_presence
def test_a_silent_viewer_drops_out_when_its_lease_lapses(users, document, superuser):
    uid = document.lock_uid

    async def body():
        await listening()  # the events of the moves are heard
        a = await connected(users["alice"], ttl=6)
        silent = await connected(users["bob"], ttl=1)
        await a.lock(uid)
        await silent.send(action="view", uid=uid, tab=tab())
        await silent.next()
        await a.until(lambda m: m["type"] == "status" and m["presence_count"] == 2)
        # no heartbeat: the lease ends after 1 s, and alice's list drops bob
        await a.until(lambda m: m["type"] == "status" and m["presence_count"] == 1, timeout=5)
        assert [row[0] for row in superuser.run("SELECT owner FROM lockable.presence_of(%s)", [uid])] == [
            owner_for(users["alice"])]
        await silent.disconnect()
        await a.disconnect()

    run(body)


def test_idle_must_be_a_boolean(users, document):
    async def body():
        await listening()  # the events of the moves are heard
        client = await connected(users["alice"])
        await client.lock(document.lock_uid)
        await client.send(action="heartbeat", idle="yes")
        assert (await client.next()) == {"type": "error", "message": '"idle" is true or false'}
        await client.disconnect()

    run(body)


def test_every_status_tells_the_client_lockable_idle(users, document):
    async def body():
        await listening()  # the events of the moves are heard
        with override_settings(LOCKABLE_IDLE=45):
            client = await connected(users["alice"])
            assert (await client.lock(document.lock_uid))["idle_after"] == 45.0
            await client.disconnect()

    run(body)


# ---- request, decline, hand over ----


def test_request_reaches_the_holder_and_decline_reaches_the_asker(users, document):
    uid = document.lock_uid
    alice, bob = users["alice"], users["bob"]

    async def body():
        await listening()  # the events of the moves are heard
        a, b = await connected(alice), await connected(bob)
        await a.lock(uid)
        await b.lock(uid)
        await b.send(action="request", message="may I?")
        assert (await b.next())["state"] == "waiting"
        asked = await a.until(of_type("request"))
        assert asked == {"type": "request", "from": {"user_id": bob.pk, "name": "bob"}, "message": "may I?"}
        # one pending request per waiter
        await b.send(action="request")
        assert (await b.until(of_type("error")))["message"] == "you have asked already: wait for the answer"
        await a.send(action="decline", to=bob.pk)
        assert (await a.until(lambda m: m["type"] in ("status", "error")))["type"] == "status"
        declined = await b.until(of_type("declined"))
        assert declined == {"type": "declined", "by": {"user_id": alice.pk, "name": "alice"}}
        # answered: bob may ask again
        await b.send(action="request")
        assert (await a.until(of_type("request")))["message"] is None
        assert len([m for m in b.received if m["type"] == "error"]) == 1
        await a.disconnect()
        await b.disconnect()

    run(body)


def test_hand_over_lets_the_waiter_in_and_tells_the_holder_who(users, document, superuser):
    uid = document.lock_uid
    alice, bob, carol = users["alice"], users["bob"], users["carol"]

    async def body():
        await listening()  # the events of the moves are heard
        a, b, c = await connected(alice), await connected(bob), await connected(carol)
        first = await a.lock(uid)
        await b.lock(uid)
        await c.send(action="lock", uid=uid, tab="carol-tab")
        await c.next()
        # to a user id, the second in line: it goes past bob
        await a.send(action="hand_over", to=carol.pk)
        lost = await a.until(state("lost"))
        assert (lost["state"], lost["reason"], lost["by"]) == (
            "lost", "handed_over", {"user_id": carol.pk, "name": "carol"})
        editing = await c.until(state("editing"))
        assert editing["token"] > first["token"]
        assert superuser.holder(uid)[0] == f"{owner_for(carol)}#carol-tab"
        await b.until(state("waiting", position=1))
        # to an owner: carol hands it to bob's place
        await c.send(action="hand_over", to=owner_for(bob))
        assert (await c.until(state("lost")))["reason"] == "handed_over"
        await b.until(state("editing"))
        for client in (a, b, c):
            await client.disconnect()

    run(body)


@pytest.mark.parametrize("message, text", [
    ({"action": "request"}, "only a waiter asks"),
    ({"action": "hand_over", "to": 999999}, "nobody of that id"),
    ({"action": "decline", "to": 999999}, "nobody of that id"),
    ({"action": "request", "message": "x" * 501}, "at most 500 characters"),
    ({"action": "request", "message": 7}, "at most 500 characters"),
    ({"action": "hand_over"}, "needs \"to\""),
    ({"action": "hand_over", "to": True}, "needs \"to\""),
    ({"action": "decline", "to": None}, "needs \"to\""),
    ({"action": "take_over", "reason": ["no"]}, "at most 500 characters"),
])
def test_bad_moves_are_errors_and_change_nothing(users, document, superuser, message, text):
    uid = document.lock_uid

    async def body():
        await listening()  # the events of the moves are heard
        client = await connected(users["alice"])
        await client.lock(uid)
        before = superuser.holder(uid)
        await client.comm.send_json_to(message)
        answer = await client.next()
        assert answer["type"] == "error" and text in answer["message"], answer
        assert superuser.holder(uid) == before
        await client.disconnect()

    run(body)


def test_moves_to_nobody_in_the_line_are_errors(users, document, superuser):
    uid = document.lock_uid

    async def body():
        await listening()  # the events of the moves are heard
        a, b = await connected(users["alice"]), await connected(users["bob"])
        await a.lock(uid)
        await b.lock(uid)
        for action in ("hand_over", "decline"):
            await a.send(action=action, to=users["carol"].pk)
            answer = await a.until(of_type("error"))
            assert answer["type"] == "error" and "nobody of that id" in answer["message"]
        assert superuser.holder(uid)[0] == owner_for(users["alice"])
        await b.send(action="decline", to=users["alice"].pk)
        assert "only the holder" in (await b.until(of_type("error")))["message"]
        await a.disconnect()
        await b.disconnect()

    run(body)


def test_a_request_with_nobody_to_ask_is_an_error(users, document, superuser):
    uid = document.lock_uid

    async def body():
        await listening()  # the events of the moves are heard
        a, b = await connected(users["alice"]), await connected(users["bob"])
        await a.lock(uid)
        await b.lock(uid)
        # the holder's lease is cut short in the database: nobody holds it live
        superuser.run("UPDATE lockable.locks SET expires_at = pg_catalog.clock_timestamp() WHERE uid = %s", [uid])
        await b.send(action="request")
        answer = await b.until(lambda m: m["type"] == "error" or m.get("state") == "editing")
        assert answer["type"] == "error" or answer["state"] == "editing"
        await a.disconnect()
        await b.disconnect()

    run(body)


# ---- take over ----


def test_take_over_by_staff_tells_the_holder_who_took_it(users, document, superuser, admin_role, staff):
    uid = document.lock_uid

    async def body():
        await listening()  # the events of the moves are heard
        a, c = await connected(users["alice"]), await connected(staff)
        first = await a.lock(uid)
        await c.send(action="view", uid=uid)
        await c.next()
        await c.send(action="take_over", reason="urgent fix")
        taken = await c.until(lambda m: m["type"] == "status")
        assert taken["state"] == "editing" and taken["token"] > first["token"]
        lost = await a.until(state("lost"))
        assert (lost["reason"], lost["by"]) == ("taken_over", {"user_id": staff.pk, "name": "carol"})
        (reason,) = superuser.run(
            "SELECT reason FROM lockable.lock_history WHERE uid = %s AND event = 'take_over'", [uid])[0]
        assert '"urgent fix"' in reason and '"carol"' in reason
        await a.disconnect()
        await c.disconnect()

    run(body)


def test_take_over_refusals_are_errors_and_change_nothing(users, document, superuser, staff):
    uid = document.lock_uid

    async def body():
        await listening()  # the events of the moves are heard
        a, b = await connected(users["alice"]), await connected(users["bob"])
        await b.send(action="take_over")
        assert "send lock or view first" in (await b.next())["message"]
        await a.lock(uid)
        await a.send(action="take_over")
        assert "holds the lock already" in (await a.next())["message"]
        await b.lock(uid)
        await b.send(action="take_over")
        assert (await b.next())["message"] == "you may not take this lock over"
        # staff, but the site's role lacks lockable_admin
        c = await connected(staff)
        await c.send(action="view", uid=uid)
        await c.next()
        await c.send(action="take_over")
        assert "lacks lockable_admin" in (await c.next())["message"]
        assert superuser.holder(uid)[0] == owner_for(users["alice"])
        for client in (a, b, c):
            await client.disconnect()

    run(body)


# ---- saved ----


def test_saved_reaches_every_other_socket_of_the_record(users, document, superuser):
    from documents.models import Document

    uid = document.lock_uid
    alice = users["alice"]

    async def body():
        await listening()  # the events of the moves are heard
        a, b, c = await connected(alice), await connected(users["bob"]), await connected(users["carol"])
        await a.send(action="lock", uid=uid, tab="alice-tab")
        editing = await a.next()
        await b.lock(uid)
        await c.send(action="view", uid=uid)
        await c.next()

        def save():
            row = Document.objects.get(pk=document.pk)
            row.body = "Saved by alice."
            with _core.writing_as(alice, token=editing["token"], owner=f"{owner_for(alice)}#alice-tab"):
                row.save()
            return row.version

        from asgiref.sync import sync_to_async

        version = await sync_to_async(save, thread_sensitive=False)()
        for client in (b, c):
            saved = await client.until(of_type("saved"))
            assert saved == {"type": "saved", "version": version, "by": {"user_id": alice.pk, "name": "alice"}}
        # the writer's own socket hears nothing of it: what it got before the
        # answer to a heartbeat has no saved (the others' came before)
        await a.send(action="heartbeat")
        await a.until(lambda m: m["type"] == "status" and m["state"] == "editing" and m["token"] == editing["token"])
        assert not [m for m in a.received if m["type"] == "saved"]
        for client in (a, b, c):
            await client.disconnect()

    run(body)


def test_the_rest_api_saves_as_the_tab_that_holds_the_lock(users, document, superuser):
    """LockEnforcedMixin writes as the user's tab that holds the row's lock."""
    from django.test import Client as HttpClient

    uid = document.lock_uid
    alice = users["alice"]

    # as a tab's socket takes it (the socket's own session would release
    # it when its test loop ends)
    token = superuser.run("SELECT token FROM lockable.lock_acquire(%s, %s, '1 minute')",
                          [uid, f"{owner_for(alice)}#t1"])[0][0]
    http = HttpClient(SERVER_NAME="localhost")
    http.force_login(alice)
    url = f"/api/documents/{document.pk}/"
    ok = http.put(url, {"title": "T", "body": "B", "version": document.version}, content_type="application/json",
                  HTTP_LOCKABLE_TOKEN=str(token))
    assert ok.status_code == 200, ok.content
    # with another token, not under that grant: refused
    stale = http.put(url, {"title": "T", "body": "C", "version": ok.json()["version"]},
                     content_type="application/json", HTTP_LOCKABLE_TOKEN=str(token + 1000))
    assert stale.status_code == 423
    # bob is not alice: refused
    http.force_login(users["bob"])
    refused = http.put(url, {"title": "T", "body": "D", "version": ok.json()["version"]},
                       content_type="application/json")
    assert refused.status_code == 423
    superuser.run("SELECT lockable.lock_release(%s, %s)", [uid, f"{owner_for(alice)}#t1"])


# ---- why lost ----


def test_lost_says_broken_when_an_admin_breaks_the_lock(users, document, superuser):
    uid = document.lock_uid

    async def body():
        await listening()  # the events of the moves are heard
        a = await connected(users["alice"])
        await a.lock(uid)
        superuser.run("SELECT lockable.lock_break(%s)", [uid])
        lost = await a.until(state("lost"))
        assert (lost["reason"], lost["by"]) == ("broken", None)
        await a.disconnect()

    run(body)


def test_lost_says_expired_when_the_client_went_silent(users, document):
    uid = document.lock_uid

    async def body():
        await listening()  # the events of the moves are heard
        a = await connected(users["alice"], ttl=1)
        await a.lock(uid)
        lost = await a.until(state("lost"), timeout=5)
        assert lost["reason"] == "expired"
        await a.disconnect()

    run(body)


def test_unlock_says_released(users, document):
    async def body():
        await listening()  # the events of the moves are heard
        a = await connected(users["alice"])
        await a.lock(document.lock_uid)
        await a.send(action="unlock")
        lost = await a.next()
        assert (lost["state"], lost["reason"]) == ("lost", "released")
        await a.disconnect()

    run(body)


def test_names_are_read_once_per_process(users, document):
    NAMES.clear()
    before = NAMES.queries

    async def body():
        await listening()  # the events of the moves are heard
        clients = [await connected(users[name]) for name in ("alice", "bob", "carol")]
        for client in clients:
            await client.lock(document.lock_uid)
        await clients[0].until(lambda m: m["type"] == "status" and m["waiters"] == 2)
        for client in clients:
            await client.disconnect()

    run(body)
    assert 1 <= NAMES.queries - before <= 3
