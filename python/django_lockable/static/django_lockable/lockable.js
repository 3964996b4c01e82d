/*
 * lockable.js: the browser side of django-lockable's live editing.
 *
 * One plain ES module, no build step, no dependencies.  A LockClient opens a
 * websocket to django_lockable.channels.LockConsumer, joins the line of one
 * uid, and calls onState(state, status) whenever the server tells it where
 * it stands or the connection changes:
 *
 *   connecting  no answer from the server yet (first connection, or
 *               reconnecting after a network loss or a database restart)
 *   waiting     another user edits; status.position is our place (1 = next)
 *   editing     we hold the lock; status.token is our fencing token
 *   lost        we hold neither lock nor place: the lock was handed on, the
 *               lease ran out while we were idle, or we left (join() again)
 *
 * The state machine is the table TRANSITIONS below: for each state, the
 * next state after each event.  A "status" event moves to the state the
 * server names, from any state.
 *
 * Heartbeats renew the lock or the place every heartbeatInterval, but only
 * while the user is active (an input event within idleTimeout).  An idle
 * user's lease is left to run out: warnBefore before its end onWarning(true)
 * asks "Still editing?", and continueEditing() (or any input) renews it.
 * The client never shows "editing" past the lease its last heartbeat could
 * have earned: without an answer within replyTimeout it drops the socket and
 * reconnects, and leaseMargin before the lease's end (by its own clock,
 * counted from when it sent that heartbeat) it turns "lost" by itself, on a
 * timer of its own, so that it is out before the server can hand the lock
 * on.
 *
 *   import { LockClient } from "/static/django_lockable/lockable.js";
 *   const lock = new LockClient({
 *     url: "/ws/lock/", uid: "documents.document:42", ttl: 60000,
 *     onState(state, status) { document.body.dataset.lockState = state; },
 *     onWarning(show, info) { dialog.hidden = !show; },
 *   });
 *   lock.start();
 *
 * Times are in milliseconds.  Close codes from the server are the table
 * CLOSE_CODES below (the same as python/README.md's "Close codes" and
 * django_lockable.live.CLOSE_CODES): 4401, 4413 and 4500 are "lost", with
 * no reconnection; 4429, 4503 and any other close reconnect with backoff.
 * onClose(code, reason) hears each close of the socket.
 */

export const CONNECTING = "connecting";
export const WAITING = "waiting";
export const EDITING = "editing";
export const LOST = "lost";
export const STATES = Object.freeze([CONNECTING, WAITING, EDITING, LOST]);

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
 *   join        join() after lost: connecting and sending lock again
 *   stopped     stop(): unlock and close for good
 * A missing entry means the event changes nothing in that state.
 */
export const TRANSITIONS = Object.freeze({
    [CONNECTING]: { status: STATUS, closed: CONNECTING, denied: LOST, stopped: LOST },
    [WAITING]: { status: STATUS, closed: CONNECTING, leaseEnded: LOST, denied: LOST, stopped: LOST },
    [EDITING]: { status: STATUS, closed: CONNECTING, leaseEnded: LOST, denied: LOST, stopped: LOST },
    [LOST]: { status: STATUS, denied: LOST, join: CONNECTING, stopped: LOST },
});

export const DEFAULTS = Object.freeze({
    url: "/ws/lock/",
    ttl: 60000,                // the server's lease (LOCKABLE_TTL), to pace heartbeats
    heartbeatInterval: null,   // null: ttl / 3
    replyTimeout: null,        // null: heartbeatInterval
    idleTimeout: 10 * 60000,   // without input for this long, stop renewing
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
    WebSocket: null,           // null: the browser's
});

function monotonic() {
    return typeof performance !== "undefined" ? performance.now() : Date.now();
}

function websocketURL(url) {
    const absolute = new URL(url, window.location.href);
    if (absolute.protocol === "http:") absolute.protocol = "ws:";
    if (absolute.protocol === "https:") absolute.protocol = "wss:";
    return absolute.href;
}

export class LockClient {
    constructor(options) {
        const o = { ...DEFAULTS, ...options };
        if (typeof o.uid !== "string" || o.uid === "") throw new TypeError("LockClient needs a uid");
        this.uid = o.uid;
        this.url = o.url;
        this.ttl = o.ttl;
        this.heartbeatInterval = o.heartbeatInterval ?? o.ttl / 3;
        this.replyTimeout = o.replyTimeout ?? this.heartbeatInterval;
        this.idleTimeout = o.idleTimeout;
        this.warnBefore = o.warnBefore;
        this.leaseMargin = o.leaseMargin ?? Math.min(1000, o.ttl / 10);
        this.reconnectMin = o.reconnectMin;
        this.reconnectMax = o.reconnectMax;
        this.options = o;
        this.state = CONNECTING;
        this.status = null;        // the last status message
        this.token = null;         // our fencing token while editing
        this.warning = false;
        this._ws = null;
        this._backoff = o.reconnectMin;
        this._lastActivity = monotonic();
        this._lastSent = null;     // when the last lock or heartbeat went out
        this._awaitingSince = null;
        this._deadline = null;     // when our lease or place ends at the latest
        this._stopped = false;
        this._started = false;
        this._reconnectTimer = null;
        this._connectedAt = null;
        this._deadlineTimer = null;
        this._ticker = null;
        this._onActivity = () => this._activity();
        this._onOnline = () => this._reconnectNow();
    }

