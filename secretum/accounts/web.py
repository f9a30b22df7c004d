"""What every accounts page shares: where to go next, who is acting, sudo mode, the answers a
login gives. The pages themselves: ``views`` (login, gates, idle lock, one's own account),
``enrol_views`` (one-time links, enrolling factors), ``oidc_views`` (the practice's provider),
``manage_views`` (the manager's users and settings)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from secretum.access.actor import Actor
from secretum.accounts import flow

ALL_GATES = tuple(flow.Gate)
LOGIN_FAILED = gettext_lazy("Login failed: check your user name and password.")
NO_FACTOR = gettext_lazy(
    "Your account has no second factor yet: open the link your practice manager gave you "
    "(ask for a new one if it expired)."
)


def next_url(request: HttpRequest, default: str = "home") -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=True
    ):
        return target
    return reverse(default)


def actor_of(request: HttpRequest) -> Actor:
    return Actor.from_request(request)


def posted_int(request: HttpRequest, name: str) -> int:
    # Identifiers travel in the POST body, never in a URL (H2).
    try:
        return int(request.POST.get(name, ""))
    except ValueError:
        return 0


def _referer_path(request: HttpRequest) -> str:
    """Where a refused POST came from (a path of ours), or home; a malformed Referer is no
    error (N2)."""
    try:
        path = urlsplit(request.META.get("HTTP_REFERER", "")).path
    except ValueError:
        path = ""
    return path if path.startswith("/") and not path.startswith("//") else reverse("home")


def sudo(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sensitive actions need the password and a second factor within the last 5 minutes."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not flow.recent_reauth(request):
            back = request.get_full_path() if request.method == "GET" else _referer_path(request)
            messages.info(
                request,
                _("Confirm it is you: this action needs your password and second factor again."),
            )
            return redirect(f"{reverse('accounts:confirm')}?next={back}")
        return view(request, *args, **kwargs)

    return wrapper


def now_locked(user: Any) -> bool:
    user.refresh_from_db(fields=["locked_until"])
    return bool(user.locked_until and user.locked_until > timezone.now())


def after_login(request: HttpRequest, user: Any) -> None:
    if user.last_lockout_at and (user.last_login is None or user.last_lockout_at > user.last_login):
        messages.warning(
            request,
            _(
                "Your account was locked after repeated failed logins on "
                "%(when)s. If it was not you, tell your practice manager."
            )
            % {"when": user.last_lockout_at.strftime("%d/%m/%Y %H:%M")},
        )
