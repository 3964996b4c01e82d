// lockable.js's state machine in Node (node:test, no packages): a fake
// socket that records what the client sends and delivers what the test
// says the server answers, and a fake clock the test moves by hand, so
// nothing here waits for real time.  LockableForm runs on a small fake
// form (fields with value and readOnly).  Run by test/suites/83-lockable-js.sh:
//   node --test python/tests_js/
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { describe, test } from "node:test";

import {
    CLOSE_CODES, CONNECTION_LOST, DraftStore, LockClient, LockableForm, REASONS, STATES, TRANSITIONS,
    draftPlan, lostMessage, requestMessage, savedMessage, declinedMessage, tabId, titleFor,
} from "../django_lockable/static/django_lockable/lockable.js";

// Node 18 (Debian 12's) has no global crypto; browsers and Node 19+ do.
globalThis.crypto ??= webcrypto;

// ---- the fakes ----

class FakeTime {
    constructor() {
        this.now = 0;
        this.timers = new Map();
        this.next = 1;
    }
    setTimeout(f, ms) { return this._add(f, ms, null); }
    setInterval(f, ms) { return this._add(f, ms, ms); }
    clearTimeout(id) { this.timers.delete(id); }
    clearInterval(id) { this.timers.delete(id); }
    _add(f, ms, every) {
        const id = this.next++;
        this.timers.set(id, { at: this.now + Math.max(0, ms), f, every });
        return id;
    }
    // Move the clock by ms, running each timer due on the way, in order.
    advance(ms) {
        const end = this.now + ms;
        for (;;) {
            let due = null;
            for (const [id, timer] of this.timers) {
                if (timer.at <= end && (due === null || timer.at < due[1].at)) due = [id, timer];
            }
            if (due === null) break;
            const [id, timer] = due;
            this.now = Math.max(this.now, timer.at);
            if (timer.every === null) this.timers.delete(id);
            else timer.at += Math.max(1, timer.every);
            timer.f();
        }
        this.now = end;
    }
}

class FakeSocket {
    constructor(url, registry) {
        this.url = url;
        this.readyState = 0;
        this.sent = [];
        registry.push(this);
    }
    send(text) { this.sent.push(JSON.parse(text)); }
    close(code) { this.readyState = 3; this.closedWith = code; }
    open() { this.readyState = 1; this.onopen({}); }
    receive(message) { this.onmessage({ data: JSON.stringify(message) }); }
    drop(code) { this.readyState = 3; this.onclose({ code, reason: "" }); }
    last() { return this.sent.at(-1); }
    actions() { return this.sent.map((m) => m.action); }
}

class MemoryStorage {
    constructor() { this.items = new Map(); }
    getItem(key) { return this.items.has(key) ? this.items.get(key) : null; }
    setItem(key, value) { this.items.set(key, String(value)); }
    removeItem(key) { this.items.delete(key); }
}

const UID = "documents.document:1";
const ALICE = { user_id: 1, name: "alice" };
const BOB = { user_id: 2, name: "bob" };
const CAROL = { user_id: 3, name: "carol" };

function status(state, extra = {}) {
    return {
        type: "status", uid: UID, state, owner: "user:1", user_id: 1,
        position: state === "waiting" ? 1 : null, waiters: 0, expires_at: null,
        token: state === "editing" ? 7 : null, presence: [], presence_count: 0, ...extra,
    };
}

// A started client on a fake socket, opened; events recorded.
function started(options = {}) {
    const time = new FakeTime();
    const sockets = [];
    const activity = new EventTarget();
    const seen = { states: [], requests: [], declined: [], saved: [], errors: [], warnings: [] };
    const client = new LockClient({
        uid: UID, url: "ws://test/ws/lock/", ttl: 9000, idleTimeout: 60000, idleAfter: 20000,
        warnBefore: 3000, reconnectMin: 100, reconnectMax: 200, tick: 100,
        sessionStorage: new MemoryStorage(), clock: () => time.now, timers: time, activityTarget: activity,
        WebSocket: class extends FakeSocket { constructor(url) { super(url, sockets); } },
        onState: (state, s, before) => seen.states.push([before, state]),
        onRequest: (r) => seen.requests.push(r), onDeclined: (by) => seen.declined.push(by),
        onSaved: (s) => seen.saved.push(s), onError: (m) => seen.errors.push(m),
        onWarning: (show) => seen.warnings.push(show),
        ...options,
    });
    client.start();
    const socket = () => sockets.at(-1);
    socket().open();
    const input = (type = "input", extra = {}) => activity.dispatchEvent(Object.assign(new Event(type), extra));
    return { client, time, sockets, socket, seen, input };
}

