"""Login and identity links through the practice's OpenID Connect provider (B1, B3); the
protocol itself is in ``accounts.oidc``."""

from __future__ import annotations

import time
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.decorators import public, requires
from secretum.access.policy import Permission
from secretum.accounts import external, flow, oidc, services
from secretum.accounts.forms import (
    LoginForm,
)
from secretum.accounts.web import (
    LOGIN_FAILED,
    NO_FACTOR,
    after_login,
    next_url,
    posted_int,
    sudo,
)

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
        return redirect(next_url(request))
    try:
        url = oidc.begin(
            request.session, _oidc_redirect_uri(request), "login", next_url(request), None
        )
    except oidc.OIDCError as exc:
        external.oidc_failed(exc.reason, flow.source(request), getattr(request, "request_id", ""))
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
        external.oidc_failed(exc.reason, source, request_id, signed_in)
        if signed_in is not None:
            messages.error(request, _("The identity provider did not confirm your identity."))
            return redirect("accounts:factors")
        return _oidc_login_failed(request)
    if transaction["purpose"] == "link":
        # Shown to its owner before it is linked: an identity that is not theirs (a session
        # planted at the provider) is seen and refused there.
        request.session[oidc.LINK_PENDING] = {
            "issuer": identity.issuer,
            "digest": external.external_subject_digest(identity.issuer, identity.subject).hex(),
            "name": identity.display_name,
            "at": int(time.time()),
        }
        return redirect("accounts:oidc_link_confirm")
    user = external.external_login(
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
    # Checked by next_url when the login began, on this host: the transaction lives in the
    # server-side session, whose __Host- cookie this host alone receives.
    target = transaction["next"]
    if identity.strong:
        # A strong second factor at the provider (B3); with no factor here yet, the enrol gate.
        after_login(request, user)
        flow.complete_login(request, user, "oidc")
        return redirect(target)
    if not services.has_factor(user):
        # The provider stands for the password only: never a login by itself (B3).
        return _oidc_login_failed(request, NO_FACTOR)
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
        external.oidc_failed(exc.reason, flow.source(request), "", request.user)
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
            external.link_external_identity(
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
        external.unlink_external_identity(
            request.user, posted_int(request, "identity"), flow.source(request)
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The link to the identity provider is removed."))
    return redirect("accounts:factors")
