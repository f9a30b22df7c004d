// Secretum's only script: served from 'self' (strict CSP, no inline script).
//  - E1: the idle lock. The server tells the page how long until it locks the session
//    (data-lock-in); at that moment the page empties itself and goes to the unlock page, so no
//    patient data stays on a screen left open. Activity is reported to the server (ping). A
//    minute before, a warning offers to stay signed in; what was typed is kept (issue 16).
//  - E6: the privacy screen. One key or one click hides the page at once; the same shows it
//    again, as it was (privacyScreen).
//  - Enrolment: the one-time token travels in the URL fragment, never sent to a server (H2).
//  - WebAuthn: security keys and passkeys (B3).
//  - Problem codes: ICD-10 suggestions as the code is typed (issue 15).
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// A keepalive request (one that outlives the page) carries at most 64 KiB.
const KEEPALIVE_MAX = 60000;

// POST JSON with the CSRF header; ``keepalive``: the request goes on if the page leaves (a draft
// sent as the page locks), when the body is small enough for that.
function postJSON(url, body, { keepalive = false } = {}) {
  const payload = body === undefined ? "{}" : JSON.stringify(body);
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/json",
               "Accept": "application/json" },
    body: payload,
    keepalive: keepalive && payload.length < KEEPALIVE_MAX,
  }).then(async (response) => {
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || String(response.status));
    return data;
  });
}

// E1, WCAG 2.2.1: a minute before the lock (half the idle time when that is under 2 minutes) a
// warning says so; "Stay signed in" reports activity (the ping), which postpones the lock by the
// practice's idle time, never past the session's absolute lifetime (the server decides).
const WARN_BEFORE = 60000;
// Issue 16: what was typed when the lock comes is sent to the server (sealed in the session,
// never in the browser's storage), and refilled after the unlock. The page waits for the answer
// at most this long before it leaves.
const DRAFT_WAIT = 3000;
const NOT_KEPT = ["password", "file", "hidden", "submit", "button", "reset", "image"];

// The fields of a form worth keeping, as [name, value] pairs (no password, file, hidden token).
function formFields(form) {
  const fields = [];
  Array.from(form.elements).forEach((el) => {
    if (!el.name || el.disabled || NOT_KEPT.includes(el.type)) return;
    if ((el.type === "checkbox" || el.type === "radio") && !el.checked) return;
    if (el.type === "select-multiple") {
      Array.from(el.selectedOptions).forEach((option) => fields.push([el.name, option.value]));
    } else if ("value" in el) fields.push([el.name, el.value]);
  });
  return fields;
}

function formAction(form) {
  try { return new URL(form.action, window.location.href).pathname; } catch (err) { return ""; }
}

