"""End to end, in headless Chromium: the seven scenarios of issue 11.

Two Daphne processes serve the example site and share nothing but
PostgreSQL; alice, bob and carol each have a browser of their own (own
profile, own cookies), logged in once.  Each scenario edits a document of
its own.  Every wait is for a value of the page's data-lock-state (or
another data attribute) with an upper bound; the bounds the issue states
(1 s, ttl + 2 s) are the bounds of those waits.  After each scenario the
states every page showed (window.lockHistory) are checked: never two pages
showing "editing" at the same moment.

Leases are TTL seconds long (EXAMPLE_LOCK_TTL), so heartbeats go every
TTL / 3 seconds.
"""
import os
import re
import time
from datetime import timedelta
from typing import Any, Dict

import pytest

from django_lockable import owner_for
from django_lockable._core import base_owner

from .browser import Browser, Page, two_editors
from .conftest import TTL, People

pytestmark = pytest.mark.browser

SLACK = float(os.environ.get("LIVE_SLACK", "1"))  # scales the generous bounds on a slow machine


def one_editor_at_a_time(people: People, take_over: bool = False) -> None:
    """No two pages ever showed "editing" at once.  With take_over, but for
    a take over: the displaced page is told at once, after the taker's
    grant committed (its saves are refused from that commit on, by their
    token), so it showed "editing" until it heard "lost" with reason
    taken_over or other_tab."""
    for browser in people.browsers.values():
        for page in browser.pages:
            if page.ended_at is None and not browser.dead:
                browser.history(page)
    overlaps = two_editors(people.pages(), taken_over_ok=take_over)
    assert not overlaps, f"two pages showed editing at once: {overlaps}"


def screenshot(browser: Browser, page: Page, output: str, name: str) -> None:
    path = browser.screenshot(page, os.path.join("screenshots", name))
    assert os.path.getsize(path) > 0


def holder(superuser: Any, uid: str) -> Any:
    """The user's owner of uid's live holder (a tab's owner, user:7#<tab>,
    without its tab), or None."""
    found = superuser.holder(uid)
    return base_owner(found[0]) if found else None


# ---- 1 ----

def test_1_the_first_edits_the_others_wait_in_line_and_are_let_in_without_reload(
        people, servers, document, superuser, users, output):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    server = servers[0]
    a = alice.open(server, document)
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing")
    b = bob.open(server, document)
    bob.wait_for(b, 10 * SLACK, "waiting, position 1", lock_state="waiting", lock_position="1")
    c = carol.open(server, document)
    carol.wait_for(c, 10 * SLACK, "waiting, position 2", lock_state="waiting", lock_position="2")
    # the page has no list of users: it asks who holds the document
    carol.wait_for_text(c, 5 * SLACK, "lock-detail", "alice is editing")
    screenshot(alice, a, output, "editing.png")
    screenshot(carol, c, output, "waiting.png")
    bob._on(b).execute_script("window.notReloaded = true")

    alice.close(a)
    bob.wait_for(b, 1.0, "editing within 1 s of alice closing her tab", lock_state="editing")
    assert bob._on(b).execute_script("return window.notReloaded") is True, "the page reloaded"
    carol.wait_for(c, 5 * SLACK, "at position 1", lock_state="waiting", lock_position="1")
    assert holder(superuser, document.lock_uid) == owner_for(users["bob"])
    one_editor_at_a_time(people)


# ---- 2 ----

def test_2_a_killed_browser_lets_the_next_in_within_ttl_plus_2_seconds(people, servers, document, superuser, users):
    bob, carol = people["bob"], people["carol"]
    server = servers[0]
    b = bob.open(server, document)
    bob.wait_for(b, 10 * SLACK, "editing", lock_state="editing")
    c = carol.open(server, document)
    carol.wait_for(c, 10 * SLACK, "waiting", lock_state="waiting", lock_position="1")

    bob.kill()  # every Chromium process of bob's: no close frame
    carol.wait_for(c, TTL + 2, "editing within ttl + 2 s of the kill", lock_state="editing")
    assert holder(superuser, document.lock_uid) == owner_for(users["carol"])
    one_editor_at_a_time(people)


