// Secretum's only script: served from 'self' (strict CSP, no inline script).
//  - E1: the idle lock. The server tells the page how long until it locks the session
//    (data-lock-in); at that moment the page empties itself and goes to the unlock page, so no
//    patient data stays on a screen left open. Activity is reported to the server (ping).
//  - Enrolment: the one-time token travels in the URL fragment, never sent to a server (H2).
//  - WebAuthn: security keys and passkeys (B3).
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function postJSON(url, body) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "X-CSRFToken": csrfToken(), "Content-Type": "application/json",
               "Accept": "application/json" },
    body: body === undefined ? "{}" : JSON.stringify(body),
  }).then(async (response) => {
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || String(response.status));
    return data;
  });
}

function idleLock() {
  const body = document.body;
  const lockIn = parseInt(body.dataset.lockIn || "", 10);
  if (Number.isNaN(lockIn)) return;
  const PING_EVERY = 30000;
  // The server counts whole seconds: one more second makes sure it has locked too.
  const MARGIN = 1000;
  let deadline = Date.now() + lockIn * 1000 + MARGIN;
  let lastPing = Date.now();
  let pinging = false;
  let locked = false;

  function lock() {
    if (locked) return;
    locked = true;
    // Hide everything at once, then remove it from the page, then go to the unlock page.
    document.documentElement.classList.add("locked");
    document.querySelectorAll("main, header nav, .who").forEach((el) => el.replaceChildren());
    document.title = "Secretum";
    const next = encodeURIComponent(window.location.pathname);
    window.location.replace(body.dataset.unlockUrl + "?next=" + next);
  }

  function tick() {
    const left = deadline - Date.now();
    if (left <= 0) lock();
    else window.setTimeout(tick, Math.min(left, 1000));
  }

  function activity() {
    if (locked || pinging || Date.now() - lastPing < PING_EVERY || Date.now() >= deadline) return;
    pinging = true;
    postJSON(body.dataset.pingUrl)
      .then((data) => { deadline = Date.now() + data.lock_in * 1000 + MARGIN; lastPing = Date.now(); })
      .catch(() => lock()) // the server no longer serves this session
      .finally(() => { pinging = false; });
  }

  ["keydown", "pointerdown", "pointermove", "wheel", "touchstart", "scroll"].forEach((type) =>
    document.addEventListener(type, activity, { passive: true }));
  document.addEventListener("visibilitychange", () => { if (Date.now() >= deadline) lock(); });
  window.addEventListener("pageshow", () => { if (Date.now() >= deadline) lock(); });
  tick();
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
    const show = (message) => { if (error) { error.textContent = message; error.hidden = false; } };
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

document.addEventListener("DOMContentLoaded", () => {
  idleLock();
  enrolToken();
  webauthnButtons();
});
