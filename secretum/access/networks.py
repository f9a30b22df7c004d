"""Only the practice's networks and its VPN reach Secretum (F1, F4), checked on every request.

``ClientNetworkMiddleware`` stands early in ``settings.MIDDLEWARE``: after the request id and
the security headers, before the static files, the session, the language, CSRF and the user.
A request from an address outside ``SECRETUM_ALLOWED_NETWORKS`` and ``SECRETUM_REMOTE_NETWORKS``
gets a 403 page in the browser's language and nothing else: no session is read or written, no
login form shown, no view runs. So a login from elsewhere is impossible, and so is any later
request of a session opened inside (a laptop taken home without the VPN).

The address is the one ``secretum serve``'s front saw (``REMOTE_ADDR``, passed to the workers in
a PROXY protocol line), or, when it is a proxy of ``SECRETUM_TRUSTED_PROXIES``, the client that
proxy names in ``X-Forwarded-For`` (``lib.networks.NetworkPolicy.client_address``); the request
then carries that address as ``REMOTE_ADDR`` for everything after (login throttles, the audit
log). Without a trusted proxy the header is never read.

Each refusal is an audit event (outcome "denied", reason "network", D1), at most one a minute
per client address in each worker, the refusals in between counted in the next one
(``lib.networks.RefusalThrottle``): a flood of refused requests cannot flood the log.

``/healthz`` stays reachable from this machine (loopback) for monitoring, whatever the policy:
it answers "ok" and nothing else.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import translation

from secretum.access.actor import Actor, Purpose
from secretum.audit.log import record_event
from secretum.audit.models import Outcome
from secretum.lib.http1 import client_key
from secretum.lib.networks import NetworkPolicy, RefusalThrottle, is_loopback, parse_networks

log = logging.getLogger(__name__)

# secretum/urls.py's monitoring endpoint (tests/access/test_networks.py holds them together).
HEALTH_PATH = "/healthz"
REASON = "network"
MIDDLEWARE = "secretum.access.networks.ClientNetworkMiddleware"

REFUSALS = RefusalThrottle()

SETTINGS = {
    "allowed": "SECRETUM_ALLOWED_NETWORKS",
    "remote": "SECRETUM_REMOTE_NETWORKS",
    "proxies": "SECRETUM_TRUSTED_PROXIES",
}


def policy() -> NetworkPolicy:
    """The policy the settings describe; ValueError names a setting that holds no network."""
    return _policy(*(tuple(getattr(settings, name, ())) for name in SETTINGS.values()))


@functools.lru_cache(maxsize=8)
def _policy(
    allowed: tuple[str, ...], remote: tuple[str, ...], proxies: tuple[str, ...]
) -> NetworkPolicy:
    return NetworkPolicy(
        parse_networks(allowed, SETTINGS["allowed"]),
        parse_networks(remote, SETTINGS["remote"]),
        parse_networks(proxies, SETTINGS["proxies"]),
    )


class ClientNetworkMiddleware:
    """F1, F4: refuse a request from outside the allowed networks. ``record=False`` decides and
    answers without writing the audit event (the register's live check, which never writes)."""

    def __init__(
        self, get_response: Callable[[HttpRequest], HttpResponse], record: bool = True
    ) -> None:
        self.get_response = get_response
        self.record = record

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            rules = policy()
        except ValueError as exc:  # `serve` and `check` refuse it first (secretum.core.checks)
            raise ImproperlyConfigured(str(exc)) from None
        peer = request.META.get("REMOTE_ADDR", "")
        client = rules.client_address(peer, request.META.get("HTTP_X_FORWARDED_FOR", ""))
        if client is not None:
            request.META["REMOTE_ADDR"] = client
        zone = rules.zone(client) if client is not None else None
        if zone is None:
            if request.path_info == HEALTH_PATH and is_loopback(client or ""):
                return self.get_response(request)
            return self._refuse(request, client or peer)
        return self.get_response(request)

    def _refuse(self, request: HttpRequest, client: str) -> HttpResponse:
        if self.record:
            noted = REFUSALS.note(client_key(client), time.monotonic())
            if noted is not None:
                _record(request, client, *noted)
        language = translation.get_language_from_request(request)
        with translation.override(language):
            body = render_to_string(
                "access/network_refused.html", {"address": client, "LANG": language}
            )
        response = HttpResponse(body, status=403)
        response["Content-Language"] = language
        return response


def _record(request: HttpRequest, client: str, counted_as: str, unrecorded: int) -> None:
    """The refusal's audit event (D1). Never raises: the refusal matters more than its record."""
    detail: dict[str, str | int] = {
        "reason": REASON,
        "method": (request.method or "")[:10],
        "unrecorded_before": unrecorded,
    }
    if counted_as == RefusalThrottle.OTHER:
        detail["counted_as"] = RefusalThrottle.OTHER
    try:
        record_event(
            Actor(
                user=None,
                role=None,
                source=client,
                request_id=getattr(request, "request_id", ""),
                purpose=Purpose.ADMINISTRATION,
            ),
            "read" if request.method in ("GET", "HEAD") else "update",
            REASON,
            outcome=Outcome.DENIED,
            detail=detail,
        )
    except Exception:
        log.exception("the refusal of a request from outside the allowed networks went unrecorded")
