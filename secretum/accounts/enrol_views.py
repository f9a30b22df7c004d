"""One-time links (enrolment, factors reset, forgotten password: ``accounts.links``) and
enrolling second factors (B3)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from secretum.access.decorators import during, public, requires
from secretum.access.policy import Permission
from secretum.accounts import flow, links, passkeys, services, totp
from secretum.accounts.forms import (
    EnrolForm,
    FactorsLinkForm,
    PasswordLinkForm,
    TotpConfirmForm,
)

# --- one-time links: enrolment, factors reset, forgotten password (accounts/links.py) ---------


def _link_page(
    request: HttpRequest,
    form: Any,
    purpose: links.Purpose,
    redeem: Callable[[dict[str, Any], str, Any], HttpResponse],
) -> HttpResponse:
    """The page of a one-time link: the form, and what redeeming it leads to. The link's
    refusals (wrong password or code, invalid link, someone else signed in) are form errors."""
    if request.method == "POST" and form.is_valid():
        signed_in = request.user if request.user.is_authenticated else None
        try:
            return redeem(form.cleaned_data, flow.source(request), signed_in)
        except ValidationError as exc:
            form.add_error(None, exc)
    return render(request, "accounts/enrol.html", {"form": form, "purpose": purpose})


@public
@never_cache
@require_http_methods(["GET", "POST"])
def enrol_view(request: HttpRequest) -> HttpResponse:
    """A new account's link, /accounts/enrol/#<token>: the token stays in the fragment, which
    browsers never send to a server (H2); secretum.js moves it into the form."""

    def redeem(data: dict[str, Any], source: str, signed_in: Any) -> HttpResponse:
        user = links.redeem_enrol(data["token"], data["new_password1"], source, signed_in)
        flow.complete_login(request, user, "enrolment-link", both=False)
        return redirect("accounts:enrol_factor")

    form = EnrolForm(None, request.POST or None)
    return _link_page(request, form, links.Purpose.ENROL, redeem)


@public
@never_cache
@require_http_methods(["GET", "POST"])
def enrol_factors_view(request: HttpRequest) -> HttpResponse:
    """After a reset of the factors: the link AND the current password, then a new factor."""

    def redeem(data: dict[str, Any], source: str, signed_in: Any) -> HttpResponse:
        user = links.redeem_factors(data["token"], data["password"], source, signed_in)
        flow.complete_login(request, user, "password+link", both=False)
        return redirect("accounts:enrol_factor")

    form = FactorsLinkForm(request.POST or None)
    return _link_page(request, form, links.Purpose.FACTORS, redeem)


@public
@never_cache
@require_http_methods(["GET", "POST"])
def enrol_password_view(request: HttpRequest) -> HttpResponse:
    """A forgotten password: the link AND one of the account's second factors, then a new
    password; every other session of the account ends."""

    def redeem(data: dict[str, Any], source: str, signed_in: Any) -> HttpResponse:
        user, kind = links.redeem_password(
            data["token"], data["code"], data["new_password1"], source, signed_in
        )
        flow.complete_login(request, user, kind)
        messages.success(request, _("Password changed."))
        return redirect("home")

    form = PasswordLinkForm(None, request.POST or None)
    return _link_page(request, form, links.Purpose.PASSWORD, redeem)


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
    from secretum.lib import jsonbody

    try:
        # N2: {"credential": {…}, "name": "…"}, or a 400 that says what is expected.
        body = jsonbody.parse_object(request)
        credential = jsonbody.member(body, "credential", dict)
        name = jsonbody.member(body, "name", str, default="")
    except jsonbody.JsonBodyError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    try:
        passkeys.register(request, user, json.dumps(credential), name)
    except passkeys.PasskeyError:
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
