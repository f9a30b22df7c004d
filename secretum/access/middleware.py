"""Deny by default (G1), then the session's own rules: a session still live (not ended by any
path), a role held at this very request (C2: ``Actor.from_request``, the one place a role is
decided; a session whose user holds no role now is ended), absolute lifetime, idle lock (E1),
and the gates a user must pass (second factor, password change, charter) before anything else.
Every refusal is an audit event with outcome "denied" (D1), and no transaction of the view can
roll one back (``audit.log.refusals_survive``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect

from secretum.access.actor import Actor
from secretum.access.decorators import PUBLIC, declared_gates, declared_permission
from secretum.access.guard import ReadOnlyCopy
from secretum.accounts import drafts, flow, services, sessions, throttle
from secretum.audit.log import record_event, refusals_survive
from secretum.audit.models import READ_ONLY, Outcome
from secretum.core.errors import forbidden

log = logging.getLogger(__name__)

GATES_OK = "sx_gates_ok"
# Activity is written to the session at most this often by page requests; the idle deadline the
# page is given is computed from the same stored value, so browser and server agree.
TOUCH_EVERY = 15

GATE_PAGES = {
    flow.Gate.ENROL: "accounts:enrol_factor",
    flow.Gate.PASSWORD: "accounts:password",
    flow.Gate.CHARTER: "accounts:charter",
    flow.Gate.UNLOCK: "accounts:unlock",
}


# I5: on a continuity copy, the requests with an unsafe method that still pass: signing in and
# out, the second factor, the idle lock and its unlocking, the language, the searches that are
# POSTed so that nothing identifying ends up in a URL (H2), and a patient's printed summary (a
# transfer to hospital during the outage; its print event comes back with the merge). Each of
# those still goes through the gate, which refuses any write there too (``access.guard.READS``).
READ_ONLY_PASSES = frozenset(
    {
        "accounts:login",
        "accounts:verify",
        "accounts:verify_webauthn_options",
        "accounts:verify_webauthn",
        "accounts:logout",
        "accounts:unlock",
        "accounts:ping",
        "accounts:draft",
        "set_language",
        "patients:search",
        "audit:log",
        "audit:export",
        "audit:report_search",
        "compliance:print_patient",
    }
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ReadOnlyMiddleware:
    """I5: on a continuity copy (``SECRETUM_READ_ONLY``), every request with an unsafe method is
    refused, audited as denied, unless its page is one of ``READ_ONLY_PASSES``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if not settings.SECRETUM_READ_ONLY or request.method in SAFE_METHODS:
            return None
        match = getattr(request, "resolver_match", None)
        if match is not None and match.view_name in READ_ONLY_PASSES:
            return None
        _denied(request, view, READ_ONLY)
        return forbidden(request, ReadOnlyCopy())


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


class DenyByDefaultMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with refusals_survive():
            response = self.get_response(request)
        user = getattr(request, "known_device_for", None)
        if user is not None:  # a complete login: this browser is now a known device of the account
            throttle.remember_device(request, response, user)
        return response

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        permission = declared_permission(view)
        if permission is None:
            log.error("view %s declares no permission; refused", getattr(view, "__name__", view))
            _denied(request, view, "no-permission-declared")
            return forbidden(request)
        if permission == PUBLIC:
            return None
        user = request.user
        if not user.is_authenticated:
            if _wants_json(request):
                return JsonResponse({"state": "signed-out"}, status=401)
            return redirect_to_login(request.get_full_path())
        gates = declared_gates(view)
        stopped = self._session_rules(request, gates)
        if stopped is not None:
            return stopped
        # C2: the role this request holds, decided now (Actor.from_request), never at login.
        if not Actor.from_request(request).may(permission):  # type: ignore[arg-type]  # a Permission: PUBLIC left above
            _denied(request, view, "role", permission=str(permission))
            return forbidden(request)
        # The page this view shows may give back a kept draft (drafts.take): it is served.
        request.serves_page = True  # type: ignore[attr-defined]
        return None

    def _session_rules(self, request: HttpRequest, gates: frozenset[str]) -> HttpResponse | None:
        session = request.session
        now = int(time.time())
        if not sessions.is_live(session.get(flow.RECORD), request.user):
            # Ended elsewhere (by its owner, a manager, a lock-out, a password change…) or never
            # recorded: whatever identifier it has now, it serves nothing more.
            _denied(request, None, "session-ended", resource="session")
            flow.end(request, "revoked")
            if _wants_json(request):
                return JsonResponse({"state": "signed-out"}, status=401)
            return redirect_to_login(request.get_full_path())
        if Actor.from_request(request).role is None:
            # C2: no role at this request (its end passed, its start not reached, none given):
            # the session serves nothing more, whatever it was allowed a request ago.
            _denied(request, None, "no-role", resource="session")
            flow.end(request, "no-role")
            if _wants_json(request):
                return JsonResponse({"state": "signed-out"}, status=401)
            return redirect_to_login(request.get_full_path())
        practice = services.practice_settings()  # one read per request
        auth_at = session.get(flow.AUTH_AT, now)
        if now - auth_at > flow.lifetime_seconds(practice):
            flow.end(request, "lifetime")
            return redirect_to_login(request.get_full_path())
        last = session.get(flow.LAST_SEEN, now)
        timeout = flow.idle_timeout_seconds(practice)
        if session.get(flow.LOCKED) or now - last > timeout:
            if not session.get(flow.LOCKED):
                session[flow.LOCKED] = now  # when: a draft is taken only just after (drafts)
                record_event(
                    services.actor_of(
                        request.user, flow.source(request), getattr(request, "request_id", "")
                    ),
                    "lock",
                    "session",
                    detail={"idle_seconds": now - last},
                )
            if flow.Gate.UNLOCK in gates:
                return None
            _denied(request, None, "session-locked", resource="session")
            if _wants_json(request):
                return JsonResponse({"state": "locked"}, status=401)
            if request.method == "POST" and drafts.may_keep(request, now):
                # E1, issue 16: a form posted to a locked session is not applied (that needs the
                # unlock), nor lost: its fields wait, sealed in the session, to refill the form.
                drafts.keep_post(request)
            return redirect(GATE_PAGES[flow.Gate.UNLOCK])
        if now - last >= TOUCH_EVERY:
            session[flow.LAST_SEEN] = last = now
            sessions.touch(session[flow.RECORD])  # an int: is_live found its record above
        # E1: the page hides itself then; never past the absolute lifetime either.
        request.idle_lock_in = flow.lock_in(session, practice, now)  # type: ignore[attr-defined]
        request.idle_timeout = timeout  # type: ignore[attr-defined]
        if not session.get(GATES_OK):
            gate = flow.gate_for(request)
            if gate is None:
                session[GATES_OK] = True
            elif gate not in gates:
                return redirect(GATE_PAGES[gate])
        return None


def _denied(
    request: HttpRequest, view: Any, reason: str, resource: str = "page", **detail: str
) -> None:
    """A refused request, in the audit log (D1): who, from where, which page (its URL name,
    never its path: a path may hold an identifier), and why. The "refusals" alert reads these."""
    match = getattr(request, "resolver_match", None)
    name = match.view_name if match is not None else getattr(view, "__name__", "")
    user = request.user if request.user.is_authenticated else None
    record_event(
        services.actor_of(user, flow.source(request), getattr(request, "request_id", "")),
        "read" if request.method in ("GET", "HEAD") else "update",
        resource,
        outcome=Outcome.DENIED,
        resource_ref=name[:36],
        detail={"reason": reason, "method": request.method or "", **detail},
    )
