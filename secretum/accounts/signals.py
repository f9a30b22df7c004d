"""Authentication events go to the audit log (D1). The attempted username is not recorded on
failure: it may be a password typed in the wrong box."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from secretum.access.actor import Actor
from secretum.audit.log import record_event
from secretum.audit.models import Action, Outcome


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    actor = Actor.for_user(
        user, request.META.get("REMOTE_ADDR", ""), getattr(request, "request_id", "")
    )
    record_event(actor, Action.LOGIN, "session")


@receiver(user_logged_out)
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:
        return
    actor = Actor.for_user(
        user, request.META.get("REMOTE_ADDR", ""), getattr(request, "request_id", "")
    )
    record_event(actor, Action.LOGOUT, "session")


@receiver(user_login_failed)
def _login_failed(sender: Any, credentials: Any, request: Any = None, **kwargs: Any) -> None:
    source = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    actor = Actor(
        user=None, role=None, source=source, request_id=getattr(request, "request_id", "")
    )
    record_event(
        actor,
        Action.LOGIN_FAILED,
        "session",
        outcome=Outcome.FAILURE,
        detail={"factor": "password"},
    )
