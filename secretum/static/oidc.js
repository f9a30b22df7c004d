// Back from the identity provider (templates/accounts/oidc_continue.html): the code and state
// leave the address bar and the history, and go on in a POST from this origin, which carries
// the session cookie (SameSite=Strict) that the provider's redirect could not.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-oidc-continue]");
  if (!form) return;
  history.replaceState(null, "", location.pathname);
  form.submit();
});