// ---- the tables ----

describe("the tables", () => {
    test("five states, each following the server's status", () => {
        assert.deepEqual([...STATES], ["connecting", "viewing", "waiting", "editing", "lost"]);
        for (const state of STATES) assert.equal(TRANSITIONS[state].status, "status", state);
        assert.equal(TRANSITIONS.viewing.closed, "connecting");
        assert.equal(TRANSITIONS.viewing.leaseEnded, undefined, "a viewer holds no lease");
    });

    test("the close codes and the reasons", () => {
        assert.deepEqual(Object.keys(CLOSE_CODES), ["4401", "4413", "4429", "4500", "4503"]);
        assert.deepEqual([...REASONS],
            ["released", "expired", "taken_over", "handed_over", "broken", "logged_out", "other_tab"]);
    });

    test("lockOn is open or edit", () => {
        assert.throws(() => new LockClient({ uid: UID, lockOn: "read" }), TypeError);
    });
});

// ---- the tab id and lock ----

describe("one lock per tab", () => {
    test("the tab id is made once per tab and kept in sessionStorage", () => {
        const storage = new MemoryStorage();
        const id = tabId(storage);
        assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.equal(tabId(storage), id, "a reload of the tab keeps it");
        assert.notEqual(tabId(new MemoryStorage()), id, "another tab has its own");
    });

    test("lock on open carries the tab", () => {
        const { client, socket } = started();
        assert.deepEqual(socket().sent[0], { action: "lock", uid: UID, tab: client.tab });
        assert.equal(client.mode, "lock");
    });

    test("a second tab of the same user waits with reason other_tab, and takes over from it", () => {
        const { client, socket } = started();
        socket().receive(status("waiting", { reason: "other_tab" }));
        assert.equal(client.state, "waiting");
        assert.equal(client.reason, "other_tab");
        assert.equal(titleFor(client.state, client.status, "Notes"), "(Open in another tab) Notes");
        assert.equal(client.takeOver(), true);
        assert.deepEqual(socket().last(), { action: "take_over" });
        socket().receive(status("editing"));
        assert.equal(client.state, "editing");
        assert.equal(client.token, 7);
    });

    test("the other tab hears lost, other_tab", () => {
        const { client, socket } = started();
        socket().receive(status("editing"));
        socket().receive(status("lost", { reason: "other_tab", token: null }));
        assert.equal(client.state, "lost");
        assert.equal(client.reason, "other_tab");
        assert.equal(client.token, null);
    });
});

// ---- view and lockOn "edit" ----