    /* Connect and join the line; start watching for input. */
    start() {
        if (this._started) return this;
        this._started = true;
        const target = this.options.activityTarget ?? document;
        for (const name of this.options.activityEvents) {
            target.addEventListener(name, this._onActivity, { passive: true, capture: true });
        }
        window.addEventListener("online", this._onOnline);
        this._ticker = setInterval(() => this._tick(), this.options.tick);
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
        window.removeEventListener("online", this._onOnline);
        clearInterval(this._ticker);
        clearTimeout(this._reconnectTimer);
        clearTimeout(this._deadlineTimer);
        const ws = this._ws;
        this._ws = null;
        if (ws && ws.readyState === 1) {
            ws.send(JSON.stringify({ action: "unlock" }));
            ws.close(1000);
        } else if (ws) {
            ws.close(1000);
        }
        this._transition("stopped");
    }

    /* "Continue": the user is here; renew now. */
    continueEditing() {
        this._lastActivity = monotonic();
        if (this.state === EDITING || this.state === WAITING) this._request({ action: "heartbeat" });
        this._tick();
    }

    /* After lost: join the line again (or get the lock, if it is free). */
    join() {
        if (this._stopped || this.state !== LOST) return;
        this._lastActivity = monotonic();
        this._transition("join");
        if (this._ws && this._ws.readyState === 1) {
            this._request({ action: "lock", uid: this.uid });
        } else if (!this._ws) {
            this._connect();
        }
    }

    /* Ask the server where we stand now (after a refused save, say). */
    refresh() {
        if (this.state === EDITING || this.state === WAITING) this._request({ action: "heartbeat" });
    }

    // ---- the state machine ----

    _transition(event, status) {
        const next = TRANSITIONS[this.state][event];
        if (next === undefined) return;
        const state = next === STATUS ? status.state : next;
        if (!STATES.includes(state)) return;
        if (event !== STATUS && this.status && (state === LOST || state === CONNECTING)) {
            // What the page knew, marked with the state we are in now.
            this.status = { ...this.status, state: state === LOST ? LOST : this.status.state, token: null };
        }
        if (event === STATUS) this.status = status;
        this.state = state;
        this.token = state === EDITING && this.status ? this.status.token : null;
        if (state !== EDITING && state !== WAITING) this._deadline = null;
        this._emit();
        this._tick();
    }

    _emit() {
        this.options.onState(this.state, this.status);
    }

    _setWarning(show) {
        if (show === this.warning) return;
        this.warning = show;
        const left = this._deadline === null ? null : Math.max(0, this._deadline - monotonic());
        this.options.onWarning(show, { state: this.state, msLeft: left });
    }

    // ---- the clock: heartbeats, lease end, warning, liveness ----

    _active(now) {
        return now - this._lastActivity < this.idleTimeout;
    }

    _tick() {
        if (this._stopped) return;
        const now = monotonic();
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
        if (holding && active && (this._lastSent === null || now - this._lastSent >= this.heartbeatInterval)) {
            this._request({ action: "heartbeat" });
        }
        this._setWarning(holding && !active && this._deadline !== null && now >= this._deadline - this.warnBefore);
    }

    _setDeadline(deadline) {
        this._deadline = deadline;
        // The periodic tick may be late: end the lease on a timer of its own.
        clearTimeout(this._deadlineTimer);
        this._deadlineTimer = setTimeout(() => this._tick(), Math.max(0, deadline - monotonic()) + 1);
    }

    _activity() {
        const now = monotonic();
        const wasIdle = !this._active(now);
        this._lastActivity = now;
        if (wasIdle) this._tick();  // renew at once, and hide the warning
    }

    // ---- the socket ----

    _connect() {
        if (this._stopped) return;
        clearTimeout(this._reconnectTimer);
        this._reconnectTimer = null;
        const Impl = this.options.WebSocket ?? window.WebSocket;
        const ws = new Impl(websocketURL(this.url));
        this._ws = ws;
        this._connectedAt = monotonic();
        this._awaitingSince = null;
        ws.onopen = () => {
            if (ws !== this._ws) return;
            this._request({ action: "lock", uid: this.uid });
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
            if (message.type === "status" && message.uid === this.uid) {
                this._backoff = this.reconnectMin;
                if ((message.state === EDITING || message.state === WAITING) && this._lastSent !== null) {
                    this._setDeadline(this._lastSent + this.ttl - this.leaseMargin);
                }
                this._transition(STATUS, message);
            } else if (message.type === "error") {
                this.options.onError(message.message);
            }
        };
        ws.onclose = (event) => {
            if (ws !== this._ws) return;
            this._ws = null;
            this.options.onClose(event.code, event.reason);
            this._closed(event.code);
        };
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
        this._reconnectTimer = setTimeout(() => this._connect(), delay);
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

    _request(message) {
        const ws = this._ws;
        if (!ws || ws.readyState !== 1) return;
        ws.send(JSON.stringify(message));
        const now = monotonic();
        if (message.action === "lock" || message.action === "heartbeat") this._lastSent = now;
        if (this._awaitingSince === null) this._awaitingSince = now;
    }
}
