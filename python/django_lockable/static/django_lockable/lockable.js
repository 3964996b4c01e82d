/*
 * lockable.js: the browser side of django-lockable's live editing.
 *
 * One plain ES module, no build step, no dependencies.  A LockClient opens a
 * websocket to django_lockable.channels.LockConsumer, joins the line of one
 * uid (or only views it), and calls onState(state, status) whenever the
 * server tells it where it stands or the connection changes:
 *
 *   connecting  no answer from the server yet (first connection, or
 *               reconnecting after a network loss or a database restart)
 *   viewing     we watch the record (lockOn "edit" before the first
 *               keystroke): its holder, its line, who is here; no place
 *   waiting     another user (or our own other tab: status.reason
 *               "other_tab") edits; status.position is our place (1 = next)
 *   editing     we hold the lock; status.token is our fencing token
 *   lost        we hold neither lock nor place: status.reason says why
 *               (released, expired, taken_over, handed_over, broken,
 *               logged_out, other_tab; status.by names who for taken_over
 *               and handed_over), or the server refused us (join() again)
 *
 * The state machine is the table TRANSITIONS below: for each state, the
 * next state after each event.  A "status" event moves to the state the
 * server names, from any state.
 *
 * Heartbeats renew the lock or the place every heartbeatInterval, but only
 * while the user is active (an input event within idleTimeout); a viewer's
 * heartbeats keep its presence and never stop.  Each heartbeat says whether
 * the user is idle ("idle": no input for idleAfter, the server's
 * LOCKABLE_IDLE), for the others' presence lists; one goes out at once when
 * that changes.  An idle user's lease is left to run out: warnBefore before
 * its end onWarning(true) asks "Still editing?", and continueEditing() (or
 * any input) renews it.  The client never shows "editing" past the lease
 * its last heartbeat could have earned: without an answer within
 * replyTimeout it drops the socket and reconnects, and leaseMargin before
 * the lease's end (by its own clock, counted from when it sent that
 * heartbeat) it turns "lost" by itself, on a timer of its own, so that it is
 * out before the server can hand the lock on.
 *
 * Each tab has an id of its own (crypto.randomUUID(), kept in
 * sessionStorage), sent with "lock" (and "view", so that the viewer that
 * joins on its first keystroke is the same tab): the server tells a second tab of the
 * same user "waiting" with reason "other_tab", and takeOver() moves the lock
 * to it without any permission.
 *
 *   import { LockClient } from "/static/django_lockable/lockable.js";
 *   const lock = new LockClient({
 *     url: "/ws/lock/", uid: "documents.document:42", ttl: 60000,
 *     onState(state, status) { document.body.dataset.lockState = state; },
 *     onWarning(show, info) { dialog.hidden = !show; },
 *     onRequest(request) { ask(`${request.from.name} asks to edit`); },
 *   });
 *   lock.start();
 *
 * LockableForm (below) binds a client to a <form>: read-only unless
 * editing, drafts kept in localStorage, the current version loaded before
 * the form is enabled, announcements in an aria-live region, focus, the
 * page's title, a notification when a hidden tab is let in.
 *
 * Times are in milliseconds.  Close codes from the server are the table
 * CLOSE_CODES below (the same as python/README.md's "Close codes" and
 * django_lockable.live.CLOSE_CODES): 4401, 4413 and 4500 are "lost", with
 * no reconnection; 4429, 4503 and any other close reconnect with backoff.
 * onClose(code, reason) hears each close of the socket.
 */

export const CONNECTING = "connecting";
export const VIEWING = "viewing";
export const WAITING = "waiting";
export const EDITING = "editing";
export const LOST = "lost";
export const STATES = Object.freeze([CONNECTING, VIEWING, WAITING, EDITING, LOST]);

// Why a status says "lost" (and, for "other_tab", why a second tab waits).
export const REASONS = Object.freeze([
    "released", "expired", "taken_over", "handed_over", "broken", "logged_out", "other_tab",
]);

// The server's close codes: 4xxx, the application's range, which every
// ASGI server sends.  reconnect: whether the client connects again by itself.
export const CLOSE_CODES = Object.freeze({
    4401: Object.freeze({ name: "unauthenticated", reconnect: false }),    // no logged-in user, or logged out
    4413: Object.freeze({ name: "message too big", reconnect: false }),    // over LOCKABLE_MAX_MESSAGE_BYTES
    4429: Object.freeze({ name: "too many requests", reconnect: true }),   // over a per-user or per-socket limit
    4500: Object.freeze({ name: "server error", reconnect: false }),       // misconfigured, or failed on a message
    4503: Object.freeze({ name: "try again later", reconnect: true }),     // the database unreachable, or busy
});
export const CLOSE_UNAUTHENTICATED = 4401;
export const CLOSE_MESSAGE_TOO_BIG = 4413;
export const CLOSE_TOO_MANY_REQUESTS = 4429;
export const CLOSE_SERVER_ERROR = 4500;
export const CLOSE_TRY_AGAIN_LATER = 4503;