# ---- 3 ----

def test_3_the_hand_off_push_crosses_servers(people, servers, document, superuser, users):
    alice, bob = people["alice"], people["bob"]
    first, second = servers
    assert first.process.pid != second.process.pid and first.port != second.port
    a = alice.open(first, document)
    alice.wait_for(a, 10 * SLACK, "editing on server 1", lock_state="editing")
    b = bob.open(second, document)
    bob.wait_for(b, 10 * SLACK, "waiting on server 2", lock_state="waiting", lock_position="1")

    alice.close(a)
    bob.wait_for(b, 1.0, "editing on server 2 within 1 s of alice closing her tab on server 1",
                 lock_state="editing")
    assert holder(superuser, document.lock_uid) == owner_for(users["bob"])
    one_editor_at_a_time(people)


# ---- 4 ----

def test_4_a_postgres_restart_while_users_wait(people, servers, document, superuser, users, cluster):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    a = alice.open(servers[0], document)
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing")
    b = bob.open(servers[1], document)
    bob.wait_for(b, 10 * SLACK, "waiting", lock_state="waiting", lock_position="1")
    c = carol.open(servers[0], document)
    carol.wait_for(c, 10 * SLACK, "waiting", lock_state="waiting", lock_position="2")
    pages = [(alice, a), (bob, b), (carol, c)]

    cluster.pg_ctl("stop", "-m", "fast", "-w")
    try:
        # Each server finds the database gone and closes its sockets with
        # 4503: the pages reconnect, and say so meanwhile.
        for browser, page in pages:
            browser.wait_for(page, 15 * SLACK, "connecting while the database is down", lock_state="connecting")
    finally:
        cluster.pg_ctl("start", "-w", "-l", os.path.join(cluster.data, "..", "server.log"))

    # The line resumes: one editor, the others in line, as the database says.
    def settled() -> Dict[str, str]:
        return {browser.user: browser.state(page) for browser, page in pages}

    deadline = time.monotonic() + 30 * SLACK
    while not (sorted(settled().values()) == ["editing", "waiting", "waiting"]):
        assert time.monotonic() < deadline, f"the line did not resume: {settled()}"
        time.sleep(0.1)
    editor = next(user for user, state in settled().items() if state == "editing")
    assert holder(superuser, document.lock_uid) == owner_for(users[editor])
    waiting = [(browser, page) for browser, page in pages if browser.user != editor]
    positions = sorted(browser.attribute(page, "data-lock-position") for browser, page in waiting)
    assert positions == ["1", "2"]
    assert [base_owner(owner) for owner in superuser.line(document.lock_uid)] == [
        owner_for(users[browser.user]) for browser, page in sorted(
            waiting, key=lambda bp: bp[0].attribute(bp[1], "data-lock-position"))]

    # ... and hands on as before.
    editor_browser, editor_page = next((browser, page) for browser, page in pages if browser.user == editor)
    next_browser, next_page = next((browser, page) for browser, page in waiting
                                   if browser.attribute(page, "data-lock-position") == "1")
    editor_browser.close(editor_page)
    next_browser.wait_for(next_page, 5 * SLACK, "editing after the restart", lock_state="editing")
    one_editor_at_a_time(people)


# ---- 5 ----

