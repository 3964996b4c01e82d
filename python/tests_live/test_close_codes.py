"""Each close code of LockConsumer (django_lockable.live.CLOSE_CODES), as a
real browser receives it from the server under test (LIVE_ASGI_SERVER:
Daphne or Uvicorn): a WebSocket opened by a page of the site, in headless
Chromium, and the code its close event carries.

- 4401: a browser that is not logged in;
- 4500: a server whose LOCKABLE_OWNER names no owner;
- 4503: the database stops while the socket holds a lock.

Codes outside 4000-4999 (1011, 1013) are what Daphne's autobahn refuses to
send; these must arrive as they are.
"""
import os
from typing import Any, Dict, Optional

import pytest

from django_lockable.live import CLOSE_SERVER_ERROR, CLOSE_TRY_AGAIN_LATER, CLOSE_UNAUTHENTICATED

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
const ws = new WebSocket(url.href);
ws.onopen = () => { probe.opened = true; if (uid) ws.send(JSON.stringify({ action: "lock", uid })); };
ws.onmessage = (event) => probe.messages.push(JSON.parse(event.data));
ws.onclose = (event) => { probe.code = event.code; probe.reason = event.reason; };
const end = performance.now() + 20000;
(function wait() {
    if (probe.code !== null || (uid && probe.messages.length > 0) || performance.now() > end) done(probe);
    else setTimeout(wait, 10);
})();
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
