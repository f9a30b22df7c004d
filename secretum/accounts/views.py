"""Login, second factors, the gates (password, charter), idle lock (E1), sudo mode, one's own
account and sessions.

Every decision is taken in accounts.services / accounts.flow; these views only move the user
between the states flow.py describes.
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.decorators import during, public, requires
from secretum.access.policy import Permission
from secretum.accounts import charter as charters
from secretum.accounts import drafts, external, flow, oidc, passkeys, services, throttle
from secretum.accounts.forms import (
    ChangePasswordForm,
    CodeForm,
    LoginForm,
    NameForm,
    ReauthForm,
)
from secretum.accounts.web import (
    ALL_GATES,
    LOGIN_FAILED,
    NO_FACTOR,
    after_login,
    next_url,
    now_locked,
    posted_int,
    sudo,
)

# --- login -------------------------------------------------------------------------------


@public
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(next_url(request))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        check = services.check_password_step(
            form.cleaned_data["username"],
            form.cleaned_data["password"],
            flow.source(request),
            getattr(request, "request_id", ""),
            known_accounts=throttle.device_accounts(request),
        )
        if check.user is not None:
            if not services.has_factor(check.user):
                # No second factor (a new account, or factors reset): the password alone never
                # signs in (B3). The owner's link, with this password, enrols a factor.
                form.add_error(None, NO_FACTOR)
            else:
                flow.begin_pending(request, check.user)
                return redirect(f"{reverse('accounts:verify')}?next={next_url(request)}")
        elif check.wait_seconds:
            status = 429
            form.add_error(
                None,
                _("Too many attempts: wait %(n)d seconds, then try again.")
                % {"n": check.wait_seconds},
            )
        else:
            form.add_error(None, LOGIN_FAILED)
    return render(
        request,
        "accounts/login.html",
        {"form": form, "next": next_url(request), "oidc_label": oidc.label()},
        status=status,
    )


@public
@never_cache
@require_http_methods(["GET", "POST"])
def verify_view(request: HttpRequest) -> HttpResponse:
    user = flow.pending_user(request)
    if user is None:
        return redirect("accounts:login")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        known = flow.known_device(request, user)
        wait = services.second_factor_wait(user, flow.source(request), known_device=known)
        kind = None
        if not wait:
            kind = services.verify_code_factor(
                user,
                form.cleaned_data["code"],
                flow.source(request),
                getattr(request, "request_id", ""),
                known_device=known,
            )
        if kind is not None:
            after_login(request, user)
            flow.complete_login(request, user, kind)
            if kind == "recovery-code":
                messages.warning(
                    request,
                    _("You used a recovery code: %(n)d left.")
                    % {"n": services.remaining_recovery_codes(user)},
                )
            return redirect(next_url(request))
        if flow.pending_user(request) is None:
            # Locked (here or in another pending login): start again, told like any failed login.
            messages.error(request, LOGIN_FAILED)
            return redirect("accounts:login")
        if wait:
            status = 429
            form.add_error(
                "code", _("Too many attempts: wait %(n)d seconds, then try again.") % {"n": wait}
            )
        else:
            form.add_error("code", _("This code is not valid (or was already used)."))
    has_key = any(f.kind == "webauthn" for f in services.list_factors(user))
    return render(
        request,
        "accounts/verify.html",
        {"form": form, "has_key": has_key, "next": next_url(request)},
        status=status,
    )


@public
@never_cache
@require_POST
def verify_webauthn_options(request: HttpRequest) -> HttpResponse:
    user = flow.pending_user(request)
    if user is None:
        return JsonResponse({"error": _("Your login expired: start again.")}, status=401)
    return HttpResponse(
        passkeys.authentication_options(request, user), content_type="application/json"
    )


@public
@never_cache
@require_POST
def verify_webauthn(request: HttpRequest) -> HttpResponse:
    user = flow.pending_user(request)
    if user is None:
        return JsonResponse({"error": _("Your login expired: start again.")}, status=401)
    known = flow.known_device(request, user)
    wait = services.second_factor_wait(user, flow.source(request), known_device=known)
    if wait:
        return JsonResponse(
            {"error": _("Too many attempts: wait %(n)d seconds, then try again.") % {"n": wait}},
            status=429,
        )
    from secretum.lib import jsonbody

    try:
        # N2: a JSON object in UTF-8, or a 400 that says so (refused and counted like a bad key).
        passkeys.authenticate(request, user, json.dumps(jsonbody.parse_object(request)))
    except (jsonbody.JsonBodyError, passkeys.PasskeyError) as exc:
        services.second_factor_failed(user, "webauthn", flow.source(request), known_device=known)
        refused = _("This security key was not accepted.")
        return JsonResponse(
            {"error": str(exc) if isinstance(exc, jsonbody.JsonBodyError) else refused},
            status=400,
        )
    after_login(request, user)
    flow.complete_login(request, user, "webauthn")
    return JsonResponse({"next": next_url(request)})


@requires(Permission.SESSION_OWN)
@during(*ALL_GATES)
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    flow.end(request, "logout")
    return redirect("accounts:login")


# --- gates: password and charter ----------------------------------------------------------


@requires(Permission.SESSION_OWN)
@during(flow.Gate.PASSWORD)
@require_http_methods(["GET", "POST"])
def password_view(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = ChangePasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        # The current password is checked like a login's: throttled, counted towards the
        # lock-out, audited (B2). A stolen session cannot guess it without end.
        check = services.check_password_step(
            user.username,
            form.cleaned_data["old_password"],
            flow.source(request),
            getattr(request, "request_id", ""),
            known_accounts=throttle.device_accounts(request),
            factor="current-password",
        )
        if check.user is None:
            if now_locked(user) or not user.is_active:
                flow.end(request, "locked-out")
                messages.error(request, LOGIN_FAILED)
                return redirect("accounts:login")
            form.add_error(
                "old_password",
                _("Too many attempts: wait %(n)d seconds, then try again.")
                % {"n": check.wait_seconds}
                if check.wait_seconds
                else _("Your current password is not this one."),
            )
        else:
            services.change_password(
                user,
                form.cleaned_data["new_password1"],
                flow.source(request),
                keep=request.session.get(flow.RECORD),
            )
            update_session_auth_hash(request, user)
            flow.reauthenticated(request, "password")  # a new session id after a password change
            request.session.pop("sx_gates_ok", None)
            messages.success(request, _("Password changed."))
            return redirect("home")
    return render(
        request,
        "accounts/password.html",
        {"form": form, "forced": user.must_change_password},
    )


@requires(Permission.SESSION_OWN)
@during(flow.Gate.CHARTER)
@require_http_methods(["GET", "POST"])
def charter_view(request: HttpRequest) -> HttpResponse:
    charter = charters.current_charter()
    if charter is None:
        return redirect("home")
    if request.method == "POST":
        try:
            charters.accept_charter(
                request.user, int(request.POST.get("version", "0")), flow.source(request)
            )
        except (ValidationError, ValueError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            request.session.pop("sx_gates_ok", None)
            return redirect("home")
    language = (get_language() or "fr")[:2]
    text = {"fr": charter.text_fr, "nl": charter.text_nl}.get(language, charter.text_en)
    pending = charters.charter_pending(request.user) is not None
    return render(
        request, "accounts/charter.html", {"charter": charter, "text": text, "pending": pending}
    )


# --- idle lock (E1) and sudo mode -----------------------------------------------------------


def _reauth(request: HttpRequest, template: str) -> HttpResponse:
    """The password and a second factor again: unlock (E1) or confirm (sudo)."""
    user: Any = request.user
    form = ReauthForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        known = throttle.device_accounts(request)
        check = services.check_password_step(
            user.username, form.cleaned_data["password"], flow.source(request), known_accounts=known
        )
        kind = None
        if check.user is not None:
            kind = services.verify_code_factor(
                user, form.cleaned_data["code"], flow.source(request), known_device=user.pk in known
            )
        if kind is not None:
            flow.reauthenticated(request, kind)
            # E1, issue 16: back to the page whose typing was kept, to refill it.
            return redirect(drafts.return_url(request) or next_url(request))
        if now_locked(user) or not user.is_active:
            flow.end(request, "locked-out")
            return redirect("accounts:login")
        if check.user is None:
            form.add_error(
                "password",
                _("Too many attempts: wait %(n)d seconds.") % {"n": check.wait_seconds}
                if check.wait_seconds
                else _("Wrong password."),
            )
        else:
            form.add_error("code", _("This code is not valid (or was already used)."))
    has_key = any(f.kind == "webauthn" for f in services.list_factors(user))
    return render(request, template, {"form": form, "has_key": has_key, "next": next_url(request)})


@requires(Permission.SESSION_OWN)
@during(flow.Gate.UNLOCK)
@never_cache
@require_http_methods(["GET", "POST"])
def unlock_view(request: HttpRequest) -> HttpResponse:
    if not request.session.get(flow.LOCKED):
        return redirect(next_url(request))
    return _reauth(request, "accounts/unlock.html")


@requires(Permission.SESSION_OWN)
@during(flow.Gate.ENROL)
@never_cache
@require_http_methods(["GET", "POST"])
def confirm_view(request: HttpRequest) -> HttpResponse:
    return _reauth(request, "accounts/confirm.html")


@requires(Permission.SESSION_OWN)
@during(flow.Gate.UNLOCK, flow.Gate.ENROL)
@require_POST
def reauth_webauthn_options(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        passkeys.authentication_options(request, request.user), content_type="application/json"
    )


@requires(Permission.SESSION_OWN)
@during(flow.Gate.UNLOCK, flow.Gate.ENROL)
@require_POST
def reauth_webauthn(request: HttpRequest) -> HttpResponse:
    """Unlock or confirm with the password and a security key (posted together)."""
    from secretum.lib import jsonbody

    user = request.user
    try:
        # N2: {"password": "…", "credential": {…}}, or a 400 that says what is expected.
        body = jsonbody.parse_object(request)
        password = jsonbody.member(body, "password", str)
        credential = json.dumps(jsonbody.member(body, "credential", dict))
    except jsonbody.JsonBodyError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    check = services.check_password_step(user.username, password, flow.source(request))
    if check.user is None:
        return JsonResponse({"error": _("Wrong password.")}, status=400)
    try:
        passkeys.authenticate(request, user, credential)
    except passkeys.PasskeyError:
        services.second_factor_failed(user, "webauthn", flow.source(request))
        return JsonResponse({"error": _("This security key was not accepted.")}, status=400)
    flow.reauthenticated(request, "webauthn")
    return JsonResponse({"next": drafts.return_url(request) or next_url(request)})


@requires(Permission.SESSION_OWN)
@during(flow.Gate.ENROL, flow.Gate.PASSWORD, flow.Gate.CHARTER)  # never while locked
@require_POST
def ping_view(request: HttpRequest) -> HttpResponse:
    """The page reports activity (keys, pointer, "Stay signed in" in the idle warning) so the
    idle lock counts from it (E1). A locked session is refused before (the middleware); the new
    deadline is the practice's idle time from now, and never past the absolute lifetime."""
    request.session[flow.LAST_SEEN] = int(time.time())
    return JsonResponse({"lock_in": flow.lock_in(request.session)})