def test_5_an_idle_holder_is_warned_continue_keeps_the_lock_and_then_the_waiter_gets_in(
        people, servers, document, superuser, users, output):
    alice, bob = people["alice"], people["bob"]
    server = servers[0]
    idle, warn = 3, 4  # seconds; the page's idleTimeout and warnBefore
    a = alice.open(server, document, f"?idle={idle}&warn={warn}")
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing")
    b = bob.open(server, document)
    bob.wait_for(b, 10 * SLACK, "waiting", lock_state="waiting", lock_position="1")
    alice.click(a, "body")  # alice's last input: idle from now on

    # idle after `idle` s; the lease then ends within ttl; warned `warn` s before
    alice.wait_for(a, (idle + TTL) * SLACK + 2, "the idle warning", lock_warning="idle", lock_state="editing")
    screenshot(alice, a, output, "idle-warning.png")
    owner, token, expires_at = superuser.holder(document.lock_uid)
    assert base_owner(owner) == owner_for(users["alice"])

    alice.click(a, "continue")
    alice.wait_for(a, 2 * SLACK, "the warning gone", lock_warning="", lock_state="editing")
    deadline = time.monotonic() + 5 * SLACK
    while superuser.holder(document.lock_uid)[2] <= expires_at:
        assert time.monotonic() < deadline, "Continue did not renew the lease"
        time.sleep(0.05)
    assert superuser.holder(document.lock_uid)[:2] == (owner, token)  # renewed, not re-granted
    # Past the end of the lease alice had before Continue: she still edits.
    while superuser.now() <= expires_at + timedelta(seconds=0.5):
        time.sleep(0.05)
    assert (alice.state(a), bob.state(b)) == ("editing", "waiting")

    # Now she leaves it: warned again, her lease ends, bob gets in.
    alice.wait_for(a, (idle + TTL) * SLACK + 2, "the idle warning again", lock_warning="idle")
    bob.wait_for(b, (warn + 2) * SLACK + 1, "editing after alice's lease ran out", lock_state="editing")
    alice.wait_for(a, 3 * SLACK, "lost", lock_state="lost", lock_warning="")
    assert holder(superuser, document.lock_uid) == owner_for(users["bob"])
    one_editor_at_a_time(people)


# ---- 6 ----

def test_6_a_stale_form_is_refused_409_and_alices_text_is_intact(people, servers, document, superuser):
    """The 409 stays the last line of defence: a form whose version is stale
    (here made so by the test: the page itself reloads after a save it
    hears of, see issue 22, item 4) is refused and says so."""
    alice, bob = people["alice"], people["bob"]
    server = servers[0]
    a = alice.open(server, document)
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing", editable="true")
    alice.type_into(a, "body", "Alice's text, saved.")
    alice.click(a, "save")
    alice.wait_for(a, 10 * SLACK, "saved", save_result="saved")
    alice.close(a)
    b = bob.open(server, document)
    bob.wait_for(b, 5 * SLACK, "editing", lock_state="editing", editable="true")

    bob.execute(b, "document.getElementById('version').value = '1'")  # as a form loaded before alice saved
    bob.type_into(b, "body", "Bob's text, typed into a stale form.")
    bob.click(b, "save")
    bob.wait_for(b, 10 * SLACK, "refused as stale", save_result="conflict")
    assert bob.text(b, "save-message") == "This document changed since you opened it: reload"
    (body, version), = superuser.run("SELECT body, version FROM documents_document WHERE id = %s", [document.pk])
    assert (body, version) == ("Alice's text, saved.", 2)
    one_editor_at_a_time(people)


# ---- 7 ----

def test_7_a_tab_whose_lock_was_handed_on_shows_lost_read_only_and_its_stale_save_is_refused(
        people, servers, document, superuser, users):
    alice, bob = people["alice"], people["bob"]
    server = servers[0]
    a = alice.open(server, document, "?idle=2&warn=1")
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing", editable="true")
    b = bob.open(server, document)
    bob.wait_for(b, 10 * SLACK, "waiting", lock_state="waiting", lock_position="1")
    alice.type_into(a, "body", "Alice's late edit.")  # then she goes idle

    bob.wait_for(b, (2 + TTL + 3) * SLACK, "editing once alice's lease ran out", lock_state="editing")
    alice.wait_for(a, 3 * SLACK, "lost, read-only", lock_state="lost", editable="false")
    driver = alice._on(a)
    assert driver.find_element("id", "body").get_attribute("readonly") is not None
    assert driver.find_element("id", "save").get_attribute("disabled") is not None
    assert driver.find_element("id", "body").get_attribute("value") == "Alice's late edit.", "her text is kept"
    # The database still decides: the page's save, sent with the old token, is refused.
    alice.execute(a, "document.getElementById('save').disabled = false")
    alice.click(a, "save")
    alice.wait_for(a, 10 * SLACK, "refused", save_result="refused")
    assert alice.state(a) == "lost"
    message = driver.find_element("id", "save-message").text
    assert message.startswith("Refused: This record is locked")
    (body,), = superuser.run("SELECT body FROM documents_document WHERE id = %s", [document.pk])
    assert body == "The original text.\n"
    assert holder(superuser, document.lock_uid) == owner_for(users["bob"])
    one_editor_at_a_time(people)


