"""Deny by default (G1): a view that declares no permission is never served."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden

from secretum.access.decorators import PUBLIC, declared_permission
from secretum.access.policy import allows

log = logging.getLogger(__name__)

LAST_SEEN = "secretum_last_seen"


class DenyByDefaultMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        permission = declared_permission(view)
        if permission is None:
            log.error("view %s declares no permission; refused", getattr(view, "__name__", view))
            return HttpResponseForbidden("This page declares no permission and is not served.")
        if permission == PUBLIC:
            return None
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if _idle_expired(request):
            # E1: an idle session serves nothing more; the user logs in again.
            logout(request)
            return redirect_to_login(request.get_full_path())
        if not allows(getattr(user, "role", None), permission):  # type: ignore[arg-type]
            return HttpResponseForbidden("Your role does not give access to this page.")
        return None


def _idle_expired(request: HttpRequest) -> bool:
    now = int(time.time())
    last = request.session.get(LAST_SEEN)
    if last is not None and now - int(last) > settings.SECRETUM_IDLE_TIMEOUT:
        return True
    # Write the session at most once a minute: activity is tracked without a write per request.
    if last is None or now - int(last) >= 60:
        request.session[LAST_SEEN] = now
    return False
