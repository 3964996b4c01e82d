"""lockable.js's state machine, in headless Chromium, against a fake
WebSocket: no server behind it, so every transition is driven by the test.

The module is served by the example site (any page of its origin can import
it); the fake socket records what the client sends and answers heartbeats
while the test wants it to.
"""
import pytest

pytestmark = pytest.mark.browser

SCRIPT = r"""
const done = arguments[arguments.length - 1];
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
async function until(predicate, what, ms = 3000) {
    const end = performance.now() + ms;
    while (!predicate()) {
        if (performance.now() > end) { failures.push("timed out: " + what); return false; }
        await sleep(5);
    }
    return true;
}
try {
    const m = await import("/static/django_lockable/lockable.js");
    check(JSON.stringify(m.STATES) === '["connecting","viewing","waiting","editing","lost"]', "five states");
    for (const state of m.STATES) check(m.TRANSITIONS[state].status === "status", state + " follows the server");

    class FakeSocket {
        static all = [];
        constructor(url) {
            this.url = url; this.readyState = 0; this.sent = []; this.answer = "editing";
            FakeSocket.all.push(this);
        }
        send(text) {
            const message = JSON.parse(text);
            this.sent.push(message);
            if (message.action === "heartbeat" && this.answer) {
                setTimeout(() => this.receive(status(this.answer)), 5);
            }
        }
        close(code) { this.readyState = 3; this.closedWith = code; }
        open() { this.readyState = 1; this.onopen && this.onopen({}); }
        receive(message) { this.onmessage && this.onmessage({ data: JSON.stringify(message) }); }
        drop(code) { this.readyState = 3; this.onclose && this.onclose({ code }); }
        actions() { return this.sent.map((m) => m.action); }
    }
    const status = (state, extra = {}) => ({
        type: "status", uid: "doc:1", state, owner: "user:1", user_id: 1,
        position: state === "waiting" ? 1 : null, waiters: 1, expires_at: null,
        token: state === "editing" ? 7 : null, ...extra,
    });
    const states = [];
    const warnings = [];
    const closes = [];
    const client = new m.LockClient({
        uid: "doc:1", url: "/ws/lock/", ttl: 900, idleTimeout: 400, warnBefore: 600,
        reconnectMin: 20, reconnectMax: 40, tick: 10, WebSocket: FakeSocket,
        onState: (state, s) => states.push(state), onWarning: (show) => warnings.push(show),
        onClose: (code) => closes.push(code),
    });
    const poke = () => document.dispatchEvent(new KeyboardEvent("keydown"));
    client.start();
    check(client.state === "connecting", "starts connecting");
    let socket = FakeSocket.all[0];
    check(socket.url.startsWith("ws://") && socket.url.endsWith("/ws/lock/"), "a ws:// URL: " + socket.url);
    socket.open();
    check(JSON.stringify(socket.sent[0]) === JSON.stringify({ action: "lock", uid: "doc:1", tab: client.tab }),
          "lock on open, with the tab");
    check(client.tab === sessionStorage.getItem("django_lockable.tab") && /^[0-9a-f-]{36}$/.test(client.tab),
          "the tab id: crypto.randomUUID(), kept in sessionStorage");

    socket.receive(status("waiting", { position: 2 }));
    check(client.state === "waiting" && client.status.position === 2, "waiting, position 2");
    socket.receive(status("editing"));
    check(client.state === "editing" && client.token === 7, "editing with the token");
    socket.receive(status("editing", { uid: "doc:2", state: "lost" }));
    check(client.state === "editing", "a status for another uid is ignored");

    // active: heartbeats every ttl / 3
    const activity = setInterval(poke, 50);
    await until(() => socket.actions().filter((a) => a === "heartbeat").length >= 3, "heartbeats while active");
    clearInterval(activity);
    // idle: no more heartbeats, then the warning, then Continue renews
    await until(() => client.warning, "the idle warning");
    const sentBefore = socket.sent.length;
    client.continueEditing();
    check(socket.sent.length === sentBefore + 1 && socket.sent.at(-1).action === "heartbeat", "Continue renews");
    await until(() => !client.warning, "the warning hides after Continue");
    check(client.state === "editing", "still editing after Continue");
    // idle again and no Continue: the lease ends, lost, without the server
    socket.answer = null;
    await until(() => client.state === "lost", "lost when the lease ends", 3000);
    check(!client.warning && warnings.at(-1) === false, "the warning hides when lost");
    check(client.token === null, "no token when lost");

    // join again.  The heartbeat sent while the user was still active went
    // unanswered: if its reply timeout ran out before this join, the client
    // has dropped that socket, and join() connects a new one.
    socket.answer = "editing";
    client.join();
    check(client.state === "connecting", "join: connecting");
    if (FakeSocket.all.at(-1) !== socket) {
        socket = FakeSocket.all.at(-1);
        socket.open();
    }
    check(socket.sent.length > 0 && socket.sent.at(-1).action === "lock", "join sends lock");
    socket.receive(status("editing"));
    check(client.state === "editing", "editing after join");

    // the server closes with 4503: connecting, then a new socket joins again
    poke();
    let sockets = FakeSocket.all.length;
    socket.drop(4503);
    check(client.state === "connecting", "connecting after a close");
    await until(() => FakeSocket.all.length === sockets + 1, "a reconnection");
    socket = FakeSocket.all.at(-1);
    socket.open();
    check(socket.sent[0].action === "lock", "lock on the new socket");
    socket.receive(status("waiting"));
    check(client.state === "waiting", "waiting after reconnecting");

    // no reply within replyTimeout: the socket is dead; drop and reconnect
    socket.answer = null;
    sockets = FakeSocket.all.length;
    const activity2 = setInterval(poke, 50);
    await until(() => FakeSocket.all.length === sockets + 1, "a reconnection after an unanswered heartbeat");
    clearInterval(activity2);
    check(socket.closedWith === 4000, "the dead socket closed by the client");
    socket = FakeSocket.all.at(-1);
    socket.open();
    socket.receive(status("editing"));

    // 4401 (and 4500): lost for good, no reconnection
    socket.drop(4401);
    check(client.state === "lost" && client._reconnectTimer === null, "4401: lost, no reconnection");
    // (the sockets the client dropped itself are not the server's closes)
    check(JSON.stringify(closes) === "[4503,4401]", "onClose heard the server's closes: " + JSON.stringify(closes));
    client.join();
    socket = FakeSocket.all.at(-1);
    socket.open();
    socket.receive(status("editing"));
    socket.drop(4500);
    check(client.state === "lost" && client._reconnectTimer === null, "4500: lost, no reconnection");
    // 4413 (a message too big): lost for good too; 4429 (a limit): reconnects
    client.join();
    socket = FakeSocket.all.at(-1);
    socket.open();
    socket.receive(status("editing"));
    socket.drop(4413);
    check(client.state === "lost" && client._reconnectTimer === null, "4413: lost, no reconnection");
    client.join();
    socket = FakeSocket.all.at(-1);
    socket.open();
    socket.receive(status("editing"));
    sockets = FakeSocket.all.length;
    socket.drop(4429);
    check(client.state === "connecting", "4429: connecting");
    await until(() => FakeSocket.all.length === sockets + 1, "a reconnection after 4429");
    socket = FakeSocket.all.at(-1);
    socket.open();
    check(socket.sent[0].action === "lock", "lock after 4429");
    check(Object.keys(m.CLOSE_CODES).join() === "4401,4413,4429,4500,4503", "the close codes");
    client.stop();
    check(states.includes("waiting") && states.includes("editing") && states.includes("lost"), "onState called");
} catch (error) {
    failures.push("exception: " + error + "\n" + error.stack);
}
done(failures);
"""


def test_the_client_state_machine(people, servers):
    browser = people["alice"]
    driver = browser.driver
    driver.switch_to.new_window("tab")
    try:
        driver.get(f"{servers[0].url}/accounts/login/")
        failures = driver.execute_async_script(SCRIPT)
        assert failures == []
    finally:
        driver.close()
        driver.switch_to.window(browser.home)