// "status" as a target means: the state the server's status message names.
const STATUS = "status";

/* Events:
 *   status      a status message arrived
 *   closed      the socket closed or was dropped (we reconnect)
 *   leaseEnded  the lease or place the last heartbeat earned has run out
 *   denied      the server closed with a code that says not to reconnect
 *               (4401: not logged in; 4413: a message too big; 4500: the
 *               server is misconfigured or failed)
 *   handedOver  handOver(): the lock is going to another user; we stop
 *               editing at once, before the server answers, so that two
 *               pages never show "editing" together (a refusal of the hand
 *               over is followed by a heartbeat, whose answer puts us back)
 *   join        join() after lost: connecting and sending lock again
 *   stopped     stop(): unlock and close for good
 * A missing entry means the event changes nothing in that state.  (A
 * viewer's first keystroke with lockOn "edit" sends "lock" and stays
 * viewing until the answer: it is a request, not an event of this table.)
 */
export const TRANSITIONS = Object.freeze({
    [CONNECTING]: { status: STATUS, closed: CONNECTING, denied: LOST, stopped: LOST },
    [VIEWING]: { status: STATUS, closed: CONNECTING, denied: LOST, stopped: LOST },
    [WAITING]: { status: STATUS, closed: CONNECTING, leaseEnded: LOST, denied: LOST, stopped: LOST },
    [EDITING]: { status: STATUS, closed: CONNECTING, leaseEnded: LOST, handedOver: LOST, denied: LOST, stopped: LOST },
    [LOST]: { status: STATUS, denied: LOST, join: CONNECTING, stopped: LOST },
});

export const DEFAULTS = Object.freeze({
    url: "/ws/lock/",
    ttl: 60000,                // the server's lease (LOCKABLE_TTL), to pace heartbeats
    lockOn: "open",            // "open": join the line at once; "edit": view, join on the first keystroke
    tab: null,                 // null: this tab's id (crypto.randomUUID(), kept in sessionStorage)
    heartbeatInterval: null,   // null: ttl / 3
    replyTimeout: null,        // null: heartbeatInterval
    idleTimeout: 10 * 60000,   // without input for this long, stop renewing
    idleAfter: 120000,         // without input for this long, heartbeats say "idle"; a status's
                               // idle_after (the server's LOCKABLE_IDLE, in s) overrides it
    warnBefore: 60000,         // ask "Still editing?" this long before the lease ends
    leaseMargin: null,         // null: ttl / 10, at most 1 s
    reconnectMin: 500,
    reconnectMax: 10000,
    activityEvents: ["keydown", "pointerdown", "mousemove", "wheel", "touchstart", "input", "focus"],
    activityTarget: null,      // null: document
    tick: 250,                 // how often the clock is checked
    onState: () => {},
    onWarning: () => {},
    onError: () => {},
    onClose: () => {},
    onRequest: () => {},       // (request): {from: {user_id, name}, message, at}, to the holder
    onDeclined: () => {},      // (by): {user_id, name}: the holder said "Not now"
    onSaved: () => {},         // ({version, by}): someone else saved the record
    WebSocket: null,           // null: the browser's
    sessionStorage: null,      // null: the browser's (where the tab id is kept)
    clock: null,               // null: performance.now(); tests give their own
    timers: null,              // null: the global setTimeout, setInterval ...; tests give their own
});

function monotonic() {
    return typeof performance !== "undefined" ? performance.now() : Date.now();
}

const GLOBAL_TIMERS = Object.freeze({
    setTimeout: (f, ms) => setTimeout(f, ms),
    clearTimeout: (id) => clearTimeout(id),
    setInterval: (f, ms) => setInterval(f, ms),
    clearInterval: (id) => clearInterval(id),
});

function websocketURL(url) {
    if (/^wss?:/.test(url)) return url;
    const absolute = new URL(url, window.location.href);
    if (absolute.protocol === "http:") absolute.protocol = "ws:";
    if (absolute.protocol === "https:") absolute.protocol = "wss:";
    return absolute.href;
}

const TAB_KEY = "django_lockable.tab";

/* This tab's id: made once per tab with crypto.randomUUID() and kept in
 * sessionStorage, which a reload keeps and another tab does not share.
 * Without sessionStorage (a sandboxed frame), an id for this page only. */
