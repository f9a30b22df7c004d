"""Request ids and the security headers every response carries."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from secretum.lib import logs

# A strict policy: no inline script or style anywhere, nothing from another origin.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


class RequestIdMiddleware:
    """The request's id (``secretum.lib.logs``): the one the workers made (``behind_front``), or
    a new one. Every line logged while the request runs carries it (``logs.REQUEST_ID``), its
    audit events too (``Actor.request_id``), and the answer names it in X-Request-Id.

    The id stays set until the request is over (``request_over``, on Django's request_finished):
    Django logs a 4xx or 5xx answer after the last middleware has returned.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = request.META.get(logs.ENVIRON_KEY) or logs.new_request_id()
        request.request_id = request_id  # type: ignore[attr-defined]
        logs.REQUEST_ID.set(request_id)
        response = self.get_response(request)
        response[logs.RESPONSE_HEADER] = request_id
        return response


def request_over(**kwargs: object) -> None:
    """Lines this thread writes after a request belong to no request (request_finished)."""
    logs.REQUEST_ID.set(None)


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        if not request.path.startswith("/static/"):
            # Pages may hold patient data: no copy in any cache, browser or proxy (E4).
            response["Cache-Control"] = "no-store"
            response["Pragma"] = "no-cache"
        return response
