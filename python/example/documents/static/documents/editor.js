// The editor page: renders the live lock (lockable.js's LockClient and
// LockableForm) and saves through the API.
//
// <body> carries, for the page's tests (and yours):
//   data-lock-state     connecting, viewing, waiting, editing, lost
//   data-lock-position  our place in line while waiting
//   data-lock-reason    the last status's reason (other_tab, taken_over ...)
//   data-lock-warning   "idle" while "Still editing?" shows
//   data-lock-close     the code of the socket's last close
//   data-editable       "true" once the form may be typed into
//   data-presence       who is here: "Alice:editing,Bob:waiting:idle,..."
//   data-request        the waiter's: "", pending, declined
//   data-requests       the holder's: requests not answered yet
//   data-draft          "", restore or compare: a draft on offer
//   data-saved-version  the last version someone else saved
// #lock-message is the aria-live region (visually hidden) where
// LockableForm announces each state and message; #notice shows a save by
// someone else until the page is let in.
//   data-save-result    saved, conflict, refused, error
//   data-notified       notifications shown ("Your turn", tab hidden)
import {
    CONNECTING, CONNECTION_LOST, EDITING, LOST, LockClient, LockableForm, VIEWING, WAITING,
    declinedMessage, lostMessage, requestMessage, savedMessage,
} from "../django_lockable/lockable.js";

const $ = (id) => document.getElementById(id);
const body = document.body;
const form = $("editor");
const title = $("title");
const text = $("body");
const version = $("version");
const saveMessage = $("save-message");
const me = { user_id: Number(form.dataset.userId), name: form.dataset.userName };
const mayTakeOver = form.dataset.mayTakeOver === "true";
let countdown = null;

// Every state the page showed, with the time: tests check that no two pages
// ever showed "editing" at once.
window.lockHistory = [];

// Names by user id: from the presence lists of the statuses, and for a
// holder not listed (a lock taken through the REST API, say) from
// /documents/<pk>/holder/.  The page is never given a list of users.
const names = new Map([[me.user_id, me.name]]);
const asked = new Set();

function nameOf(userId) {
    if (userId === null || userId === undefined) return "Another user";
    if (names.has(userId)) return names.get(userId);
    askHolder(userId);
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
    render(lock.state, lock.status);  // the name may be known now
}

function initials(name) {
    return name.split(/\s+/).filter(Boolean).map((word) => word[0]).join("").slice(0, 2).toUpperCase();
}

// ---- rendering ----

function renderPresence(status) {
    const list = $("presence");
    const presence = lock.presence;
    for (const person of presence) if (person.name) names.set(person.user_id, person.name);
    const called = (person) => person.name || nameOf(person.user_id);
    list.replaceChildren(...presence.map((person) => {
        const item = document.createElement("li");
        item.className = `person ${person.state}${person.idle ? " idle" : ""}`;
        item.dataset.userId = String(person.user_id);
        const badge = document.createElement("span");
        badge.className = "initials";
        badge.setAttribute("aria-hidden", "true");
        badge.textContent = initials(called(person));
        const label = document.createElement("span");
        const you = person.user_id === me.user_id ? " (you)" : "";
        label.textContent = `${called(person)}${you}: ${person.state}${person.idle ? ", idle" : ""}`;
        item.title = label.textContent;
        item.append(badge, label);
        return item;
    }));
    const count = status && Number.isInteger(status.presence_count) ? status.presence_count : presence.length;
    if (count > presence.length) {
        const more = document.createElement("li");
        more.className = "person more";
        more.textContent = `and ${count - presence.length} more`;
        list.append(more);
    }
    body.dataset.presence = presence.map((p) => `${called(p)}:${p.state}${p.idle ? ":idle" : ""}`).join(",");
    $("live").hidden = lock.state === CONNECTING;
}

function holderName(status) {
    return nameOf(status ? status.user_id : null);
}