export function tabId(storage) {
    const make = () => (typeof crypto !== "undefined" && crypto.randomUUID
        ? crypto.randomUUID()
        : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`);
    try {
        const store = storage ?? globalThis.sessionStorage;
        let id = store.getItem(TAB_KEY);
        if (!id) {
            id = make();
            store.setItem(TAB_KEY, id);
        }
        return id;
    } catch (error) {
        return make();
    }
}

export class LockClient {
    constructor(options) {
        const o = { ...DEFAULTS, ...options };
        if (typeof o.uid !== "string" || o.uid === "") throw new TypeError("LockClient needs a uid");
        if (o.lockOn !== "open" && o.lockOn !== "edit") throw new TypeError('lockOn is "open" or "edit"');
        this.uid = o.uid;
        this.url = o.url;
        this.ttl = o.ttl;
        this.lockOn = o.lockOn;
        this.tab = o.tab ?? tabId(o.sessionStorage);
        this.heartbeatInterval = o.heartbeatInterval ?? o.ttl / 3;
        this.replyTimeout = o.replyTimeout ?? this.heartbeatInterval;
        this.idleTimeout = o.idleTimeout;
        this.idleAfter = o.idleAfter;
        this.warnBefore = o.warnBefore;
        this.leaseMargin = o.leaseMargin ?? Math.min(1000, o.ttl / 10);
        this.reconnectMin = o.reconnectMin;
        this.reconnectMax = o.reconnectMax;
        this.options = o;
        this._now = o.clock ?? monotonic;
        this._timers = o.timers ?? GLOBAL_TIMERS;
        this.state = CONNECTING;
        this.status = null;        // the last status message
        this.token = null;         // our fencing token while editing
        this.warning = false;
        // "lock": we ask for the lock (or a place) on every connection;
        // "view": we only watch (lockOn "edit", before the first keystroke).
        this.mode = o.lockOn === "edit" ? "view" : "lock";
        this.requests = [];        // the holder's: requests not answered yet, oldest first
        this.pendingRequest = false;  // the waiter's: asked, no answer yet
        this.joining = false;      // a viewer sent "lock" (lockOn "edit"), no answer yet
        this.saved = null;         // the last "saved" heard: {version, by}
        this._handingOver = false; // handOver() sent, no status since
        this.idle = false;         // what the last heartbeat said
        this._ws = null;
        this._backoff = o.reconnectMin;
        this._lastActivity = this._now();
        this._lastSent = null;     // when the last lock or heartbeat went out
        this._lastAction = null;
        this._awaitingSince = null;
        this._deadline = null;     // when our lease or place ends at the latest
        this._stopped = false;
        this._started = false;
        this._reconnectTimer = null;
        this._connectedAt = null;
        this._deadlineTimer = null;
        this._ticker = null;
        this._onActivity = (event) => this._activity(event);
        this._onOnline = () => this._reconnectNow();
    }

    /* Who is here, as the last status said: [{user_id, name, state, idle}]. */
    get presence() {
        return this.status && Array.isArray(this.status.presence) ? this.status.presence : [];
    }

    /* Does status name this tab as the holder (its owner is <owner>#<tab>)?
     * A viewer that just sent "lock" may hear so before the answer. */
    holdsIt(status = this.status) {
        return Boolean(status && typeof status.owner === "string" && status.owner.endsWith(`#${this.tab}`));
    }

    /* Why the last status said what it said (REASONS), or null. */
    get reason() {
        return this.status ? this.status.reason ?? null : null;
    }

    /* Connect and join the line (or view); start watching for input. */
    start() {
        if (this._started) return this;
        this._started = true;
        const target = this.options.activityTarget ?? document;
        for (const name of this.options.activityEvents) {
            target.addEventListener(name, this._onActivity, { passive: true, capture: true });
        }
        if (typeof window !== "undefined") window.addEventListener("online", this._onOnline);
        this._ticker = this._timers.setInterval(() => this._tick(), this.options.tick);
        this._emit();
        this._connect();
        return this;
    }

    /* Leave for good: unlock, close, stop the timers. */
    stop() {
        if (this._stopped) return;
        this._stopped = true;
        const target = this.options.activityTarget ?? document;
        for (const name of this.options.activityEvents) {
            target.removeEventListener(name, this._onActivity, { capture: true });
        }
        if (typeof window !== "undefined") window.removeEventListener("online", this._onOnline);
        this._timers.clearInterval(this._ticker);
        this._timers.clearTimeout(this._reconnectTimer);
        this._timers.clearTimeout(this._deadlineTimer);
        const ws = this._ws;
        this._ws = null;
        if (ws && ws.readyState === 1) {
            if (this.mode === "lock") ws.send(JSON.stringify({ action: "unlock" }));
            ws.close(1000);
        } else if (ws) {
            ws.close(1000);
        }
        this._transition("stopped");
    }

    /* "Continue": the user is here; renew now. */
    continueEditing() {
        this._lastActivity = this._now();
        if (this.state === EDITING || this.state === WAITING) this._heartbeat();
        this._tick();
    }

    /* After lost: join the line again (or get the lock, if it is free). */
    join() {
        if (this._stopped || this.state !== LOST) return;
        this._lastActivity = this._now();
        this.mode = "lock";
        this._transition("join");
        if (this._ws && this._ws.readyState === 1) {
            this._sendLock();
        } else if (!this._ws) {
            this._connect();
        }
    }

    /* The user starts editing: a viewer (lockOn "edit") joins the line now.
     * Returns true if it joins (now, or when the socket opens).  Input does
     * this by itself. */
    edit() {
        if (this._stopped) return false;
        if (this.state === LOST) {
            this.join();
            return true;
        }
        if (this.mode === "lock") return false;
        this.mode = "lock";
        this.joining = true;
        this._lastActivity = this._now();
        if (this._ws && this._ws.readyState === 1) this._sendLock();
        return true;  // else the lock goes out when the socket opens
    }

    /* Ask where we stand now (after a refused save, say). */
    refresh() {
        if (this.state === EDITING || this.state === WAITING || this.state === VIEWING) this._heartbeat();
    }

    /* The waiter asks the holder to hand over, with an optional message.
     * One request at a time: returns false (and sends nothing) while one is
     * pending, or when we are not waiting. */
    request(message = "") {
        if (this.state !== WAITING || this.pendingRequest) return false;
        if (!this._request({ action: "request", message: String(message) })) return false;
        this.pendingRequest = true;
        return true;
    }

    /* The holder's answers to a request: hand the lock to `to` (the
     * asker's user_id, or an owner), or decline.  Returns false when not
     * editing or the socket is down. */
    handOver(to) {
        if (this.state !== EDITING || !this._ws || this._ws.readyState !== 1) return false;
        // Out of editing first, then the message: the page is read-only
        // before the lock can move.
        this._handingOver = true;
        const asker = this.requests.find((r) => sameAsker(r.from, to));
        this.status = { ...this.status, reason: "handed_over", by: asker ? asker.from : null };
        this._transition("handedOver");
        return this._request({ action: "hand_over", to });
    }

    decline(to) {
        return this._answer("decline", to);
    }

    /* Take the lock over (with LOCKABLE_TAKE_OVER_PERMISSION, or from our
     * own other tab); the reason is recorded and shown to the one displaced. */
    takeOver(reason = "") {
        if (this.state === EDITING || this.state === CONNECTING) return false;
        this.mode = "lock";
        const message = { action: "take_over" };
        if (reason) message.reason = String(reason);
        return this._request(message);
    }

    _answer(action, to) {
        if (this.state !== EDITING) return false;
        if (!this._request({ action, to })) return false;
        this.requests = this.requests.filter((r) => !sameAsker(r.from, to));
        return true;
    }

    // ---- the state machine ----

    _transition(event, status) {
        const next = TRANSITIONS[this.state][event];
        if (next === undefined) return;
        let state = next === STATUS ? status.state : next;
        // A viewer is told "lost" (it holds nothing): for it, that is viewing.
        if (next === STATUS && this.mode === "view" && (state === LOST || state === VIEWING)) state = VIEWING;
        if (!STATES.includes(state)) return;
        if (event !== STATUS && this.status && (state === LOST || state === CONNECTING)) {
            // What the page knew, marked with the state we are in now.
            this.status = { ...this.status, state: state === LOST ? LOST : this.status.state, token: null };
        }
        if (event === STATUS) this.status = status;
        if (event === STATUS) this._handingOver = false;
        const before = this.state;
        this.state = state;
        this.token = state === EDITING && this.status ? this.status.token : null;
        if (state !== EDITING && state !== WAITING) this._deadline = null;
        if (state !== EDITING) this.requests = [];
        if (state !== WAITING) this.pendingRequest = false;
        if (state !== VIEWING) this.joining = false;
        this._emit(before);
        this._tick();
    }

    _emit(before = this.state) {
        this.options.onState(this.state, this.status, before);
    }

    _setWarning(show) {
        if (show === this.warning) return;
        this.warning = show;
        const left = this._deadline === null ? null : Math.max(0, this._deadline - this._now());
        this.options.onWarning(show, { state: this.state, msLeft: left });
    }

    // ---- the clock: heartbeats, lease end, warning, liveness ----

    _active(now) {
        return now - this._lastActivity < this.idleTimeout;
    }

    _tick() {
        if (this._stopped) return;
        const now = this._now();
        const holding = this.state === EDITING || this.state === WAITING;
        if (this._ws && this._awaitingSince !== null && now - this._awaitingSince > this.replyTimeout) {
            this._drop();  // the network is gone, whatever the socket says
            return;
        }
        if (this._ws && this._ws.readyState === 0 && now - this._connectedAt > this.replyTimeout + 5000) {
            this._drop();  // a handshake that hangs
            return;
        }
        if (holding && this._deadline !== null && now >= this._deadline) {
            this._setWarning(false);
            this._transition("leaseEnded");
            return;
        }
        const active = this._active(now);
        const due = this._lastSent === null || now - this._lastSent >= this.heartbeatInterval;
        const idle = now - this._lastActivity >= this.idleAfter;
        if (((holding && active) || this.state === VIEWING) && (due || idle !== this.idle)) {
            this._heartbeat();
        }
        this._setWarning(holding && !active && this._deadline !== null && now >= this._deadline - this.warnBefore);
    }

    _setDeadline(deadline) {
        this._deadline = deadline;
        // The periodic tick may be late: end the lease on a timer of its own.
        this._timers.clearTimeout(this._deadlineTimer);
        this._deadlineTimer = this._timers.setTimeout(() => this._tick(), Math.max(0, deadline - this._now()) + 1);
    }

    _activity(event) {
        const now = this._now();
        const wasIdle = !this._active(now) || now - this._lastActivity >= this.idleAfter;
        this._lastActivity = now;
        if (this.mode === "view" && this.state === VIEWING && isEdit(event)) this.edit();
        if (wasIdle) this._tick();  // renew at once, say "not idle", and hide the warning
    }

    // ---- the socket ----

    _connect() {
        if (this._stopped) return;
        this._timers.clearTimeout(this._reconnectTimer);
        this._reconnectTimer = null;
        const Impl = this.options.WebSocket ?? window.WebSocket;
        const ws = new Impl(websocketURL(this.url));
        this._ws = ws;
        this._connectedAt = this._now();
        this._awaitingSince = null;
        ws.onopen = () => {
            if (ws !== this._ws) return;
            if (this.mode === "lock") this._sendLock();
            else this._request({ action: "view", uid: this.uid, tab: this.tab });
        };
        ws.onmessage = (event) => {
            if (ws !== this._ws) return;
            this._awaitingSince = null;
            let message;
            try {
                message = JSON.parse(event.data);
            } catch (error) {
                return;
            }
            if (message === null || typeof message !== "object") return;
            this._receive(message);
        };
        ws.onclose = (event) => {
            if (ws !== this._ws) return;
            this._ws = null;
            this.options.onClose(event.code, event.reason);
            this._closed(event.code);
        };
    }

    _receive(message) {
        if (message.type === "status" && message.uid === this.uid) {
            this._backoff = this.reconnectMin;
            // The server's LOCKABLE_IDLE, in seconds, overrides the option.
            if (typeof message.idle_after === "number" && message.idle_after > 0) {
                this.idleAfter = message.idle_after * 1000;
            }
            if ((message.state === EDITING || message.state === WAITING) && this._lastSent !== null) {
                this._setDeadline(this._lastSent + this.ttl - this.leaseMargin);
            }
            this._transition(STATUS, message);
        } else if (message.type === "request" && this.state === EDITING && message.from) {
            const request = { from: message.from, message: message.message ?? "", at: Date.now() };
            // At most one pending request per asker: a new one replaces it.
            this.requests = [...this.requests.filter((r) => !sameAsker(r.from, message.from.user_id)), request];
            this.options.onRequest(request);
        } else if (message.type === "declined") {
            this.pendingRequest = false;
            this.options.onDeclined(message.by ?? null);
        } else if (message.type === "saved" && Number.isInteger(message.version)) {
            if (this.saved === null || message.version > this.saved.version) {
                this.saved = { version: message.version, by: message.by ?? null };
            }
            this.options.onSaved({ version: message.version, by: message.by ?? null });
        } else if (message.type === "error") {
            // An error answers our last message: a refused request is not pending,
            // and a refused hand over leaves us where the server says (we ask).
            if (this._lastAction === "request") this.pendingRequest = false;
            if (this._lastAction === "hand_over" && this._handingOver) this._request({ action: "heartbeat", idle: this.idle });
            this.options.onError(message.message);
        }
    }

    _closed(code) {
        this._awaitingSince = null;
        if (this._stopped) return;
        const known = CLOSE_CODES[code];
        if (known && !known.reconnect) {
            this._transition("denied");
            return;
        }
        if (this.state === LOST) return;  // nothing to keep: connect again on join()
        this._transition("closed");
        const delay = this._backoff * (0.8 + 0.4 * Math.random());
        this._backoff = Math.min(this._backoff * 2, this.reconnectMax);
        this._reconnectTimer = this._timers.setTimeout(() => this._connect(), delay);
    }

    _drop() {
        const ws = this._ws;
        this._ws = null;
        try {
            ws.close(4000, "no reply");
        } catch (error) {
            // closing a dead socket may throw; it is gone either way
        }
        this._closed(1006);
    }

    _reconnectNow() {
        if (this._stopped || this._ws || this.state !== CONNECTING) return;
        this._backoff = this.reconnectMin;
        this._connect();
    }

    _sendLock() {
        this._request({ action: "lock", uid: this.uid, tab: this.tab });
    }

    _heartbeat() {
        const now = this._now();
        this.idle = now - this._lastActivity >= this.idleAfter;
        this._request({ action: "heartbeat", idle: this.idle });
    }

    _request(message) {
        const ws = this._ws;
        if (!ws || ws.readyState !== 1) return false;
        ws.send(JSON.stringify(message));
        const now = this._now();
        if (message.action === "lock" || message.action === "heartbeat" || message.action === "view") {
            this._lastSent = now;
        }
        this._lastAction = message.action;
        if (this._awaitingSince === null) this._awaitingSince = now;
        return true;
    }
}