describe('lockOn "edit": view first, join on the first keystroke', () => {
    test("it views, heartbeats as a viewer even when idle, and joins on input", () => {
        const { client, socket, time, input } = started({ lockOn: "edit" });
        assert.deepEqual(socket().sent[0], { action: "view", uid: UID, tab: client.tab });
        socket().receive(status("lost", { owner: null, user_id: null, presence: [{ ...ALICE, state: "viewing", idle: false }], presence_count: 1 }));
        assert.equal(client.state, "viewing", "a viewer told lost is viewing");
        assert.deepEqual(client.presence, [{ ...ALICE, state: "viewing", idle: false }]);
        socket().receive(status("viewing"));
        assert.equal(client.state, "viewing");
        // no input for longer than idleTimeout: a viewer still renews its presence
        for (let i = 0; i < 30; i++) {
            time.advance(3000);
            if (socket().last().action === "heartbeat") socket().receive(status("viewing"));
        }
        const beats = socket().sent.filter((m) => m.action === "heartbeat");
        assert.ok(beats.length >= 20, `heartbeats while viewing: ${beats.length}`);
        assert.equal(beats.at(-1).idle, true, "an idle viewer says so");
        assert.ok(!socket().sent.some((m) => m.action === "lock"), "viewing asks for nothing");
        input("keydown", { key: "Tab" });
        assert.ok(!socket().sent.some((m) => m.action === "lock"), "Tab is not an edit");
        input("input");
        assert.deepEqual(socket().sent.filter((m) => m.action === "lock"), [{ action: "lock", uid: UID, tab: client.tab }]);
        assert.equal(client.state, "viewing", "viewing until the answer");
        socket().receive(status("waiting"));
        assert.equal(client.state, "waiting");
        input("input");
        assert.equal(socket().sent.filter((m) => m.action === "lock").length, 1, "one lock");
    });

    test("a viewer reconnects as a viewer, a joined one with lock", () => {
        const { client, socket, time, sockets } = started({ lockOn: "edit" });
        socket().receive(status("viewing"));
        socket().drop(1006);
        assert.equal(client.state, "connecting");
        time.advance(300);
        assert.equal(sockets.length, 2);
        socket().open();
        assert.deepEqual(socket().sent[0], { action: "view", uid: UID, tab: client.tab });
        socket().receive(status("viewing"));
        assert.equal(client.edit(), true);
        socket().receive(status("editing"));
        socket().drop(4503);
        time.advance(300);
        socket().open();
        assert.equal(socket().sent[0].action, "lock");
    });
});

// ---- heartbeats and idle ----

describe("heartbeats say whether the user is idle", () => {
    test("idle after idleAfter without input, at once; active again at the next input", () => {
        const { client, socket, time, input } = started();
        socket().receive(status("editing"));
        for (let t = 0; t < 12000; t += 1000) {
            input("keydown", { key: "a" });
            time.advance(1000);
            if (socket().last().action === "heartbeat") socket().receive(status("editing"));
        }
        const beats = () => socket().sent.filter((m) => m.action === "heartbeat");
        assert.ok(beats().length >= 3);
        assert.ok(beats().every((m) => m.idle === false), "active: idle false");
        const before = beats().length;
        for (let t = 0; t < 20000; t += 100) {  // idleAfter without input; the server answers
            time.advance(100);
            if (client._awaitingSince !== null) socket().receive(status("editing"));
        }
        const idleBeats = beats().slice(before).filter((m) => m.idle === true);
        assert.equal(idleBeats.length, 1, "one heartbeat says idle, as soon as it is");
        assert.equal(client.idle, true);
        const count = beats().length;
        input("pointerdown");
        assert.equal(beats().length, count + 1, "input after idle: a heartbeat at once");
        assert.equal(beats().at(-1).idle, false);
        assert.equal(client.idle, false);
    });

    test("the server's idle_after (LOCKABLE_IDLE, seconds) sets when the client is idle", () => {
        const { client, socket } = started();
        assert.equal(client.idleAfter, 20000);
        socket().receive(status("editing", { idle_after: 90 }));
        assert.equal(client.idleAfter, 90000);
        socket().receive(status("editing", { idle_after: "soon" }));
        assert.equal(client.idleAfter, 90000, "not a number: ignored");
    });

    test("an idle holder stops renewing after idleTimeout and its lease ends by its own clock", () => {
        const { client, socket, time } = started({ idleTimeout: 5000, warnBefore: 4000 });
        socket().receive(status("editing"));
        for (let i = 0; i < 200 && client.state === "editing"; i++) {
            time.advance(100);
            if (socket().last().action === "heartbeat" && client._awaitingSince !== null) socket().receive(status("editing"));
        }
        assert.equal(client.state, "lost", "lost when the lease ran out");
        assert.equal(client.token, null);
    });
});

// ---- status: presence and reasons ----

