"""Each close code of LockConsumer (django_lockable.live.CLOSE_CODES), as a
real browser receives it from the server under test (LIVE_ASGI_SERVER:
Daphne or Uvicorn): a WebSocket opened by a page of the site, in headless
Chromium, and the code its close event carries.

- 4401: a browser that is not logged in, and one whose session logs out on
  the other server;
- 4413: a message over LOCKABLE_MAX_MESSAGE_BYTES;
- 4429: a socket that sends faster than LOCKABLE_MAX_MESSAGES_PER_SECOND;
- 4500: a server whose LOCKABLE_OWNER names no owner;
- 4503: the database stops while the socket holds a lock.

Codes outside 4000-4999 (1009, 1011, 1013) are what Daphne's autobahn
refuses to send; these must arrive as they are.
"""
import os
from typing import Any, Dict, Optional

import pytest

from django_lockable.live import (
    CLOSE_MESSAGE_TOO_BIG,
    CLOSE_SERVER_ERROR,
    CLOSE_TOO_MANY_REQUESTS,
    CLOSE_TRY_AGAIN_LATER,
    CLOSE_UNAUTHENTICATED,
)

from .browser import Browser, Server, free_port
from .conftest import EXAMPLE_DIR, PYTHON_DIR, TTL

pytestmark = pytest.mark.browser

# Opens window.probe on the page's origin: sends a lock of the given uid
# once open, records every message, and the close event's code.
OPEN = r"""
const [uid, done] = [arguments[0], arguments[arguments.length - 1]];
const url = new URL("/ws/lock/", window.location.href);
url.protocol = "ws:";
const probe = window.probe = { opened: false, messages: [], code: null, reason: null };
const ws = probe.ws = new WebSocket(url.href);
ws.onopen = () => { probe.opened = true; if (uid) ws.send(JSON.stringify({ action: "lock", uid })); };
ws.onmessage = (event) => probe.messages.push(JSON.parse(event.data));
ws.onclose = (event) => { probe.code = event.code; probe.reason = event.reason; };
const end = performance.now() + 20000;
(function wait() {
    if (probe.code !== null || (uid && probe.messages.length > 0) || performance.now() > end) done(probe);
    else setTimeout(wait, 10);
})();
"""

# Sends arguments[0] (a string), arguments[1] times, on window.probe's socket.
SEND = r"""
const [text, times] = [arguments[0], arguments[1]];
for (let i = 0; i < times; i++) window.probe.ws.send(text);
"""

# Waits (at most 25 s) for the close of window.probe's socket.
CLOSED = r"""
const done = arguments[arguments.length - 1];
const end = performance.now() + 25000;
(function wait() {
    if (window.probe.code !== null || performance.now() > end) done(window.probe);
    else setTimeout(wait, 10);
})();
"""


def probe(browser: Browser, server: Server, uid: Optional[str] = None) -> Dict[str, Any]:
    """Open the probe socket from a page of server; what it saw by the first
    message (with uid) or by its close (without)."""
    driver = browser.driver
    driver.switch_to.window(browser.home)
    driver.get(f"{server.url}/accounts/login/")
    return driver.execute_async_script(OPEN, uid)


@pytest.fixture
def stranger(output: str) -> Any:
    """A browser of nobody: not logged in."""
    browser = Browser("nobody", output)
    yield browser
    browser.quit()


def test_4401_reaches_a_browser_that_is_not_logged_in(servers, stranger):
    seen = probe(stranger, servers[0])
    assert (seen["opened"], seen["code"]) == (True, CLOSE_UNAUTHENTICATED), seen


def test_4500_reaches_the_browser_when_lockable_owner_names_no_owner(people, cluster, output):
    from .browser import asgi_server

    kind = asgi_server()
    broken = Server(free_port(), os.path.join(output, f"{kind}-broken-owner.log"), kind)
    env = {**cluster.app_environment(), "EXAMPLE_LOCK_TTL": str(TTL),
           "EXAMPLE_LOCKABLE_OWNER": "tests_live.misconfigured.empty_owner"}
    broken.start(env, [EXAMPLE_DIR, PYTHON_DIR])
    try:
        # alice's session cookie (127.0.0.1, any port) is good there too: the
        # same database.
        seen = probe(people["alice"], broken)
    finally:
        broken.stop()
    assert (seen["opened"], seen["code"]) == (True, CLOSE_SERVER_ERROR), seen


def test_4413_reaches_the_browser_for_a_message_too_big(people, servers, superuser, document):
    alice = people["alice"]
    uid = document.lock_uid
    seen = probe(alice, servers[0], uid)
    assert seen["messages"][0]["state"] == "editing", seen
    alice.driver.execute_script(SEND, "x" * 65536, 1)
    seen = alice.driver.execute_async_script(CLOSED)
    assert seen["code"] == CLOSE_MESSAGE_TOO_BIG, seen
    assert superuser.holder(uid) is None  # released


def test_4429_reaches_the_browser_for_a_message_flood(people, servers, superuser, document):
    bob = people["bob"]
    uid = document.lock_uid
    seen = probe(bob, servers[0], uid)
    assert seen["messages"][0]["state"] == "editing", seen
    bob.driver.execute_script(SEND, '{"action": "heartbeat"}', 200)
    seen = bob.driver.execute_async_script(CLOSED)
    assert seen["code"] == CLOSE_TOO_MANY_REQUESTS, seen
    assert superuser.holder(uid) is None  # released


def test_4401_reaches_the_page_whose_session_logged_out_on_the_other_server(servers, output, superuser, document):
    from selenium.webdriver.common.by import By

    # A browser of alice's own: logging out ends its session, not the
    # others' (People's alice is logged in in a session of her own).
    alice = Browser("alice", output)
    try:
        alice.login(servers[0])
        page = alice.open(servers[1], document)
        alice.wait_for(page, 10, "editing", lock_state="editing")
        # log out on the first server (the base page's form posts it)
        driver = alice.driver
        driver.switch_to.window(alice.home)
        driver.get(f"{servers[0].url}/")
        driver.find_element(By.CSS_SELECTOR, "form[action='/accounts/logout/'] button").click()
        alice.wait_for(page, 10, "lost after the logout", lock_state="lost", lock_close=str(CLOSE_UNAUTHENTICATED))
        assert superuser.holder(document.lock_uid) is None
    finally:
        alice.quit()


# Last: the restart leaves the servers' threads with connections that fail
# once (in Channels' session middleware, before the consumer).
def test_4503_reaches_the_browser_when_the_database_goes_away(people, servers, cluster, superuser, document):
    alice = people["alice"]
    uid = document.lock_uid
    seen = probe(alice, servers[0], uid)
    assert seen["messages"] and seen["messages"][0]["state"] == "editing", seen
    cluster.pg_ctl("stop", "-m", "fast", "-w")
    try:
        seen = alice.driver.execute_async_script(CLOSED)
    finally:
        cluster.pg_ctl("start", "-w", "-l", os.path.join(cluster.data, "..", "server.log"))
    assert seen["code"] == CLOSE_TRY_AGAIN_LATER, seen
    # Nothing was given up: the lock outlived the outage.
    assert superuser.holder(uid) is not None