function sameAsker(from, to) {
    return from && (from.user_id === to || from.owner === to);
}

// A keystroke or an input that changes text: what "the first edit" is for
// lockOn "edit" (not Tab, arrows or a modifier alone).
function isEdit(event) {
    if (!event) return false;
    if (event.type === "input" || event.type === "paste") return true;
    if (event.type !== "keydown" || event.ctrlKey || event.metaKey || event.altKey) return false;
    const target = event.target;
    const editable = target && (target.isContentEditable || /^(INPUT|TEXTAREA)$/.test(target.tagName ?? ""));
    return Boolean(editable) && (event.key?.length === 1 || ["Backspace", "Delete", "Enter"].includes(event.key));
}

// ---- what the page says: words for states, reasons and messages ----

function clockTime(at) {
    const date = new Date(at);
    return `${String(date.getHours()).padStart(2, "0")}:${String(date.getMinutes()).padStart(2, "0")}`;
}

function nameOf(person, fallback = "Another user") {
    return person && person.name ? person.name : fallback;
}

/* Why we no longer hold the record, in a sentence: status.reason (REASONS),
 * status.by (who took it over, or whom it was handed to), and when we heard
 * it (a Date or ms). */
export function lostMessage(reason, by, at = Date.now()) {
    switch (reason) {
    case "taken_over":
        return `${nameOf(by, "Someone")} took over at ${clockTime(at)}: your unsaved changes are kept`;
    case "handed_over":  // by: the new holder
        return `The document was handed over${by && by.name ? ` to ${by.name}` : ""}: your unsaved changes are kept`;
    case "expired":
        return "Your hold ran out while you were away: your unsaved changes are kept";
    case "broken":
        return "An administrator ended your hold: your unsaved changes are kept";
    case "logged_out":
        return "You were logged out: your unsaved changes are kept";
    case "other_tab":
        return "You went on editing in another tab: your unsaved changes here are kept";
    case "released":
        return "You stopped editing";
    default:
        return "You no longer hold this document: your unsaved changes are kept";
    }
}

