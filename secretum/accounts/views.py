"""Login, second factors, enrolment, idle lock, sudo mode, sessions, user management.

Every decision is taken in accounts.services / accounts.flow; these views only move the user
between the states flow.py describes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext_lazy
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.actor import Actor
from secretum.access.decorators import during, public, requires
from secretum.access.policy import Permission, Role
from secretum.accounts import flow, oidc, passkeys, services, totp
from secretum.accounts.forms import (
    ChangePasswordForm,
    CharterForm,
    CodeForm,
    EnrolForm,
    LoginForm,
    NameForm,
    NewUserForm,
    PracticeSettingsForm,
    ReauthForm,
    TotpConfirmForm,
)

ALL_GATES = tuple(flow.Gate)
LOGIN_FAILED = gettext_lazy("Login failed: check your user name and password.")


def _next(request: HttpRequest, default: str = "home") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=True
    ):
        return target
    return reverse(default)


def _actor(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


def _posted_int(request: HttpRequest, name: str) -> int:
    # Identifiers travel in the POST body, never in a URL (H2).
    try:
        return int(request.POST.get(name, ""))
    except ValueError:
        return 0


def sudo(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sensitive actions need the password and a second factor within the last 5 minutes."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not flow.recent_reauth(request):
            back = (
                request.get_full_path()
                if request.method == "GET"
                else urlsplit(request.META.get("HTTP_REFERER", "")).path or reverse("home")
            )
            messages.info(
                request,
                _("Confirm it is you: this action needs your password and second factor again."),
            )
            return redirect(f"{reverse('accounts:confirm')}?next={back}")
        return view(request, *args, **kwargs)

    return wrapper


# --- login -------------------------------------------------------------------------------


@public
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_next(request))
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        check = services.check_password_step(
            form.cleaned_data["username"],
            form.cleaned_data["password"],
            flow.source(request),
            getattr(request, "request_id", ""),
        )
        if check.user is not None:
            if not services.has_factor(check.user):
                # No factor yet (new account, or factors reset): the enrol gate follows.
                flow.complete_login(request, check.user, "password")
                return redirect(_next(request))
            flow.begin_pending(request, check.user)
            return redirect(f"{reverse('accounts:verify')}?next={_next(request)}")
        if check.wait_seconds:
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
        {"form": form, "next": _next(request), "oidc_label": oidc.label()},
        status=status,
    )


def _now_locked(user: Any) -> bool:
    user.refresh_from_db(fields=["locked_until"])
    return bool(user.locked_until and user.locked_until > timezone.now())


def _after_login(request: HttpRequest, user: Any) -> None:
    if user.last_lockout_at and (user.last_login is None or user.last_lockout_at > user.last_login):
        messages.warning(
            request,
            _(
                "Your account was locked after repeated failed logins on "
                "%(when)s. If it was not you, tell your practice manager."
            )
            % {"when": user.last_lockout_at.strftime("%d/%m/%Y %H:%M")},
        )


@public
@never_cache
@require_http_methods(["GET", "POST"])
def verify_view(request: HttpRequest) -> HttpResponse:
    user = flow.pending_user(request)
    if user is None:
        return redirect("accounts:login")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        kind = services.verify_code_factor(
            user,
            form.cleaned_data["code"],
            flow.source(request),
            getattr(request, "request_id", ""),
        )
        if kind is not None:
            _after_login(request, user)
            flow.complete_login(request, user, kind)
            if kind == "recovery-code":
                messages.warning(
                    request,
                    _("You used a recovery code: %(n)d left.")
                    % {"n": services.remaining_recovery_codes(user)},
                )
            return redirect(_next(request))
        if _now_locked(user):
            # Locked after repeated failures: start again, told like any failed login.
            request.session.pop(flow.PENDING, None)
            messages.error(request, LOGIN_FAILED)
            return redirect("accounts:login")
        form.add_error("code", _("This code is not valid (or was already used)."))
    has_key = any(f.kind == "webauthn" for f in services.list_factors(user))
    return render(
        request, "accounts/verify.html", {"form": form, "has_key": has_key, "next": _next(request)}
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
    try:
        passkeys.authenticate(request, user, request.body.decode())
    except passkeys.PasskeyError:
        services.second_factor_failed(user, "webauthn", flow.source(request))
        return JsonResponse({"error": _("This security key was not accepted.")}, status=400)
    _after_login(request, user)
    flow.complete_login(request, user, "webauthn")
    return JsonResponse({"next": _next(request)})


@requires(Permission.SESSION_OWN)
@during(*ALL_GATES)
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    flow.end(request, "logout")
    return redirect("accounts:login")


# --- the practice's OpenID Connect provider (B1, B3; protocol in accounts/oidc.py) ------------


def _oidc_redirect_uri(request: HttpRequest) -> str:
    return request.build_absolute_uri(reverse("accounts:oidc_callback"))


def _oidc_login_failed(request: HttpRequest, message: Any = LOGIN_FAILED) -> HttpResponse:
    """The login page with the same answer as a wrong password (nothing about accounts)."""
    form = LoginForm()
    form.full_clean()  # an unbound form, given an error of its own: nothing was typed
    form.cleaned_data = {}
    form.add_error(None, message)
    return render(
        request,
        "accounts/login.html",
        {"form": form, "next": reverse("home"), "oidc_label": oidc.label()},
    )


@public
@never_cache
@require_GET
def oidc_start_view(request: HttpRequest) -> HttpResponse:
    """The "Log in with <provider>" button: to the provider; state, nonce, PKCE kept here."""
    if not oidc.enabled():
        raise Http404
    if request.user.is_authenticated:
        return redirect(_next(request))
    try:
        url = oidc.begin(
            request.session, _oidc_redirect_uri(request), "login", _next(request), None
        )
    except oidc.OIDCError as exc:
        services.oidc_failed(exc.reason, flow.source(request), getattr(request, "request_id", ""))
        return _oidc_login_failed(
            request, _("The identity provider cannot be reached: try again, or use your password.")
        )
    return redirect(url)


@public
@never_cache
@require_GET
def oidc_callback_view(request: HttpRequest) -> HttpResponse:
    """The provider sends the browser back here, from another site: the session cookie
    (SameSite=Strict) is not sent, and this page touches no session. It moves the code and state
    out of the URL into a same-origin POST that carries the session (static/oidc.js). The code is
    in this URL by the protocol: the access log prints paths only (H2), and no referrer leaves."""
    if not oidc.enabled():
        raise Http404
    fields = {
        name: request.GET[name][:2048]
        for name in ("code", "state", "iss", "error")
        if name in request.GET
    }
    response = render(request, "accounts/oidc_continue.html", {"fields": fields})
    response["Referrer-Policy"] = "no-referrer"
    return response


@public
@csrf_exempt  # the state, bound to this session and used once, is the defence (RFC 6749 §10.12)
@never_cache
@require_POST
def oidc_complete_view(request: HttpRequest) -> HttpResponse:
    if not oidc.enabled():
        raise Http404
    source, request_id = flow.source(request), getattr(request, "request_id", "")
    signed_in: Any = request.user if request.user.is_authenticated else None
    try:
        transaction = oidc.take_transaction(request.session, request.POST.get("state", ""))
        if request.POST.get("error"):
            raise oidc.OIDCError("provider-error")  # e.g. the person cancelled at the provider
        identity = oidc.complete(transaction, request.POST.get("code", ""), request.POST.get("iss"))
        if transaction["purpose"] == "link" and (
            signed_in is None or signed_in.pk != transaction["user"]
        ):
            raise oidc.OIDCError("link-session-changed")
    except oidc.OIDCError as exc:
        services.oidc_failed(exc.reason, source, request_id, signed_in)
        if signed_in is not None:
            messages.error(request, _("The identity provider did not confirm your identity."))
            return redirect("accounts:factors")
        return _oidc_login_failed(request)
    if transaction["purpose"] == "link":
        # Shown to its owner before it is linked: an identity that is not theirs (a session
        # planted at the provider) is seen and refused there.
        request.session[oidc.LINK_PENDING] = {
            "issuer": identity.issuer,
            "digest": services.external_subject_digest(identity.issuer, identity.subject).hex(),
            "name": identity.display_name,
            "at": int(time.time()),
        }
        return redirect("accounts:oidc_link_confirm")
    user = services.external_login(
        identity.issuer,
        identity.subject,
        strong=identity.strong,
        acr=identity.acr,
        amr=identity.amr,
        source=source,
        request_id=request_id,
    )
    if user is None:
        return _oidc_login_failed(request)
    target = transaction["next"]
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=True
    ):
        target = reverse("home")
    if identity.strong or not services.has_factor(user):
        # A strong second factor at the provider; or no factor here yet: the enrol gate follows.
        _after_login(request, user)
        flow.complete_login(request, user, "oidc")
        return redirect(target)
    flow.begin_pending(request, user)  # the provider stands for the password, not for B3
    return redirect(f"{reverse('accounts:verify')}?next={target}")


@requires(Permission.SESSION_OWN)
@require_GET
@sudo
def oidc_link_view(request: HttpRequest) -> HttpResponse:
    """Link my identity at the provider to my account: after the password and a second factor."""
    if not oidc.enabled():
        raise Http404
    try:
        url = oidc.begin(
            request.session,
            _oidc_redirect_uri(request),
            "link",
            reverse("accounts:factors"),
            request.user.pk,
        )
    except oidc.OIDCError as exc:
        services.oidc_failed(exc.reason, flow.source(request), "", request.user)
        messages.error(request, _("The identity provider cannot be reached: try again later."))
        return redirect("accounts:factors")
    return redirect(url)


@requires(Permission.SESSION_OWN)
@require_http_methods(["GET", "POST"])
@sudo
def oidc_link_confirm_view(request: HttpRequest) -> HttpResponse:
    pending = request.session.get(oidc.LINK_PENDING)
    if not pending or time.time() - pending["at"] > oidc.TRANSACTION_SECONDS:
        request.session.pop(oidc.LINK_PENDING, None)
        return redirect("accounts:factors")
    if request.method == "POST":
        request.session.pop(oidc.LINK_PENDING, None)
        if request.POST.get("decision") != "link":
            return redirect("accounts:factors")
        try:
            services.link_external_identity(
                request.user,
                pending["issuer"],
                bytes.fromhex(pending["digest"]),
                flow.source(request),
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(
                request,
                _("Linked: you may now log in with %(label)s.") % {"label": oidc.label()},
            )
        return redirect("accounts:factors")
    return render(
        request,
        "accounts/oidc_link_confirm.html",
        {"name": pending["name"], "label": oidc.label()},
    )


@requires(Permission.SESSION_OWN)
@require_POST
@sudo
def oidc_unlink_view(request: HttpRequest) -> HttpResponse:
    try:
        services.unlink_external_identity(
            request.user, _posted_int(request, "identity"), flow.source(request)
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The link to the identity provider is removed."))
    return redirect("accounts:factors")


# --- enrolment (first login) ------------------------------------------------------------------


@public
@never_cache
@require_http_methods(["GET", "POST"])
def enrol_view(request: HttpRequest) -> HttpResponse:
    """The one-time link is /accounts/enrol/#<token>: the token stays in the fragment, which
    browsers never send to a server (H2); enrol.js moves it into the form."""
    form = EnrolForm(None, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.redeem_enrolment_token(
                form.cleaned_data["token"], form.cleaned_data["new_password1"], flow.source(request)
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            flow.complete_login(request, user, "enrolment-link")
            return redirect("accounts:enrol_factor")
    return render(request, "accounts/enrol.html", {"form": form})


@requires(Permission.SESSION_OWN)
@during(flow.Gate.ENROL)
@require_http_methods(["GET", "POST"])
def enrol_factor_view(request: HttpRequest) -> HttpResponse:
    """Add a TOTP app (QR code) or a security key. First factor: also the recovery codes."""
    user: Any = request.user
    first = not services.has_factor(user)
    if not first and not flow.recent_reauth(request):
        return redirect(f"{reverse('accounts:confirm')}?next={request.path}")
    form = TotpConfirmForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.confirm_totp(
            user, form.cleaned_data["factor"], form.cleaned_data["code"], flow.source(request)
        ):
            if form.cleaned_data["name"]:
                services.rename_factor(
                    user,
                    form.cleaned_data["factor"],
                    form.cleaned_data["name"],
                    flow.source(request),
                )
            return _factor_added(request, first)
        form.add_error(
            "code",
            _(
                "This code is not the one your app shows: check the time of "
                "your phone and try the next code."
            ),
        )
        try:
            secret = services.unconfirmed_totp_secret(user, form.cleaned_data["factor"])
        except ValidationError:
            return redirect("accounts:enrol_factor")
    else:
        factor, secret = services.start_totp(user, _("Authenticator app"))
        form = TotpConfirmForm(initial={"factor": factor.pk, "name": factor.name})
    uri = totp.provisioning_uri(secret, user.username, f"Secretum · {settings.PRACTICE_NAME}")
    return render(
        request,
        "accounts/enrol_factor.html",
        {"form": form, "secret": secret, "qr": totp.qr_svg(uri), "first": first},
    )


def _factor_added(request: HttpRequest, first: bool) -> HttpResponse:
    request.session.pop("sx_gates_ok", None)
    if first:
        request.session[flow.SHOW_CODES] = services.new_recovery_codes(
            request.user, flow.source(request)
        )
        return redirect("accounts:recovery_codes")
    messages.success(request, _("Second factor added."))
    return redirect("accounts:factors")


@requires(Permission.SESSION_OWN)
@during(flow.Gate.ENROL)
@require_POST
def webauthn_register_options(request: HttpRequest) -> HttpResponse:
    if services.has_factor(request.user) and not flow.recent_reauth(request):
        return JsonResponse({"error": _("Confirm it is you first.")}, status=403)
    return HttpResponse(
        passkeys.registration_options(request, request.user), content_type="application/json"
    )


@requires(Permission.SESSION_OWN)
@during(flow.Gate.ENROL)
@require_POST
def webauthn_register(request: HttpRequest) -> HttpResponse:
    user = request.user
    first = not services.has_factor(user)
    if not first and not flow.recent_reauth(request):
        return JsonResponse({"error": _("Confirm it is you first.")}, status=403)
    try:
        body = json.loads(request.body)
        passkeys.register(request, user, json.dumps(body["credential"]), str(body.get("name", "")))
    except (ValueError, KeyError, passkeys.PasskeyError):
        return JsonResponse({"error": _("This security key could not be registered.")}, status=400)
    response = _factor_added(request, first)
    return JsonResponse({"next": response["Location"]})


@requires(Permission.SESSION_OWN)
@during(flow.Gate.ENROL, flow.Gate.PASSWORD, flow.Gate.CHARTER)
@require_http_methods(["GET", "POST"])
def recovery_codes_view(request: HttpRequest) -> HttpResponse:
    codes = request.session.pop(flow.SHOW_CODES, None)
    if request.method == "POST":
        if not flow.recent_reauth(request):
            return redirect(f"{reverse('accounts:confirm')}?next={request.path}")
        codes = services.new_recovery_codes(request.user, flow.source(request))
    return render(
        request,
        "accounts/recovery_codes.html",
        {"codes": codes, "remaining": services.remaining_recovery_codes(request.user)},
    )


# --- gates: password and charter ----------------------------------------------------------


@requires(Permission.SESSION_OWN)
@during(flow.Gate.PASSWORD)
@require_http_methods(["GET", "POST"])
def password_view(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    form = ChangePasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        services.change_password(user, form.cleaned_data["new_password1"], flow.source(request))
        flow.reauthenticated(request, "password")  # a new session id after a password change
        request.session.pop("sx_gates_ok", None)
        from django.contrib.auth import update_session_auth_hash

        update_session_auth_hash(request, user)
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
    charter = services.current_charter()
    if charter is None:
        return redirect("home")
    if request.method == "POST":
        try:
            services.accept_charter(
                request.user, int(request.POST.get("version", "0")), flow.source(request)
            )
        except (ValidationError, ValueError) as exc:
            messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        else:
            request.session.pop("sx_gates_ok", None)
            return redirect("home")
    language = (get_language() or "fr")[:2]
    text = {"fr": charter.text_fr, "nl": charter.text_nl}.get(language, charter.text_en)
    pending = services.charter_pending(request.user) is not None
    return render(
        request, "accounts/charter.html", {"charter": charter, "text": text, "pending": pending}
    )


# --- idle lock (E1) and sudo mode -----------------------------------------------------------


def _reauth(request: HttpRequest, template: str) -> HttpResponse:
    """The password and a second factor again: unlock (E1) or confirm (sudo)."""
    user: Any = request.user
    form = ReauthForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        check = services.check_password_step(
            user.username, form.cleaned_data["password"], flow.source(request)
        )
        kind = None
        if check.user is not None:
            kind = services.verify_code_factor(
                user, form.cleaned_data["code"], flow.source(request)
            )
        if kind is not None:
            flow.reauthenticated(request, kind)
            return redirect(_next(request))
        if _now_locked(user) or not user.is_active:
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
    return render(request, template, {"form": form, "has_key": has_key, "next": _next(request)})


@requires(Permission.SESSION_OWN)
@during(flow.Gate.UNLOCK)
@never_cache
@require_http_methods(["GET", "POST"])
def unlock_view(request: HttpRequest) -> HttpResponse:
    if not request.session.get(flow.LOCKED):
        return redirect(_next(request))
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
    user = request.user
    try:
        body = json.loads(request.body)
        password, credential = str(body["password"]), json.dumps(body["credential"])
    except (ValueError, KeyError):
        return JsonResponse({"error": _("Malformed request.")}, status=400)
    check = services.check_password_step(user.username, password, flow.source(request))
    if check.user is None:
        return JsonResponse({"error": _("Wrong password.")}, status=400)
    try:
        passkeys.authenticate(request, user, credential)
    except passkeys.PasskeyError:
        services.second_factor_failed(user, "webauthn", flow.source(request))
        return JsonResponse({"error": _("This security key was not accepted.")}, status=400)
    flow.reauthenticated(request, "webauthn")
    return JsonResponse({"next": _next(request)})


@requires(Permission.SESSION_OWN)
@during(flow.Gate.ENROL, flow.Gate.PASSWORD, flow.Gate.CHARTER)  # never while locked
@require_POST
def ping_view(request: HttpRequest) -> HttpResponse:
    """The page reports activity (keys, pointer) so the idle lock counts from it (E1)."""
    request.session[flow.LAST_SEEN] = int(time.time())
    return JsonResponse({"lock_in": flow.idle_timeout_seconds()})


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
            "current_key": request.session.session_key,
            "oidc_label": oidc.label(),
            "external_identities": services.external_identities(request.user),
        },
    )


@requires(Permission.SESSION_OWN)
@require_POST
@sudo
def factor_remove_view(request: HttpRequest) -> HttpResponse:
    factor_id = _posted_int(request, "factor")
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
    factor_id = _posted_int(request, "factor")
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
    session_id = _posted_int(request, "session")
    try:
        services.end_session(request.user, session_id, flow.source(request))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Session ended."))
    return redirect("accounts:factors")


# --- practice manager: users and settings -------------------------------------------------------


@requires(Permission.USERS_MANAGE)
@require_GET
def users_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/users.html",
        {
            "users": services.list_users(_actor(request)),
            "locked": services.locked_accounts(),
            "form": NewUserForm(),
            "link": request.session.pop("sx_enrol_link", None),
        },
    )


def _enrol_link(request: HttpRequest, token: str) -> str:
    return request.build_absolute_uri(reverse("accounts:enrol")) + "#" + token


@requires(Permission.USERS_MANAGE)
@require_POST
@sudo
def user_create_view(request: HttpRequest) -> HttpResponse:
    form = NewUserForm(request.POST)
    actor = _actor(request)
    if form.is_valid():
        try:
            user = services.create_user(
                actor,
                username=form.cleaned_data["username"],
                role=Role(form.cleaned_data["role"]),
                first_name=form.cleaned_data["first_name"],
                last_name=form.cleaned_data["last_name"],
                email=form.cleaned_data["email"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            token = services.issue_enrolment_link(actor, user.pk)
            request.session["sx_enrol_link"] = {
                "user": str(user),
                "url": _enrol_link(request, token),
            }
            return redirect("accounts:users")
    else:
        messages.error(
            request,
            _("Check the form: %(errors)s")
            % {
                "errors": "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items())
            },
        )
    return redirect("accounts:users")


USER_ACTIONS = {
    "disable": lambda a, uid: services.set_active(a, uid, False),
    "enable": lambda a, uid: services.set_active(a, uid, True),
    "reset-factors": services.reset_factors,
    "flag-password": services.flag_password_compromised,
    "end-sessions": services.manager_end_sessions,
}


@requires(Permission.USERS_MANAGE)
@require_POST
@sudo
def user_action_view(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    user_id, action = _posted_int(request, "user"), request.POST.get("action", "")
    try:
        if action == "enrolment-link":
            token = services.issue_enrolment_link(actor, user_id)
            request.session["sx_enrol_link"] = {
                "user": str(user_id),
                "url": _enrol_link(request, token),
            }
        elif action in USER_ACTIONS:
            USER_ACTIONS[action](actor, user_id)
            messages.success(request, _("Done."))
        else:
            messages.error(request, _("Unknown action."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("accounts:users")


@requires(Permission.SETTINGS_MANAGE)
@require_http_methods(["GET", "POST"])
def settings_view(request: HttpRequest) -> HttpResponse:
    current = services.practice_settings()
    form = PracticeSettingsForm(request.POST or None, instance=current)
    charter = services.current_charter()
    charter_form = CharterForm(
        initial={
            "text_fr": charter.text_fr if charter else "",
            "text_nl": charter.text_nl if charter else "",
            "text_en": charter.text_en if charter else "",
        }
    )
    if request.method == "POST":
        if not flow.recent_reauth(request):
            return redirect(f"{reverse('accounts:confirm')}?next={request.path}")
        if form.is_valid():
            try:
                services.update_practice_settings(_actor(request), **form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Settings saved."))
                return redirect("accounts:settings")
    return render(
        request,
        "accounts/settings.html",
        {"form": form, "charter": charter, "charter_form": charter_form},
    )


@requires(Permission.SETTINGS_MANAGE)
@require_POST
@sudo
def charter_publish_view(request: HttpRequest) -> HttpResponse:
    form = CharterForm(request.POST)
    if form.is_valid():
        charter = services.publish_charter(_actor(request), **form.cleaned_data)
        messages.success(
            request,
            _("Charter version %(v)d published: every user accepts it at next login.")
            % {"v": charter.version},
        )
    else:
        messages.error(request, _("The charter needs a text in each language."))
    return redirect("accounts:settings")