describe("status", () => {
    test("presence and presence_count", () => {
        const { client, socket } = started();
        const presence = [
            { ...ALICE, state: "editing", idle: false }, { ...BOB, state: "waiting", idle: true },
            { ...CAROL, state: "viewing", idle: false },
        ];
        socket().receive(status("waiting", { presence, presence_count: 25 }));
        assert.deepEqual(client.presence, presence);
        assert.equal(client.status.presence_count, 25);
        socket().receive(status("waiting", { presence: undefined }));
        assert.deepEqual(client.presence, [], "no presence: an empty list");
    });

    for (const reason of REASONS) {
        test(`lost, ${reason}`, () => {
            const { client, socket } = started();
            socket().receive(status("editing"));
            const by = reason === "taken_over" ? CAROL : reason === "handed_over" ? BOB : undefined;
            socket().receive(status("lost", { reason, by, token: null, owner: by ? `user:${by.user_id}` : null }));
            assert.equal(client.state, "lost");
            assert.equal(client.reason, reason);
            assert.deepEqual(client.status.by, by);
            assert.equal(client.token, null);
            const text = lostMessage(reason, by, new Date(2026, 11, 4, 10, 42));
            assert.equal(typeof text, "string");
            if (reason !== "released") assert.match(text, /kept$/, "the unsaved changes are kept");
            client.join();
            assert.equal(client.state, "connecting");
            assert.deepEqual(socket().last(), { action: "lock", uid: UID, tab: client.tab });
        });
    }

    test("the words of a take over", () => {
        assert.equal(lostMessage("taken_over", CAROL, new Date(2026, 11, 4, 10, 42)),
            "carol took over at 10:42: your unsaved changes are kept");
        assert.equal(savedMessage({ version: 7, by: ALICE }), "alice saved a new version (7)");
        assert.equal(requestMessage({ from: BOB, message: "" }), "bob asks to edit");
        assert.equal(declinedMessage(ALICE), "alice is still editing");
        assert.equal(lostMessage("handed_over", BOB), "The document was handed over to bob: your unsaved changes are kept");
    });
});

// ---- asking, handing over, declining ----

describe("request, hand over, decline", () => {
    test("a waiter asks once; the holder's decline clears it", () => {
        const { client, socket, seen } = started();
        assert.equal(client.request("please"), false, "not waiting yet");
        socket().receive(status("waiting"));
        assert.equal(client.request("please"), true);
        assert.deepEqual(socket().last(), { action: "request", message: "please" });
        assert.equal(client.pendingRequest, true);
        assert.equal(client.request("again"), false, "one pending request at a time");
        assert.equal(socket().sent.filter((m) => m.action === "request").length, 1);
        socket().receive(status("waiting"));
        socket().receive({ type: "declined", by: ALICE });
        assert.equal(client.pendingRequest, false);
        assert.deepEqual(seen.declined, [ALICE]);
        assert.equal(client.request(), true, "may ask again");
        assert.deepEqual(socket().last(), { action: "request", message: "" });
    });

    test("a request refused by the server is not pending; being let in ends it", () => {
        const { client, socket, seen } = started();
        socket().receive(status("waiting"));
        client.request("x");
        socket().receive({ type: "error", message: "already asked" });
        assert.equal(client.pendingRequest, false);
        assert.deepEqual(seen.errors, ["already asked"]);
        client.request("x");
        socket().receive(status("editing"));
        assert.equal(client.pendingRequest, false);
    });

    test("the holder hears requests, hands over or declines", () => {
        const { client, socket, seen } = started();
        socket().receive({ type: "request", from: BOB, message: "ignored: not editing" });
        assert.equal(seen.requests.length, 0);
        socket().receive(status("editing"));
        socket().receive({ type: "request", from: BOB, message: "can I?" });
        socket().receive({ type: "request", from: CAROL, message: "" });
        socket().receive({ type: "request", from: BOB, message: "please" });
        assert.deepEqual(client.requests.map((r) => [r.from.name, r.message]), [["carol", ""], ["bob", "please"]]);
        assert.equal(seen.requests.length, 3);
        assert.equal(client.decline(3), true);
        assert.deepEqual(socket().last(), { action: "decline", to: 3 });
        assert.equal(client.handOver(2), true);
        assert.deepEqual(socket().last(), { action: "hand_over", to: 2 });
        assert.equal(client.state, "lost", "not editing from the moment it hands over");
        assert.equal(client.reason, "handed_over");
        assert.deepEqual(client.status.by, BOB, "handed to bob, who asked");
        assert.equal(client.token, null);
        assert.deepEqual(client.requests, []);
        socket().receive({ type: "error", message: "nobody of that id waits for this lock" });
        assert.deepEqual(socket().last(), { action: "heartbeat", idle: false }, "refused: where do we stand?");
        socket().receive(status("editing"));
        assert.equal(client.state, "editing", "still the holder");
        socket().receive({ type: "request", from: CAROL, message: "" });
        socket().receive(status("lost", { reason: "handed_over", by: BOB }));
        assert.deepEqual(client.requests, [], "no requests once not editing");
        assert.equal(client.handOver(3), false);
        assert.equal(client.decline(3), false);
    });

    test("take over: not while editing; with a reason", () => {
        const { client, socket } = started();
        socket().receive(status("editing"));
        assert.equal(client.takeOver("x"), false);
        socket().receive(status("lost", { reason: "expired" }));
        assert.equal(client.takeOver("urgent fix"), true);
        assert.deepEqual(socket().last(), { action: "take_over", reason: "urgent fix" });
    });
});