export function savedMessage(saved) {
    return `${nameOf(saved.by)} saved a new version (${saved.version})`;
}

export function requestMessage(request) {
    return `${nameOf(request.from)} asks to edit`;
}

export function declinedMessage(by) {
    return `${nameOf(by)} is still editing`;
}

export const CONNECTION_LOST = "Connection lost: reconnecting…";

/* The page's title for a state: "(Your turn) Meeting notes". */
export function titleFor(state, status, base) {
    const prefix = {
        [CONNECTING]: "(Connecting…)",
        [VIEWING]: "(Viewing)",
        [WAITING]: status && status.reason === "other_tab" ? "(Open in another tab)"
            : `(Waiting${status && status.position ? `: ${status.position}` : ""})`,
        [EDITING]: "(Your turn)",
        [LOST]: "(Read only)",
    }[state];
    return prefix ? `${prefix} ${base}` : base;
}

// ---- drafts ----

/* Drafts in localStorage (or any object with getItem, setItem and
 * removeItem), one per key: {uid, version, values, at}, the version being
 * the record's version the draft was based on. */
export class DraftStore {
    constructor(key, storage) {
        this.key = `django_lockable.draft:${key}`;
        this.storage = storage ?? globalThis.localStorage ?? null;
    }

    load() {
        try {
            const text = this.storage && this.storage.getItem(this.key);
            const draft = text ? JSON.parse(text) : null;
            return draft && typeof draft === "object" && draft.values ? draft : null;
        } catch (error) {
            return null;
        }
    }