@requires(Permission.SESSION_OWN)
@during(flow.Gate.UNLOCK)  # the page sends it as it locks: the session may be locked already
@require_POST
def draft_view(request: HttpRequest) -> HttpResponse:
    """E1, issue 16: the form typed in when the idle lock came, kept sealed in the session
    (``accounts.drafts``) and given back after the unlock. JSON, with the CSRF header:
    ``{"url": page, "action": form's path, "form": its index, "fields": [[name, value], …]}``.
    It extends nothing: a locked session stays locked, and takes a draft only just after its
    lock (``drafts.may_keep``)."""
    from secretum.lib import jsonbody

    if len(request.body) > drafts.MAX_BYTES + 4096:
        return JsonResponse({"error": "the draft is too large to keep"}, status=413)
    try:
        body = jsonbody.parse_object(request)
        if not drafts.may_keep(request):
            return JsonResponse({"error": "this locked session takes no draft now"}, status=409)
        drafts.keep(
            request,
            body.get("url"),
            body.get("action"),
            body.get("form"),
            body.get("fields"),
        )
    except drafts.DraftRefused as exc:
        status = 413 if isinstance(exc, drafts.DraftTooLarge) else 400
        return JsonResponse({"error": str(exc)}, status=status)
    except jsonbody.JsonBodyError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"kept": True})