// ---- saved ----

describe("saved by someone else", () => {
    test("onSaved hears each, saved keeps the newest", () => {
        const { client, socket, seen } = started();
        socket().receive(status("waiting"));
        socket().receive({ type: "saved", version: 7, by: ALICE });
        socket().receive({ type: "saved", version: 6, by: ALICE });
        socket().receive({ type: "saved", version: "8", by: ALICE });
        assert.deepEqual(seen.saved, [{ version: 7, by: ALICE }, { version: 6, by: ALICE }]);
        assert.deepEqual(client.saved, { version: 7, by: ALICE });
        assert.equal(client.state, "waiting", "a save changes no state");
    });
});

// ---- connection ----

describe("connection", () => {
    test("a drop reconnects and joins again; 4401, 4413, 4500 are lost for good", () => {
        const { client, socket, time, sockets } = started();
        socket().receive(status("editing"));
        socket().drop(4503);
        assert.equal(client.state, "connecting");
        time.advance(300);
        assert.equal(sockets.length, 2);
        socket().open();
        assert.deepEqual(socket().sent[0], { action: "lock", uid: UID, tab: client.tab });
        for (const code of [4401, 4413, 4500]) {
            socket().receive(status("editing"));
            socket().drop(code);
            assert.equal(client.state, "lost", `${code}`);
            assert.equal(client._reconnectTimer, null);
            client.join();
            socket().open();
        }
    });

    test("an unanswered heartbeat drops the socket", () => {
        const { client, socket, time, sockets, input } = started();
        socket().receive(status("editing"));
        for (let i = 0; i < 100 && sockets.length === 1; i++) {
            input("keydown", { key: "a" });
            time.advance(100);
        }
        assert.equal(sockets.length, 2);
        assert.equal(sockets[0].closedWith, 4000);
        assert.equal(client.state, "connecting");
    });
});

// ---- the page's words ----

describe("titles and drafts", () => {
    test("the title shows the state", () => {
        assert.equal(titleFor("editing", status("editing"), "Meeting notes"), "(Your turn) Meeting notes");
        assert.equal(titleFor("waiting", status("waiting", { position: 2 }), "Meeting notes"), "(Waiting: 2) Meeting notes");
        assert.equal(titleFor("viewing", null, "M"), "(Viewing) M");
        assert.equal(titleFor("lost", null, "M"), "(Read only) M");
        assert.equal(titleFor("connecting", null, "M"), "(Connecting…) M");
    });

    test("a draft is tied to the record and its version", () => {
        const storage = new MemoryStorage();
        const drafts = new DraftStore("doc:1:alice", storage);
        assert.equal(drafts.load(), null);
        drafts.save(UID, 5, { body: "mine" });
        const draft = new DraftStore("doc:1:alice", storage).load();
        assert.equal(draft.uid, UID);
        assert.equal(draft.version, 5);
        assert.deepEqual(draft.values, { body: "mine" });
        assert.equal(new DraftStore("doc:1:bob", storage).load(), null, "another key, another draft");
        assert.equal(draftPlan(draft, { version: 5, values: { body: "mine" } }), "same");
        assert.equal(draftPlan(draft, { version: 5, values: { body: "theirs" } }), "restore");
        assert.equal(draftPlan(draft, { version: 7, values: { body: "theirs" } }), "compare",
            "onto a newer version: show both");
        drafts.clear();
        assert.equal(drafts.load(), null);
        storage.setItem("django_lockable.draft:bad", "{not json");
        assert.equal(new DraftStore("bad", storage).load(), null);
    });
});