    save(uid, version, values) {
        const draft = { uid, version, values, at: Date.now() };
        try {
            if (this.storage) this.storage.setItem(this.key, JSON.stringify(draft));
        } catch (error) {
            // full or forbidden: the form still has the text
        }
        return draft;
    }

    clear() {
        try {
            if (this.storage) this.storage.removeItem(this.key);
        } catch (error) {
            // nothing to do
        }
    }
}

/* What restoring draft onto the record as it is now (current: {version,
 * values}) means: "same" (nothing to restore), "restore" (it was based on
 * this version: put it in), or "compare" (based on another version: show
 * both, let the user choose). */
export function draftPlan(draft, current) {
    if (!draft) return "same";
    const differs = Object.keys(draft.values).some((name) => draft.values[name] !== current.values[name]);
    if (!differs) return "same";
    return draft.version === current.version ? "restore" : "compare";
}

// ---- a form bound to a client ----

/* LockableForm: a <form> that is editable only while its client edits.
 *
 *   new LockableForm({ client, form, fields: ["title", "body"],
 *                      versionField: "version", load, announcer, ... })
 *
 * - Read-only (and its submit disabled) in every state but editing (a
 *   viewer of a record nobody edits, lockOn "edit", may type: its first
 *   keystroke joins the line), with what was typed kept: on each input the fields' values go to a draft
 *   (DraftStore: localStorage), tied to the uid and to the version the form
 *   was based on (the value of versionField).
 * - When let in, before the form is enabled: if a "saved" was heard, or the
 *   page lost the socket or the lock since its form was loaded, load() is
 *   asked for the record as it is now ({version, values}); a newer version
 *   replaces the form, and the draft is offered (onDraft).  Unchanged, the
 *   draft stays in place and editing resumes.
 * - onDraft({plan, draft, current}) when a draft differs from the form:
 *   plan "restore" or "compare" (draftPlan); restoreDraft() puts it in
 *   ("compare": only after the page showed both), discardDraft() drops it.
 * - Announcements: each state change (and each message) in the aria-live
 *   element announcer, focus to the first field when let in, the page's
 *   title (titleFor), and a Notification when the tab is hidden and we are
 *   let in (if the user allowed notifications).
 * - saved(version): the page's save succeeded; the draft is cleared.
 */