function idleLock() {
  const body = document.body;
  const lockIn = parseInt(body.dataset.lockIn || "", 10);
  if (Number.isNaN(lockIn)) return;
  const PING_EVERY = 30000;
  // The server counts whole seconds: one more second makes sure it has locked too.
  const MARGIN = 1000;
  const timeout = parseInt(body.dataset.idleTimeout || "", 10) * 1000;
  const warnBefore = timeout < 2 * WARN_BEFORE ? timeout / 2 : WARN_BEFORE;
  const warning = document.querySelector("[data-idle-warning]");
  const countdown = warning && warning.querySelector("[data-idle-countdown]");
  const stay = warning && warning.querySelector("[data-idle-stay]");
  let deadline = Date.now() + lockIn * 1000 + MARGIN;
  let lastPing = Date.now();
  let pinging = false;
  let locked = false;
  let focusBefore = null;
  // The form last typed in (or refilled after an unlock): its fields are kept if the lock comes.
  let typedIn = refilledForm;

  document.addEventListener("input", (event) => {
    const form = event.target && event.target.form;
    if (form && !NOT_KEPT.includes(event.target.type)) typedIn = form;
  });
  // Sent: what it held is the server's now (saved, or refused with an answer).
  document.addEventListener("submit", (event) => { if (event.target === typedIn) typedIn = null; });

  function keepDraft() {
    if (!typedIn || !body.dataset.draftUrl || !typedIn.isConnected) return Promise.resolve();
    const fields = formFields(typedIn);
    if (!fields.length) return Promise.resolve();
    const draft = {
      url: window.location.pathname,
      action: formAction(typedIn),
      form: Array.from(document.forms).indexOf(typedIn),
      fields,
    };
    const sent = postJSON(body.dataset.draftUrl, draft, { keepalive: true }).catch(() => undefined);
    const waited = new Promise((resolve) => window.setTimeout(resolve, DRAFT_WAIT));
    return Promise.race([sent, waited]);
  }

  function lock() {
    if (locked) return;
    locked = true;
    hideWarning(false);
    // Read what was typed first; then hide everything at once, remove it from the page, and go
    // to the unlock page once the server has the draft (so the two requests never race).
    const kept = keepDraft();
    document.documentElement.classList.add("locked");
    document.querySelectorAll("main, header nav, .who").forEach((el) => el.replaceChildren());
    document.title = "Secretum";
    const next = encodeURIComponent(window.location.pathname);
    kept.finally(() => window.location.replace(body.dataset.unlockUrl + "?next=" + next));
  }

  function warningShown() {
    return warning && !warning.hidden;
  }

  function showWarning(left) {
    // E6: behind the privacy screen nothing shows, nor does anyone there stay signed in.
    if (!warning || document.documentElement.classList.contains("privacy")) return;
    countdown.textContent = Math.floor(left / 60000) + ":" +
      String(Math.ceil(left / 1000) % 60).padStart(2, "0");
    if (warningShown()) return;
    focusBefore = document.activeElement;
    warning.hidden = false;
    stay.focus();
  }

  function hideWarning(restoreFocus) {
    if (!warningShown()) return;
    warning.hidden = true;
    if (restoreFocus && focusBefore && focusBefore.isConnected && focusBefore !== document.body) {
      focusBefore.focus({ preventScroll: true });
    }
  }

  function tick() {
    const left = deadline - Date.now();
    if (left <= 0) { lock(); return; }
    if (left <= warnBefore + MARGIN) showWarning(Math.max(0, left - MARGIN));
    else hideWarning(true);
    window.setTimeout(tick, Math.min(left, 1000));
  }

  function ping() {
    pinging = true;
    return postJSON(body.dataset.pingUrl)
      .then((data) => { deadline = Date.now() + data.lock_in * 1000 + MARGIN; lastPing = Date.now(); })
      .catch(() => lock()) // the server no longer serves this session
      .finally(() => { pinging = false; });
  }

  function activity() {
    // E6: nobody works behind the privacy screen; its idle time still counts, so that the lock
    // comes at its time and wins over the screen.
    if (document.documentElement.classList.contains("privacy")) return;
    if (locked || pinging || Date.now() - lastPing < PING_EVERY || Date.now() >= deadline) return;
    ping();
  }

  if (stay) {
    // An explicit request (POST, CSRF): activity for the server, whatever the page saw.
    stay.addEventListener("click", () => {
      if (locked || Date.now() >= deadline) return;
      ping().then(() => {
        if (!locked && deadline - Date.now() > warnBefore + MARGIN) hideWarning(true);
      });
    });
  }
  ["keydown", "pointerdown", "pointermove", "wheel", "touchstart", "scroll"].forEach((type) =>
    document.addEventListener(type, activity, { passive: true }));
  document.addEventListener("visibilitychange", () => { if (Date.now() >= deadline) lock(); });
  window.addEventListener("pageshow", () => { if (Date.now() >= deadline) lock(); });
  tick();
}

// Issue 16: after the unlock, the page whose typing was kept refills its form, once (the server
// gave the draft to this page and forgot it). The form is the one posted to the same path (its
// index among them when several), else the first that has every field.
let refilledForm = null;

function keptDraft() {
  const holder = document.querySelector("[data-kept-draft]");
  if (!holder) return;
  let draft;
  try { draft = JSON.parse(holder.dataset.keptDraft); } catch (err) { return; }
  holder.removeAttribute("data-kept-draft");
  const forms = Array.from(document.forms);
  const names = draft.fields.map((pair) => pair[0]);
  const fits = (form) => names.every((name) => form.elements.namedItem(name));
  const same = forms.filter((form) => formAction(form) === draft.action && fits(form));
  const form = (draft.form !== null && same.includes(forms[draft.form]) ? forms[draft.form] : same[0]) ||
    forms.find(fits);
  if (!form) return;
  const values = new Map();
  draft.fields.forEach(([name, value]) => values.set(name, (values.get(name) || []).concat([value])));
  const used = new Map();
  Array.from(form.elements).forEach((el) => {
    if (!el.name || NOT_KEPT.includes(el.type) || !values.has(el.name)) return;
    const wanted = values.get(el.name);
    if (el.type === "checkbox" || el.type === "radio") el.checked = wanted.includes(el.value);
    else if (el.type === "select-multiple") {
      Array.from(el.options).forEach((option) => { option.selected = wanted.includes(option.value); });
    } else {
      const index = used.get(el.name) || 0;
      if (index < wanted.length) el.value = wanted[index];
      used.set(el.name, index + 1);
    }
  });
  refilledForm = form;
}