# ==== issue 22: the editor page, one scenario per numbered item ====

@pytest.fixture
def dave(servers, output):
    """A fourth user, dave, in a browser of his own (the viewer of item 1)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    get_user_model().objects.get_or_create(
        username="dave", defaults={"password": make_password("lockable")})
    browser = Browser("dave", output)
    try:
        browser.login(servers[0])
        yield browser
    finally:
        browser.close_pages()
        browser.quit()


def announced(browser: Browser, page: Page) -> str:
    """The last words of the page's aria-live region (visually hidden)."""
    return browser.execute(page, "return document.getElementById('lock-message').textContent").strip("\u00a0")


# ---- issue 22, item 1: presence, on every server ----

def test_22_1_three_users_and_a_viewer_see_each_other_live_across_servers(
        people, servers, document, dave, output):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    first, second = servers
    a = alice.open(first, document)
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing")
    b = bob.open(second, document)
    bob.wait_for(b, 10 * SLACK, "waiting", lock_state="waiting", lock_position="1")
    c = carol.open(first, document)
    carol.wait_for(c, 10 * SLACK, "waiting", lock_state="waiting", lock_position="2")
    d = dave.open(second, document, "?lock_on=edit")  # opened to read
    dave.wait_for(d, 10 * SLACK, "viewing", lock_state="viewing", editable="false")
    everyone = "alice:editing,bob:waiting,carol:waiting,dave:viewing"
    pages = [(alice, a), (bob, b), (carol, c), (dave, d)]
    for browser, page in pages:
        browser.wait_for(page, 5 * SLACK, f"presence {everyone}", presence=everyone)
    assert dave.text(d, "lock-detail") == "alice is editing."
    assert "dave (you): viewing" in dave.text(d, "presence")
    screenshot(dave, d, output, "presence.png")

    alice.close(a)  # on server 1: the pages on server 2 see it too
    after = "bob:editing,carol:waiting,dave:viewing"
    for browser, page in pages[1:]:
        browser.wait_for(page, 5 * SLACK, f"presence {after}", presence=after)
    bob.wait_for(b, 1.0 * SLACK, "editing", lock_state="editing")
    one_editor_at_a_time(people)


# ---- issue 22: a second tab of the same user ----

def test_22_a_second_tab_of_the_same_user_waits_for_its_other_tab_and_may_take_over_from_it(
        people, servers, document, superuser, users):
    alice = people["alice"]
    first = alice.open(servers[0], document)
    alice.wait_for(first, 10 * SLACK, "editing", lock_state="editing", editable="true")
    second = alice.open(servers[1], document)  # a tab of its own: its own tab id
    alice.wait_for(second, 10 * SLACK, "waiting for her other tab", lock_state="waiting", lock_reason="other_tab")
    assert alice.text(second, "lock-headline") == "You are editing this document in another tab."
    assert alice.shown(second, "take-here") and not alice.shown(second, "ask-panel")
    assert not alice.shown(second, "take-over-panel"), "alice has no take-over permission: none needed here"
    tab_of_first = superuser.holder(document.lock_uid)[0]

    alice.click(second, "take-here")
    alice.wait_for(second, 5 * SLACK, "editing in the second tab", lock_state="editing", editable="true")
    alice.wait_for(first, 5 * SLACK, "the first tab lost, other_tab", lock_state="lost", lock_reason="other_tab",
                   editable="false")
    owner = superuser.holder(document.lock_uid)[0]
    assert owner != tab_of_first and base_owner(owner) == owner_for(users["alice"])
    one_editor_at_a_time(people, take_over=True)


# ---- issue 22, item 2: asking ----