export class LockableForm {
    constructor(options) {
        const o = {
            fields: [], versionField: "version", load: null, announcer: null, title: null,
            notify: true, draftKey: null, storage: null, describe: null,
            onDraft: () => {}, onState: () => {},
            ...options,
        };
        this.client = o.client;
        this.form = o.form;
        this.options = o;
        this.fields = o.fields.map((name) => this.form.elements.namedItem(name));
        this.versionInput = this.form.elements.namedItem(o.versionField);
        this.submit = this.form.querySelector("[type=submit]");
        this.baseTitle = o.title ?? document.title;
        this.drafts = new DraftStore(o.draftKey ?? this.client.uid, o.storage);
        this.draft = this.drafts.load();
        if (this.draft && this.draft.uid !== this.client.uid) this.draft = null;
        this.offer = null;          // the draft on offer: {plan, draft, current}
        this.base = this._values(); // the values of the version the form shows
        this.stale = false;         // the form may be behind: load before enabling
        this.loading = false;
        this.lastLost = null;       // {reason, by, at} of the last "lost"
        this.notifications = 0;
        this._connected = false;    // a state other than connecting was shown
        this._described = null;     // the last state sentence announced
        this._reset = false;
        this.form.addEventListener("input", () => this._typed());
        this._chain(o.client, "onState", (state, status, before) => this._state(state, status, before));
        this._chain(o.client, "onSaved", (saved) => {
            if (saved.version > this.version) this.stale = true;
            this.announce(savedMessage(saved));
        });
        this._chain(o.client, "onDeclined", (by) => this.announce(declinedMessage(by)));
        this._chain(o.client, "onRequest", (request) => this.announce(requestMessage(request)));
        this._apply(this.client.state, this.client.status, false);
    }

    /* True while the socket is being opened again after a drop. */
    get reconnecting() {
        return this.client.state === CONNECTING && this._connected;
    }

    get version() {
        return Number(this.versionInput ? this.versionInput.value : NaN);
    }

    // Add our handler to a client callback, keeping the page's own.
    _chain(client, name, handler) {
        const theirs = client.options[name];
        client.options[name] = (...args) => {
            handler(...args);
            theirs(...args);
        };
    }

    _values() {
        const values = {};
        for (const field of this.fields) values[field.name] = field.value;
        return values;
    }

    _setValues(values) {
        for (const field of this.fields) {
            if (Object.prototype.hasOwnProperty.call(values, field.name)) field.value = values[field.name];
        }
    }

    /* Is what the form shows different from the version it was based on? */
    get changed() {
        const values = this._values();
        return this.fields.some((field) => values[field.name] !== this.base[field.name]);
    }

    _typed() {
        if (this.changed) {
            this.draft = this.drafts.save(this.client.uid, this.version, this._values());
        } else {
            this.draft = null;
            this.drafts.clear();
        }
    }

    announce(text) {
        const live = this.options.announcer;
        if (!live) return;
        // The same words twice are announced twice only if the text changes.
        live.textContent = live.textContent === text ? `${text}\u00a0` : text;
    }

    async _state(state, status, before) {
        if (state !== CONNECTING) this._connected = true;
        if (state === LOST && before !== LOST) {
            this.lastLost = { reason: status ? status.reason ?? null : null, by: status ? status.by ?? null : null,
                at: Date.now() };
            this._reset = true;  // when let in again: the record as it is, and the draft on offer
        }
        // Out of editing, or the socket lost: a save may have gone unheard.
        if ((before === EDITING && state !== EDITING) || (state === CONNECTING && this._connected)) {
            this.stale = true;
        }
        if (state === EDITING && before !== EDITING) {
            this.loading = Boolean(this.stale && this.options.load);
            this._apply(state, status);  // read-only while loading
            await this._letIn();
            this.loading = false;
            if (this.client.state !== EDITING) return;  // it changed while we loaded
            this._welcome();
            this._apply(this.client.state, this.client.status);
            return;
        }
        this._apply(state, status);
    }