// E6: the privacy screen. Ctrl+Alt+H (or Escape twice within ESCAPE_TWICE ms) or the header's
// button hides the page at once: an opaque cover with a neutral message over the whole window,
// the page blurred beneath it and inert (no focus, no screen reader reaches it), the tab's title
// neutral. Ctrl+Alt+H or the cover's button shows it again, as it was: nothing reloaded, what was
// typed still there, the focus back where it was. Escape twice never shows it: a hurried double
// press cannot undo itself. It is no lock: showing needs no password (the idle lock, E1, is the
// lock: activity behind the screen does not postpone it, and when it fires it wins).
// Optionally also when the window loses focus: a choice of this browser on this computer
// (localStorage, set on "My account"), since who can see a screen depends on where it stands.
const PRIVACY_ON_BLUR = "secretum.privacy-screen.on-blur";
const ESCAPE_TWICE = 600;

function privacyScreen() {
  const cover = document.querySelector("[data-privacy-cover]");
  if (!cover) return;
  const status = document.querySelector("[data-privacy-status]");
  const parts = () => document.querySelectorAll("body > header, body > main, body > footer");
  let hidden = false;
  let title = "";
  let focusBefore = null;
  let lastEscape = 0;

  function announce(text) {
    if (status) status.textContent = text || "";
  }

  function hide() {
    if (hidden) return;
    hidden = true;
    focusBefore = document.activeElement;
    title = document.title;
    document.documentElement.classList.add("privacy");
    parts().forEach((el) => { el.inert = true; });
    cover.hidden = false;
    document.title = "Secretum";
    cover.querySelector("[data-privacy-toggle]").focus();
    announce(status && status.dataset.saidHidden);
  }

  function show() {
    if (!hidden) return;
    hidden = false;
    cover.hidden = true;
    parts().forEach((el) => { el.inert = false; });
    document.documentElement.classList.remove("privacy");
    document.title = title;
    const back = focusBefore && focusBefore.isConnected && focusBefore !== document.body
      ? focusBefore : document.querySelector("header [data-privacy-toggle]");
    if (back) back.focus({ preventScroll: true });
    announce(status && status.dataset.saidShown);
  }

  document.querySelectorAll("[data-privacy-toggle]").forEach((button) =>
    button.addEventListener("click", () => (hidden ? show() : hide())));
  // Captured on the window: no handler of the page can keep the key from hiding it.
  window.addEventListener("keydown", (event) => {
    const key = (event.key || "").toLowerCase();
    if (event.ctrlKey && event.altKey && !event.shiftKey && !event.metaKey &&
        !event.getModifierState("AltGraph") && (event.code === "KeyH" || key === "h")) {
      event.preventDefault();
      if (hidden) show(); else hide();
    } else if (event.key === "Escape" && !event.repeat && !hidden) {
      const now = Date.now();
      if (now - lastEscape <= ESCAPE_TWICE) { lastEscape = 0; hide(); } else lastEscape = now;
    }
  }, true);
  window.addEventListener("blur", () => {
    if (!privacyOnBlur()) return;
    // A file chooser or a security key's prompt takes the focus without leaving the screen.
    const active = document.activeElement;
    if (active && (active.type === "file" || active.hasAttribute("data-webauthn"))) return;
    hide();
  });
}

function privacyOnBlur() {
  try { return window.localStorage.getItem(PRIVACY_ON_BLUR) === "1"; } catch (err) { return false; }
}

// "My account": this browser's choice of hiding the screen when the window loses focus.
function privacySettings() {
  const section = document.querySelector("[data-privacy-settings]");
  if (!section) return;
  const box = section.querySelector("[data-privacy-on-blur]");
  const saved = section.querySelector("[data-privacy-saved]");
  box.checked = privacyOnBlur();
  box.addEventListener("change", () => {
    try {
      if (box.checked) window.localStorage.setItem(PRIVACY_ON_BLUR, "1");
      else window.localStorage.removeItem(PRIVACY_ON_BLUR);
      saved.textContent = saved.dataset.saved;
    } catch (err) {
      saved.textContent = saved.dataset.failed;
      box.checked = privacyOnBlur();
    }
  });
  section.hidden = false;
}