def test_22_2_ask_then_not_now_then_ask_then_hand_over(people, servers, document, superuser, users, output):
    alice, bob = people["alice"], people["bob"]
    a = alice.open(servers[0], document)
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing")
    b = bob.open(servers[1], document)
    bob.wait_for(b, 10 * SLACK, "waiting", lock_state="waiting", lock_position="1")
    bob_id = users["bob"].pk

    bob.type_into(b, "ask-message", "I need to fix the date")
    bob.click(b, "ask")
    bob.wait_for(b, 2 * SLACK, "asked", request="pending")
    assert not bob._on(b).find_element("id", "ask").is_enabled(), "one pending request at a time"
    alice.wait_for(a, 5 * SLACK, "the request", requests="1")
    assert "bob asks to edit" in alice.text(a, "requests")
    assert "I need to fix the date" in alice.text(a, "requests")
    assert "bob asks to edit" in announced(alice, a)
    screenshot(alice, a, output, "request.png")

    alice.click(a, f"decline-{bob_id}")
    alice.wait_for(a, 2 * SLACK, "no request left", requests="0")
    bob.wait_for(b, 5 * SLACK, "declined", request="declined", lock_state="waiting")
    assert bob.text(b, "ask-status") == "alice is still editing"

    bob.click(b, "ask")
    alice.wait_for(a, 5 * SLACK, "the second request", requests="1")
    alice.click(a, f"hand-over-{bob_id}")
    bob.wait_for(b, 5 * SLACK, "let in", lock_state="editing", editable="true")
    alice.wait_for(a, 5 * SLACK, "lost, handed over", lock_state="lost", lock_reason="handed_over")
    assert holder(superuser, document.lock_uid) == owner_for(users["bob"])
    one_editor_at_a_time(people)


# ---- issue 22, item 3: take over without losing work ----

@pytest.fixture
def lockable_admin(superuser, cluster):
    """The site's role may take locks over (lockable_admin) for this test:
    the others check what happens without it."""
    superuser.run(f"GRANT lockable_admin TO {cluster.role}")
    try:
        yield
    finally:
        superuser.run(f"REVOKE lockable_admin FROM {cluster.role}")


def test_22_3_take_over_keeps_the_displaced_draft_which_is_restored_on_the_next_grant(
        people, servers, document, superuser, users, output, lockable_admin):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    a = alice.open(servers[0], document)
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing", editable="true")
    alice.type_into(a, "body", "Alice's unsaved words.")
    b = bob.open(servers[1], document)
    bob.wait_for(b, 10 * SLACK, "waiting", lock_state="waiting")
    assert not bob.shown(b, "take-over-panel"), "bob may not take over"
    c = carol.open(servers[1], document)
    carol.wait_for(c, 10 * SLACK, "waiting", lock_state="waiting", lock_position="2")
    assert carol.shown(c, "take-over-panel"), "carol may (take_over_lock)"

    carol.type_into(c, "take-over-reason", "Urgent fix")
    carol.click(c, "take-over")
    carol.wait_for(c, 5 * SLACK, "editing after taking over", lock_state="editing", editable="true")
    alice.wait_for(a, 5 * SLACK, "lost, taken over, read-only", lock_state="lost", lock_reason="taken_over",
                   editable="false")
    alice.wait_for_text(a, 2 * SLACK, "lock-detail", "carol took over at ")
    detail = alice.text(a, "lock-detail")
    assert re.fullmatch(r"carol took over at \d\d:\d\d: your unsaved changes are kept\.", detail), detail
    assert alice.value(a, "body") == "Alice's unsaved words.", "still on her screen"
    draft = alice.execute(a, "return JSON.parse(localStorage.getItem("
                          "'django_lockable.draft:' + document.getElementById('editor').dataset.uid + ':' +"
                          " document.getElementById('editor').dataset.userId))")
    assert draft["values"]["body"] == "Alice's unsaved words." and draft["version"] == 1
    alice.click(a, "copy")
    assert "Alice's unsaved words." in alice.value(a, "copy-text")
    screenshot(alice, a, output, "taken-over.png")

    carol.type_into(c, "body", "Carol's urgent fix.")
    carol.click(c, "save")
    carol.wait_for(c, 10 * SLACK, "saved", save_result="saved")
    carol.close(c)
    bob.wait_for(b, 5 * SLACK, "bob's turn", lock_state="editing")
    bob.close(b)

    alice.click(a, "join")  # "Edit again"
    alice.wait_for(a, 10 * SLACK, "editing again, the draft offered", lock_state="editing", editable="true",
                   draft="compare")
    assert alice.value(a, "body") == "Carol's urgent fix.", "the current version, not overwritten silently"
    assert alice.value(a, "version") == "2"
    alice.click(a, "restore")
    assert alice.text(a, "compare-current").endswith("Carol's urgent fix.")
    assert alice.text(a, "compare-draft").endswith("Alice's unsaved words.")
    assert "Current version (2)" in alice.text(a, "compare-current-title")
    screenshot(alice, a, output, "restore-compare.png")
    alice.click(a, "use-draft")
    alice.wait_for(a, 2 * SLACK, "the draft restored", draft="")
    assert alice.value(a, "body") == "Alice's unsaved words."
    alice.click(a, "save")
    alice.wait_for(a, 10 * SLACK, "saved", save_result="saved")
    (body, version), = superuser.run("SELECT body, version FROM documents_document WHERE id = %s", [document.pk])
    assert (body, version) == ("Alice's unsaved words.", 3)
    one_editor_at_a_time(people, take_over=True)