// The banner's words for a state.
function describe(state, status) {
    const headline = $("lock-headline");
    const detail = $("lock-detail");
    const reason = status ? status.reason : null;
    if (state === EDITING) {
        headline.textContent = "You are editing this document.";
        detail.textContent = status && status.waiters ? ` ${status.waiters} waiting.` : "";
    } else if (state === WAITING && reason === "other_tab") {
        headline.textContent = "You are editing this document in another tab.";
        detail.textContent = "Edit it here instead, or close this tab.";
    } else if (state === WAITING) {
        headline.textContent = "Wait, another user is editing this document.";
        const place = status.position === 1 ? "You are next" : `You are number ${status.position} in line`;
        detail.textContent = `${holderName(status)} is editing. ${place}; the page lets you in by itself.`;
    } else if (state === VIEWING) {
        headline.textContent = "You are viewing this document.";
        detail.textContent = status && status.owner
            ? `${holderName(status)} is editing.`
            : "Nobody is editing it: start typing to edit.";
    } else if (state === LOST) {
        headline.textContent = "You no longer hold this document.";
        const lost = editor.lastLost;
        if (lost && lost.reason) detail.textContent = `${lostMessage(lost.reason, lost.by, lost.at)}.`;
        else detail.textContent = status && status.owner ? `${holderName(status)} is editing it now.` : "Its lease ran out.";
    } else {
        headline.textContent = editor.reconnecting ? CONNECTION_LOST : "Connecting…";
        detail.textContent = "";
    }
}

function render(state, status) {
    body.dataset.lockState = state;
    body.dataset.lockPosition = state === WAITING && status ? String(status.position) : "";
    body.dataset.lockReason = status && status.reason ? status.reason : "";
    body.dataset.editable = form.dataset.editable ?? "false";
    window.lockHistory.push({ state, position: status ? status.position : null, reason: body.dataset.lockReason,
        at: Date.now() });
    if (window.lockHistory.length > 1000) window.lockHistory.splice(0, 500);  // a page left open for days
    $("lock-banner").className = `banner ${state}`;
    if (state === EDITING && !editor.loading) $("notice").textContent = "";  // we have the current version
    const otherTab = state === WAITING && status && status.reason === "other_tab";
    $("join").hidden = state !== LOST;
    $("take-here").hidden = !otherTab;
    $("copy").hidden = state === EDITING || !(editor.changed || editor.draft);
    $("ask-panel").hidden = state !== WAITING || otherTab;
    $("ask").disabled = lock.pendingRequest;
    if (state !== WAITING) body.dataset.request = "";
    const held = status && status.owner;
    $("take-over-panel").hidden = !mayTakeOver || otherTab || !held
        || !(state === WAITING || state === VIEWING || state === LOST);
    $("notify").hidden = !(state === WAITING || state === VIEWING) || typeof Notification === "undefined"
        || Notification.permission !== "default";
    body.dataset.notified = String(editor.notifications);
    renderRequests();
    renderPresence(status);
    describe(state, status);
}

let shownRequests = "";

function renderRequests() {
    const list = $("requests");
    const requests = lock.requests;
    body.dataset.requests = String(requests.length);
    $("requests-panel").hidden = requests.length === 0;
    // Rebuilt only when they change: a keyboard user's focus stays on its button.
    const key = JSON.stringify(requests.map((r) => [r.from.user_id, r.message, r.at]));
    if (key === shownRequests) return;
    shownRequests = key;
    list.replaceChildren(...requests.map((request) => {
        const item = document.createElement("li");
        item.className = "request";
        const what = document.createElement("strong");
        what.textContent = requestMessage(request);
        item.append(what);
        if (request.message) {
            const quote = document.createElement("q");
            quote.textContent = request.message;
            item.append(" ", quote);
        }
        const id = request.from.user_id;
        const handOver = document.createElement("button");
        handOver.type = "button";
        handOver.id = `hand-over-${id}`;
        handOver.textContent = "Hand over";
        handOver.addEventListener("click", () => {
            lock.handOver(id);
            renderRequests();
        });
        const decline = document.createElement("button");
        decline.type = "button";
        decline.id = `decline-${id}`;
        decline.textContent = "Not now";
        decline.addEventListener("click", () => {
            lock.decline(id);
            renderRequests();
        });
        item.append(" ", handOver, " ", decline);
        return item;
    }));
}

function renderDraft(offer) {
    body.dataset.draft = offer ? offer.plan : "";
    $("draft-panel").hidden = !offer;
    $("compare").hidden = true;
    if (!offer) return;
    const based = offer.draft.version;
    $("draft-text").textContent = offer.plan === "compare"
        ? `You have unsaved changes based on version ${based}; the document is at version ${offer.current.version} now.`
        : "You have unsaved changes from before.";
}

