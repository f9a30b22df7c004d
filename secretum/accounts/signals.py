"""Authentication events go to the audit log (D1). The attempted username is not recorded on
failure: it may be a password typed in the wrong box."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver
from django.utils import timezone

from secretum.access.actor import Actor
from secretum.audit.log import record_event
from secretum.audit.models import Action, Outcome
from secretum.crypto.rows import intact


@receiver(user_logged_in)
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    actor = Actor.for_user(
        user, request.META.get("REMOTE_ADDR", ""), getattr(request, "request_id", "")
    )
    record_event(actor, Action.LOGIN, "session")


@receiver(user_logged_in)
def record_last_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """C2: the last login is sealed with the account (accounts.models). It is written on the row
    as the database holds it, locked, never on the caller's copy, which may be stale (a manager's
    change since it was read would otherwise be sealed over with the old values). A row that no
    longer matches its seal is left as found: a new seal would make the altered values valid."""
    with transaction.atomic():
        fresh = type(user).objects.select_for_update().get(pk=user.pk)
        if not intact(fresh):
            return
        fresh.last_login = timezone.now()
        fresh.save(update_fields=["last_login"])
    user.last_login, user.row_seal = fresh.last_login, fresh.row_seal


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