# ---- issue 22, item 4: saved by someone else ----

def test_22_4_a_waiter_sees_the_holders_save_and_is_let_in_with_the_new_version(
        people, servers, document, superuser, output):
    alice, bob = people["alice"], people["bob"]
    a = alice.open(servers[0], document)
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing", editable="true")
    b = bob.open(servers[1], document)
    bob.wait_for(b, 10 * SLACK, "waiting", lock_state="waiting")
    assert bob.value(b, "version") == "1"

    alice.type_into(a, "body", "Alice's version two.")
    alice.click(a, "save")
    alice.wait_for(a, 10 * SLACK, "saved", save_result="saved")
    bob.wait_for(b, 5 * SLACK, "told of the save", saved_version="2")
    bob.wait_for_text(b, 2 * SLACK, "notice", "alice saved a new version (2).")
    assert announced(bob, b) == "alice saved a new version (2)"
    screenshot(bob, b, output, "saved.png")

    alice.close(a)
    bob.wait_for(b, 5 * SLACK, "editing with the form enabled", lock_state="editing", editable="true")
    # the form was loaded before it was enabled: no stale copy to edit
    assert (bob.value(b, "body"), bob.value(b, "version")) == ("Alice's version two.", "2")
    bob.type_into(b, "body", "Bob's version three.")
    bob.click(b, "save")
    bob.wait_for(b, 10 * SLACK, "saved", save_result="saved")
    (body, version), = superuser.run("SELECT body, version FROM documents_document WHERE id = %s", [document.pk])
    assert (body, version) == ("Bob's version three.", 3)
    one_editor_at_a_time(people)


# ---- issue 22, item 5: connection loss ----

def test_22_5_the_server_stops_while_alice_types_and_comes_back_with_her_draft_in_place(
        people, servers, document, superuser, users, output):
    alice = people["alice"]
    server = servers[1]
    a = alice.open(server, document)
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing", editable="true")
    alice.type_into(a, "body", "Typed as the network went")
    server.stop()  # the Daphne (or Uvicorn) this page is on
    try:
        alice.wait_for(a, 10 * SLACK, "reconnecting, read-only", lock_state="connecting", editable="false")
        assert alice.text(a, "lock-headline") == "Connection lost: reconnecting…"
        assert alice.value(a, "body") == "Typed as the network went", "nothing typed is lost"
        screenshot(alice, a, output, "connection-lost.png")
    finally:
        server.restart()
    alice.wait_for(a, 15 * SLACK, "editing again", lock_state="editing", editable="true", draft="")
    assert alice.value(a, "body") == "Typed as the network went", "the draft in place"
    alice.click(a, "save")
    alice.wait_for(a, 10 * SLACK, "saved", save_result="saved")
    (body,), = superuser.run("SELECT body FROM documents_document WHERE id = %s", [document.pk])
    assert body == "Typed as the network went"
    assert holder(superuser, document.lock_uid) == owner_for(users["alice"])
    one_editor_at_a_time(people)