function enrolToken() {
  const form = document.querySelector("[data-enrol-form]");
  if (!form) return;
  const token = window.location.hash.replace(/^#/, "");
  const field = form.querySelector('input[name="token"]');
  if (token && field && !field.value) {
    field.value = decodeURIComponent(token);
    history.replaceState(null, "", window.location.pathname);
  }
}

function webauthnButtons() {
  if (!window.PublicKeyCredential) return;
  document.querySelectorAll("[data-webauthn]").forEach((button) => {
    const section = button.closest("section") || document;
    const error = section.querySelector("[data-webauthn-error]");
    const show = (message) => {
      if (error) { error.textContent = message; error.hidden = false; }
      announce("alert", message); // the visible one appears with its text: not reliably read
    };
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const mode = button.dataset.webauthn;
        const options = await postJSON(button.dataset.optionsUrl);
        let payload;
        if (mode === "register") {
          const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options);
          const credential = await navigator.credentials.create({ publicKey });
          const name = document.querySelector("[data-webauthn-name]");
          payload = { credential: credential.toJSON(), name: name ? name.value : "" };
        } else {
          const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options);
          const credential = await navigator.credentials.get({ publicKey });
          payload = credential.toJSON();
          if (mode === "reauth") {
            const password = document.querySelector('[data-reauth-form] input[name="password"]');
            payload = { password: password ? password.value : "", credential: payload };
          }
        }
        const result = await postJSON(button.dataset.verifyUrl, payload);
        window.location.assign(result.next);
      } catch (err) {
        show(err && err.message ? err.message : String(err));
        button.disabled = false;
      }
    });
  });
}

// WCAG 3.3.1, 2.4.2: after a refused submit, the focus goes to the form's error summary (its
// links lead to each field) and the tab's title starts with "Error:" (the server writes it when
// the page's form is called `form`; this adds it for the others). Focused before the page's
// autofocus runs, which then leaves the focus where it is.
function errorSummary() {
  const summary = document.querySelector("[data-error-summary]");
  if (!summary) return;
  const prefix = summary.dataset.errorSummary || "";
  if (prefix && !document.title.startsWith(prefix)) document.title = prefix + " " + document.title;
  summary.focus();
}

// WCAG 4.1.3 (issue 16): a role=alert or role=status element that is in the page when it loads,
// or that appears with its text, is not reliably read: screen readers announce the changes of a
// live region they already know. base.html has two, empty at load (data-live="alert", for errors
// and warnings, and "status"); a page's messages carry data-announce="alert" or "status" and no
// role, and their text goes into the live region once the page has settled (ANNOUNCE_AFTER; the
// error summary, when there is one, has the focus by then).
const ANNOUNCE_AFTER = 400;

function announce(kind, text) {
  const region = document.querySelector(`[data-live="${kind}"]`);
  if (!region || !text) return;
  region.textContent = "";
  window.setTimeout(() => { region.textContent = text; }, 50);
}

function announceAtLoad() {
  const said = { alert: [], status: [] };
  document.querySelectorAll("[data-announce]").forEach((el) => {
    const kind = el.dataset.announce === "status" ? "status" : "alert";
    const text = (el.textContent || "").replace(/\s+/g, " ").trim();
    if (text && !said[kind].includes(text)) said[kind].push(text); // a list's repeated warning, once
  });
  window.setTimeout(() => {
    Object.entries(said).forEach(([kind, texts]) => { if (texts.length) announce(kind, texts.join(" ")); });
  }, ANNOUNCE_AFTER);
}

// ICD-10 suggestions for a problem's code field: the server's own list (no patient data goes
// out), offered through the field's datalist while the code system chosen is ICD-10.
function codeSuggestions() {
  const field = document.querySelector("input[data-suggest-url]");
  if (!field) return;
  const list = document.getElementById(field.getAttribute("list"));
  const system = field.form.querySelector('select[name="system"]');
  let timer = null;
  let asked = "";
  field.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const query = field.value.trim();
      if (query === asked || (system && system.value !== "icd-10")) return;
      asked = query;
      const url = field.dataset.suggestUrl + "?q=" + encodeURIComponent(query);
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then((answer) => (answer.ok ? answer.json() : { codes: [] }))
        .then((data) => {
          if (asked !== query) return; // a later question is on its way
          list.replaceChildren(...data.codes.map((item) => {
            const option = document.createElement("option");
            option.value = item.code;
            option.label = item.code + " " + item.title;
            return option;
          }));
        })
        .catch(() => list.replaceChildren());
    }, 200);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  errorSummary();
  keptDraft();
  announceAtLoad();
  idleLock();
  privacyScreen();
  privacySettings();
  enrolToken();
  webauthnButtons();
  codeSuggestions();
});