function showCompare(offer) {
    const show = (values) => `${values.title ?? ""}\n\n${values.body ?? ""}`;
    $("compare-current-title").textContent = `Current version (${offer.current.version})`;
    $("compare-draft-title").textContent = `Your draft (based on version ${offer.draft.version})`;
    $("compare-current").textContent = show(offer.current.values);
    $("compare-draft").textContent = show(offer.draft.values);
    $("compare").hidden = false;
    $("use-draft").focus();
}

// ---- the lock and the form ----

const lock = new LockClient({
    url: "/ws/lock/",
    uid: form.dataset.uid,
    ttl: Number(form.dataset.ttl),
    lockOn: form.dataset.lockOn,
    idleTimeout: Number(form.dataset.idleTimeout),
    idleAfter: Number(form.dataset.presenceIdle),
    warnBefore: Number(form.dataset.warnBefore),
    activityTarget: document,
    reconnectMax: 2000,
    onWarning(show, info) {
        $("idle-warning").hidden = !show;
        body.dataset.lockWarning = show ? "idle" : "";
        clearInterval(countdown);
        if (show && info.msLeft !== null) {
            const end = Date.now() + info.msLeft;
            const tick = () => {
                $("idle-left").textContent = `in ${Math.max(0, Math.ceil((end - Date.now()) / 1000))} s`;
            };
            tick();
            countdown = setInterval(tick, 500);
        }
    },
    onError(message) {
        saveMessage.textContent = message;
        $("ask").disabled = lock.pendingRequest;
        if (!lock.pendingRequest && body.dataset.request === "pending") {
            body.dataset.request = "";
            $("ask-status").textContent = message;
        }
    },
    onClose(code) {
        body.dataset.lockClose = String(code);  // the last close code (README, "Close codes")
    },
    onRequest() {
        renderRequests();
    },
    onDeclined(by) {
        body.dataset.request = "declined";
        $("ask-status").textContent = declinedMessage(by);
        $("ask").disabled = false;
    },
    onSaved(saved) {
        body.dataset.savedVersion = String(saved.version);
        if (lock.state !== EDITING) $("notice").textContent = `${savedMessage(saved)}.`;
    },
});
window.lockClient = lock;

const editor = new LockableForm({
    client: lock,
    form,
    fields: ["title", "body"],
    versionField: "version",
    announcer: $("lock-message"),
    title: document.title.replace(/ · lockable example$/, ""),
    draftKey: `${form.dataset.uid}:${me.user_id}`,
    async load() {
        const response = await fetch(form.dataset.api, { credentials: "same-origin" });
        if (!response.ok) throw new Error(`GET ${response.status}`);
        const record = await response.json();
        return { version: record.version, values: { title: record.title, body: record.body } };
    },
    onState: render,
    onDraft: renderDraft,
});
window.lockableForm = editor;

// ---- the buttons ----

$("continue").addEventListener("click", () => lock.continueEditing());
$("join").addEventListener("click", () => lock.join());
$("take-here").addEventListener("click", () => lock.takeOver());
$("take-over").addEventListener("click", () => lock.takeOver($("take-over-reason").value.trim()));
$("ask").addEventListener("click", () => {
    if (!lock.request($("ask-message").value.trim())) return;
    body.dataset.request = "pending";
    $("ask").disabled = true;
    $("ask-status").textContent = `Asked ${holderName(lock.status)}: waiting for an answer…`;
});
$("notify").addEventListener("click", async () => {
    await Notification.requestPermission();
    render(lock.state, lock.status);
});
$("copy").addEventListener("click", async () => {
    const area = $("copy-text");
    area.value = editor.changesText();
    $("copy-panel").hidden = false;
    area.focus();
    area.select();
    try {
        await navigator.clipboard.writeText(area.value);
        body.dataset.copy = "copied";
    } catch (error) {
        body.dataset.copy = "shown";  // selected: Ctrl+C copies it
    }
});
$("restore").addEventListener("click", () => {
    if (!editor.offer) return;
    if (editor.offer.plan === "compare") showCompare(editor.offer);
    else editor.restoreDraft();
});
$("use-draft").addEventListener("click", () => editor.restoreDraft());
$("keep-current").addEventListener("click", () => editor.discardDraft());
$("discard").addEventListener("click", () => editor.discardDraft());

// ---- saving ----

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
        editor.saved(reply.version);
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