// ---- LockableForm, on a fake form ----

class FakeField {
    constructor(name, value) {
        this.name = name;
        this.value = value;
        this.readOnly = false;
        this.focused = 0;
    }
    focus() { this.focused += 1; }
}

class FakeForm extends EventTarget {
    constructor(values) {
        super();
        this.fields = Object.fromEntries(Object.entries(values).map(([n, v]) => [n, new FakeField(n, v)]));
        this.elements = { namedItem: (name) => this.fields[name] ?? null };
        this.submitButton = { disabled: false };
        this.dataset = {};
        this.attributes = {};
    }
    querySelector() { return this.submitButton; }
    setAttribute(name, value) { this.attributes[name] = value; }
    type(name, value) {
        this.fields[name].value = value;
        this.dispatchEvent(new Event("input"));
    }
}

function formOn(options = {}) {
    globalThis.document = { title: "Meeting notes", hidden: false };
    // Input on the form reaches the client as it reaches document in a page.
    const form = new FakeForm({ title: "Meeting notes", body: "v1 text", version: "1" });
    const setup = started({ activityTarget: form, ...options.client });
    const announcer = { textContent: "" };
    const record = { version: 1, values: { title: "Meeting notes", body: "v1 text" } };
    const offers = [];
    let loads = 0;
    const bound = new LockableForm({
        client: setup.client, form, fields: ["title", "body"], announcer, storage: new MemoryStorage(),
        title: "Meeting notes", draftKey: `${UID}:alice`,
        load: async () => { loads += 1; return structuredClone(record); },
        onDraft: (offer) => offers.push(offer),
    });
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    return { ...setup, form, announcer, record, offers, bound, settle, loads: () => loads };
}