    async _letIn() {
        let current = null;
        if (this.stale && this.options.load) {
            try {
                current = await this.options.load();
            } catch (error) {
                current = null;  // the save's 409 stays the last line of defence
            }
            if (current) this.stale = false;
        }
        const mine = this.changed ? this._values() : null;
        if (mine && (!this.draft || this.draft.version !== this.version)) {
            this.draft = this.drafts.save(this.client.uid, this.version, mine);
        }
        if (current && current.version !== this.version) {
            this._setValues(current.values);
            if (this.versionInput) this.versionInput.value = String(current.version);
            this.base = this._values();
        } else if (this._reset) {
            this._setValues(this.base);  // unchanged: the version it was based on
        }
        this._reset = false;
        this._offer();
    }

    // After the form shows the record as it is now: offer the draft if it differs.
    _offer(current = { version: this.version, values: this._values() }) {
        const plan = draftPlan(this.draft, current);
        this.offer = plan === "same" ? null : { plan, draft: this.draft, current };
        this.options.onDraft(this.offer);
    }

    /* Put the draft in the form.  For a draft of another version, call this
     * only once the page has shown both (offer.plan "compare"): the form's
     * version stays the current one, so the save is of what the user chose. */
    restoreDraft() {
        if (!this.offer) return false;
        this._setValues(this.offer.draft.values);
        this.draft = this.drafts.save(this.client.uid, this.version, this._values());
        this.offer = null;
        this.options.onDraft(null);
        return true;
    }

    discardDraft() {
        this.draft = null;
        this.drafts.clear();
        this.offer = null;
        this.options.onDraft(null);
    }

    /* The text of the unsaved changes, for "Copy my changes". */
    changesText() {
        const values = this.draft ? this.draft.values : this._values();
        return this.fields.map((field) => `${field.name}:\n${values[field.name] ?? ""}`).join("\n\n");
    }

    /* The page's save succeeded with this version: the form is based on it. */
    saved(version) {
        if (this.versionInput) this.versionInput.value = String(version);
        this.base = this._values();
        this.discardDraft();
    }

    _apply(state, status, tell = true) {
        // A viewer of a record nobody edits (lockOn "edit") may start typing:
        // the first keystroke joins the line, and the text is a draft meanwhile.
        // Joining (its "lock" sent, no answer yet) it goes on typing whatever a
        // look says meanwhile: the answer decides, and the text is a draft.
        const mayStart = state === VIEWING && this.client.lockOn === "edit"
            && (!(status && status.owner) || this.client.holdsIt(status) || this.client.joining);
        const editable = (state === EDITING && !this.loading) || mayStart;
        for (const field of this.fields) field.readOnly = !editable;
        if (this.submit) this.submit.disabled = !(state === EDITING && !this.loading);
        this.form.setAttribute("aria-busy", state === CONNECTING || this.loading ? "true" : "false");
        this.form.dataset.editable = editable ? "true" : "false";
        document.title = titleFor(state, status, this.baseTitle);
        // Each new sentence once: a status that changes only the presence says nothing.
        const text = this.describe(state, status);
        if (state !== EDITING && text !== this._described) {
            this._described = text;
            this.announce(text);
        }
        if (tell) this.options.onState(state, status);
    }

    /* The sentence for a state (the page may give its own: describe). */
    describe(state, status) {
        if (this.options.describe) {
            const text = this.options.describe(state, status, this);
            if (text) return text;
        }
        if (state === CONNECTING) return this.reconnecting ? CONNECTION_LOST : "Connecting…";
        if (state === VIEWING) return "You are viewing this document";
        if (state === WAITING) {
            if (status && status.reason === "other_tab") return "You are editing this document in another tab";
            return status && status.position ? `Waiting: you are number ${status.position} in line` : "Waiting";
        }
        if (state === EDITING) return this.loading ? "Your turn: loading the current version…" : "Your turn: you can edit now";
        const lost = this.lastLost ?? {};
        return lostMessage(lost.reason, lost.by, lost.at);
    }

    _welcome() {
        this._described = this.describe(EDITING, this.client.status);
        this.announce(this._described);
        const first = this.fields[0];
        if (first && typeof first.focus === "function") first.focus();
        const hidden = typeof document !== "undefined" && document.hidden;
        if (this.options.notify && hidden && typeof Notification !== "undefined"
            && Notification.permission === "granted") {
            try {
                new Notification(`Your turn: ${this.baseTitle}`, { body: "You can edit it now.", tag: this.client.uid });
                this.notifications += 1;
            } catch (error) {
                // some browsers allow notifications from a service worker only
            }
        }
    }
}
