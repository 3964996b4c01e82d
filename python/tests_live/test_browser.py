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


def one_editor_at_a_time(people: People) -> None:
    for browser in people.browsers.values():
        for page in browser.pages:
            if page.ended_at is None and not browser.dead:
                browser.history(page)
    overlaps = two_editors(people.pages())
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
    carol.wait_for_text(c, 5 * SLACK, "lock-detail", "Alice is editing")
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

def test_6_a_save_of_a_stale_form_is_a_409_and_alices_text_is_intact(people, servers, document, superuser):
    alice, bob = people["alice"], people["bob"]
    server = servers[0]
    a = alice.open(server, document)
    alice.wait_for(a, 10 * SLACK, "editing", lock_state="editing")
    b = bob.open(server, document)  # bob's form: the document as it is now
    bob.wait_for(b, 10 * SLACK, "waiting", lock_state="waiting", lock_position="1")

    alice.type_into(a, "body", "Alice's text, saved.")
    alice.click(a, "save")
    alice.wait_for(a, 10 * SLACK, "saved", save_result="saved")
    alice.close(a)
    bob.wait_for(b, 5 * SLACK, "editing", lock_state="editing")

    bob.type_into(b, "body", "Bob's text, typed into the form he loaded before alice saved.")
    bob.click(b, "save")
    bob.wait_for(b, 10 * SLACK, "refused as stale", save_result="conflict")
    message = bob._on(b).find_element("id", "save-message").text
    assert message == "This document changed since you opened it: reload"
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