# --- the user's own account -----------------------------------------------------------------


@requires(Permission.SESSION_OWN)
@require_GET
def account_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/account.html",
        {
            "factors": services.list_factors(request.user),
            "remaining": services.remaining_recovery_codes(request.user),
            "sessions": services.active_sessions(request.user),
            "current_record": request.session.get(flow.RECORD),
            "oidc_label": oidc.label(),
            "external_identities": external.external_identities(request.user),
        },
    )


@requires(Permission.SESSION_OWN)
@require_POST
@sudo
def factor_remove_view(request: HttpRequest) -> HttpResponse:
    factor_id = posted_int(request, "factor")
    try:
        services.remove_factor(request.user, factor_id, flow.source(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Second factor removed."))
    return redirect("accounts:factors")


@requires(Permission.SESSION_OWN)
@require_POST
def factor_rename_view(request: HttpRequest) -> HttpResponse:
    factor_id = posted_int(request, "factor")
    form = NameForm(request.POST)
    if form.is_valid():
        try:
            services.rename_factor(
                request.user, factor_id, form.cleaned_data["name"], flow.source(request)
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return redirect("accounts:factors")


@requires(Permission.SESSION_OWN)
@require_POST
def session_end_view(request: HttpRequest) -> HttpResponse:
    session_id = posted_int(request, "session")
    try:
        services.end_session(request.user, session_id, flow.source(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Session ended."))
    return redirect("accounts:factors")
