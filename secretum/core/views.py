from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from secretum.access.actor import Actor
from secretum.access.decorators import public, requires
from secretum.access.policy import Permission
from secretum.accounts import services as accounts
from secretum.compliance import reminders


@requires(Permission.SESSION_OWN)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context: dict[str, object] = {}
    actor = Actor.from_request(request)
    if actor.may(Permission.USERS_MANAGE):
        # Managers are told of accounts locked after repeated failed logins.
        context["locked_accounts"] = accounts.locked_accounts()
    if actor.may(Permission.COMPLIANCE_MANAGE):
        # Failing evidence, declarations past their review date, open breaches (D3).
        context["compliance_reminders"] = reminders.reminders(actor)
    return render(request, "core/home.html", context)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(
        request,
        "core/error.html",
        {"status": 403, "message": _("The form expired or came from elsewhere. Reload the page.")},
        status=403,
    )


@public
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """For a load balancer or monitoring (G4): the database writable, the key file readable, the
    audit signer that `serve` supervises alive (D2), disk space, a recent good backup
    (``core.health``): 200, or 503 when one of them is not. JSON, words only, no login."""
    from secretum.core import health

    found = health.report()
    return JsonResponse(found, status=200 if found["status"] == "ok" else 503)


@public
@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on their own; answer it rather than with a 404 page."""
    from django.shortcuts import redirect
    from django.templatetags.static import static

    return redirect(static("favicon.svg"), permanent=True)