describe("LockableForm", () => {
    test('lockOn "edit": a viewer may type while nobody edits; the first keystroke joins', async () => {
        const { socket, form, settle, client } = formOn({ client: { lockOn: "edit" } });
        socket().receive(status("viewing", { owner: "user:1#x", user_id: 1 }));
        await settle();
        assert.equal(form.fields.body.readOnly, true, "someone edits: read-only");
        socket().receive(status("viewing", { owner: null, user_id: null }));
        await settle();
        assert.equal(form.fields.body.readOnly, false, "nobody edits: type to start");
        assert.equal(form.submitButton.disabled, true, "no save before the lock");
        form.type("body", "f");
        assert.equal(socket().last().action, "lock");
        // a look that names us as the holder may come before the answer: still typing
        socket().receive(status("viewing", { owner: `user:1#${client.tab}`, user_id: 1 }));
        await settle();
        assert.equal(form.fields.body.readOnly, false, "our own lock: keep typing");
        socket().receive(status("viewing", { owner: "user:9#other", user_id: 9 }));
        await settle();
        assert.equal(form.fields.body.readOnly, false, "joining: the answer decides");
        assert.equal(client.joining, true);
        socket().receive(status("editing"));
        await settle();
        assert.equal(form.fields.body.value, "f");
        assert.equal(form.submitButton.disabled, false);
        assert.equal(client.state, "editing");
        assert.equal(client.joining, false);
    });

    test("read-only unless editing, the title and the announcement follow", async () => {
        const { socket, form, announcer, settle, loads } = formOn();
        assert.equal(form.fields.body.readOnly, true);
        assert.equal(form.submitButton.disabled, true);
        socket().receive(status("waiting", { position: 2 }));
        await settle();
        assert.equal(globalThis.document.title, "(Waiting: 2) Meeting notes");
        assert.equal(announcer.textContent, "Waiting: you are number 2 in line");
        socket().receive(status("editing"));
        await settle();
        assert.equal(loads(), 0, "nothing was saved meanwhile: no load");
        assert.equal(form.fields.body.readOnly, false);
        assert.equal(form.submitButton.disabled, false);
        assert.equal(form.fields.title.focused, 1, "focus to the form when let in");
        assert.equal(globalThis.document.title, "(Your turn) Meeting notes");
        assert.equal(announcer.textContent, "Your turn: you can edit now");
    });

    test("after a saved, the current version is loaded before the form is enabled", async () => {
        const { socket, form, record, settle, loads, announcer } = formOn();
        socket().receive(status("waiting"));
        record.version = 7;
        record.values.body = "alice's v7";
        socket().receive({ type: "saved", version: 7, by: ALICE });
        assert.equal(announcer.textContent, "alice saved a new version (7)");
        socket().receive(status("editing"));
        assert.equal(form.fields.body.readOnly, true, "not before the load");
        await settle();
        assert.equal(loads(), 1);
        assert.equal(form.fields.body.value, "alice's v7");
        assert.equal(form.fields.version.value, "7");
        assert.equal(form.fields.body.readOnly, false);
    });

    test("taken over: read-only, draft kept; let in again: restore it, or compare with a newer version", async () => {
        const { socket, form, record, offers, bound, settle, announcer, client } = formOn();
        socket().receive(status("editing"));
        await settle();
        form.type("body", "my unsaved words");
        socket().receive(status("lost", { reason: "taken_over", by: CAROL }));
        await settle();
        assert.equal(form.fields.body.readOnly, true);
        assert.equal(form.fields.body.value, "my unsaved words", "still on screen");
        assert.match(announcer.textContent, /^carol took over at \d\d:\d\d: your unsaved changes are kept$/);
        assert.equal(bound.drafts.load().values.body, "my unsaved words");
        assert.equal(bound.drafts.load().version, 1);
        assert.match(bound.changesText(), /my unsaved words/);
        // carol saves version 2; alice gets the lock again
        record.version = 2;
        record.values.body = "carol's fix";
        client.join();
        socket().receive(status("editing"));
        await settle();
        assert.equal(form.fields.body.value, "carol's fix", "the current version, not silently overwritten");
        assert.equal(offers.at(-1).plan, "compare");
        assert.equal(offers.at(-1).draft.values.body, "my unsaved words");
        assert.equal(offers.at(-1).current.values.body, "carol's fix");
        assert.equal(bound.restoreDraft(), true);
        assert.equal(form.fields.body.value, "my unsaved words");
        assert.equal(form.fields.version.value, "2", "based on the version shown beside it");
        bound.saved(3);
        assert.equal(bound.drafts.load(), null, "saved: no draft");
    });

    test("taken over and let in again with the version unchanged: Restore my draft", async () => {
        const { socket, form, offers, bound, settle, client } = formOn();
        socket().receive(status("editing"));
        await settle();
        form.type("body", "words");
        socket().receive(status("lost", { reason: "taken_over", by: CAROL }));
        await settle();
        client.join();
        socket().receive(status("editing"));
        await settle();
        assert.equal(form.fields.body.value, "v1 text");
        assert.equal(offers.at(-1).plan, "restore");
        bound.restoreDraft();
        assert.equal(form.fields.body.value, "words");
    });

    test("a dropped connection: read-only, reconnecting; back with the version unchanged, the draft in place", async () => {
        const { socket, form, offers, settle, time, announcer, loads } = formOn();
        socket().receive(status("editing"));
        await settle();
        form.type("body", "typed while the network went");
        socket().drop(1006);
        await settle();
        assert.equal(form.fields.body.readOnly, true);
        assert.equal(announcer.textContent, CONNECTION_LOST);
        time.advance(300);
        socket().open();
        socket().receive(status("editing"));
        await settle();
        assert.equal(loads(), 1, "it looked at the record");
        assert.equal(form.fields.body.value, "typed while the network went");
        assert.equal(form.fields.body.readOnly, false);
        assert.equal(offers.at(-1), null, "nothing to offer: the draft is in place");
    });
});
