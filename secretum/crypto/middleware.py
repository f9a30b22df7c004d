"""One key, one database (O2, G3, E10): each web process checks its key file before it serves
its first request (``crypto.binding``), inside Django's own request handling, so that a refusal
is logged and answered like any server error, never served around."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from secretum.crypto import binding


class KeyBindingMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        binding.verify_before_first_request(sender=None)  # one comparison once verified
        return self.get_response(request)