# ---- issue 22, item 6: lock on open, or on the first edit ----

def test_22_6_lock_on_edit_views_first_and_joins_on_the_first_keystroke(
        people, servers, document, superuser, users):
    bob, carol = people["bob"], people["carol"]
    b = bob.open(servers[0], document, "?lock_on=edit")
    bob.wait_for(b, 10 * SLACK, "viewing", lock_state="viewing", editable="true")
    assert holder(superuser, document.lock_uid) is None, "viewing takes no lock"
    assert superuser.line(document.lock_uid) == []
    c = carol.open(servers[1], document, "?lock_on=edit")
    carol.wait_for(c, 10 * SLACK, "viewing", lock_state="viewing")

    bob.type_into(b, "body", "Bob starts typing")
    bob.wait_for(b, 5 * SLACK, "editing from the first keystroke", lock_state="editing", editable="true")
    assert bob.value(b, "body") == "Bob starts typing", "the keystrokes are kept"
    assert holder(superuser, document.lock_uid) == owner_for(users["bob"])
    carol.wait_for(c, 5 * SLACK, "still viewing, read-only now", lock_state="viewing", editable="false")
    carol.wait_for_text(c, 2 * SLACK, "lock-detail", "bob is editing.")
    one_editor_at_a_time(people)


# ---- issue 22, item 7: accessible and noticeable ----

def test_22_7_keyboard_announcements_focus_title_and_a_notification_when_hidden(
        people, servers, document, users):
    alice, bob = people["alice"], people["bob"]
    a = alice.open(servers[0], document)
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing")
    bob.allow_notifications(servers[1])
    b = bob.open(servers[1], document)
    bob.wait_for(b, 10 * SLACK, "waiting", lock_state="waiting", lock_position="1")
    assert bob._on(b).title == "(Waiting: 1) Meeting notes"
    assert announced(bob, b) == "Waiting: you are number 1 in line"
    assert bob._on(b).find_element("id", "lock-message").get_attribute("aria-live") == "polite"

    # bob asks from the keyboard: into the message field, Tab to the button, Enter.
    bob._on(b).find_element("id", "ask-message").click()
    bob.press(b, "Please")
    bob.press(b, "\t")
    assert bob.focused(b) == "ask"
    bob.press(b, "\n")
    bob.wait_for(b, 2 * SLACK, "asked", request="pending")
    alice.wait_for(a, 5 * SLACK, "the request", requests="1")

    # Bob looks at another tab.  Headless Chromium reports every tab as
    # visible, so the page is told it is hidden as a browser with a window
    # would tell it (document.hidden, visibilityState); the notification
    # itself is the browser's own, with the permission granted.
    blank = bob.hide(b)
    bob.driver.switch_to.window(b.handle)
    bob.execute(b, "Object.defineProperty(document, 'hidden', {get: () => true});"
                   "Object.defineProperty(document, 'visibilityState', {get: () => 'hidden'})")
    bob.driver.switch_to.window(blank)
    # Alice hands over from the keyboard: focus on "Hand over", Enter.
    alice._on(a).execute_script(f"document.getElementById('hand-over-{users['bob'].pk}').focus()")
    alice.press(a, "\n")
    bob.wait_for(b, 5 * SLACK, "let in, while hidden, with a notification", lock_state="editing",
                 editable="true", notified="1")
    assert bob._on(b).title == "(Your turn) Meeting notes"
    assert announced(bob, b) == "Your turn: you can edit now"
    assert bob.focused(b) == "title", "focus moves to the form"
    bob.driver.switch_to.window(blank)
    bob.driver.close()
    bob.driver.switch_to.window(b.handle)
    one_editor_at_a_time(people)
