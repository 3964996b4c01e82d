// The editor page: renders the live lock (lockable.js) and saves through the API.
//
// <body> carries data-lock-state (connecting, waiting, editing, lost) and
// data-lock-position (our place in line while waiting), data-lock-warning
// ("idle" while "Still editing?" shows), data-save-result (saved,
// conflict, refused, error) and data-lock-close (the code of the socket's
// last close): the page's tests read them, and so may yours.
import { CONNECTING, EDITING, LOST, LockClient, WAITING } from "../django_lockable/lockable.js";

const body = document.body;
const form = document.getElementById("editor");
const title = document.getElementById("title");
const text = document.getElementById("body");
const version = document.getElementById("version");
const save = document.getElementById("save");
const saveMessage = document.getElementById("save-message");
const banner = document.getElementById("lock-banner");
const headline = document.getElementById("lock-headline");
const detail = document.getElementById("lock-detail");
const join = document.getElementById("join");
const warning = document.getElementById("idle-warning");
const idleLeft = document.getElementById("idle-left");
let countdown = null;

// Every state the page showed, with the time: tests check that no two pages
// ever showed "editing" at once.
window.lockHistory = [];

// Names of the holders this page has seen, by user id.  The page is never
// given a list of users: it asks the site for the name of the document's
// holder (what the list page shows) the first time a status names one.
const names = new Map();
const asked = new Set();
let shown = { state: CONNECTING, status: null };

function nameOf(status) {
    if (!status || status.user_id === null || status.user_id === undefined) return "Another user";
    if (names.has(status.user_id)) return names.get(status.user_id);
    askHolder(status.user_id);
    return "Another user";
}

async function askHolder(userId) {
    if (asked.has(userId)) return;
    asked.add(userId);
    try {
        const response = await fetch(form.dataset.holder, { credentials: "same-origin" });
        const holder = await response.json();
        if (holder.user_id === null || holder.user_id === undefined) {
            asked.delete(userId);  // nobody holds it now: ask again when a status names someone
            return;
        }
        names.set(holder.user_id, holder.name);
        if (holder.user_id !== userId) asked.delete(userId);
    } catch (error) {
        asked.delete(userId);
        return;
    }
    describe(shown.state, shown.status);  // the name may be known now
}

function render(state, status) {
    body.dataset.lockState = state;
    body.dataset.lockPosition = state === WAITING && status ? String(status.position) : "";
    window.lockHistory.push({ state, position: status ? status.position : null, at: Date.now() });
    if (window.lockHistory.length > 1000) window.lockHistory.splice(0, 500);  // a page left open for days
    banner.className = `banner ${state}`;
    join.hidden = state !== LOST;
    const editable = state === EDITING || state === LOST || state === CONNECTING;
    title.readOnly = text.readOnly = !editable;
    // In "lost" the save is still sent: the database decides (enforce_lock).
    save.disabled = !(state === EDITING || state === LOST);
    shown = { state, status };
    describe(state, status);
}

// The banner's words for a state.
function describe(state, status) {
    if (state === EDITING) {
        const waiting = status && status.waiters ? ` ${status.waiters} waiting.` : "";
        headline.textContent = "You are editing this document.";
        detail.textContent = waiting;
    } else if (state === WAITING) {
        headline.textContent = "Wait, another user is editing this document.";
        const place = status.position === 1 ? "You are next" : `You are number ${status.position} in line`;
        detail.textContent = `${nameOf(status)} is editing. ${place}; the page lets you in by itself.`;
    } else if (state === LOST) {
        headline.textContent = "You no longer hold this document.";
        detail.textContent = status && status.owner ? `${nameOf(status)} is editing it now.` : "Its lease ran out.";
    } else {
        headline.textContent = "Connecting…";
        detail.textContent = "";
    }
}

const lock = new LockClient({
    url: "/ws/lock/",
    uid: form.dataset.uid,
    ttl: Number(form.dataset.ttl),
    idleTimeout: Number(form.dataset.idleTimeout),
    warnBefore: Number(form.dataset.warnBefore),
    reconnectMax: 2000,
    onState: render,
    onWarning(show, info) {
        warning.hidden = !show;
        body.dataset.lockWarning = show ? "idle" : "";
        clearInterval(countdown);
        if (show && info.msLeft !== null) {
            const end = Date.now() + info.msLeft;
            const tick = () => {
                idleLeft.textContent = `in ${Math.max(0, Math.ceil((end - Date.now()) / 1000))} s`;
            };
            tick();
            countdown = setInterval(tick, 500);
        }
    },
    onError(message) {
        saveMessage.textContent = message;
    },
    onClose(code) {
        body.dataset.lockClose = String(code);  // the last close code (README, "Close codes")
    },
});
window.lockClient = lock;

document.getElementById("continue").addEventListener("click", () => lock.continueEditing());
join.addEventListener("click", () => lock.join());

function csrfToken() {
    return form.querySelector("input[name=csrfmiddlewaretoken]").value;
}

function showResult(result, message) {
    body.dataset.saveResult = result;
    saveMessage.className = result;
    saveMessage.textContent = message;
}

form.addEventListener("submit", async (event) => {
    event.preventDefault();
    body.dataset.saveResult = "";
    const headers = { "Content-Type": "application/json", "X-CSRFToken": csrfToken() };
    if (lock.token !== null) headers["Lockable-Token"] = String(lock.token);
    let response;
    try {
        response = await fetch(form.dataset.api, {
            method: "PUT",
            headers,
            credentials: "same-origin",
            body: JSON.stringify({ title: title.value, body: text.value, version: Number(version.value) }),
        });
    } catch (error) {
        showResult("error", "Could not reach the server: try again.");
        return;
    }
    const reply = await response.json().catch(() => ({}));
    if (response.ok) {
        version.value = reply.version;
        showResult("saved", `Saved (version ${reply.version}).`);
    } else if (response.status === 409) {
        showResult("conflict", "This document changed since you opened it: reload");
    } else if (response.status === 423) {
        showResult("refused", `Refused: ${reply.detail ?? "another user holds this document's lock."}`);
        lock.refresh();  // the server tells us where we stand
    } else {
        showResult("error", `Could not save (${response.status}).`);
    }
});

lock.start();
