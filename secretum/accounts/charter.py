"""The IT charter and security notice (A1, A2, D1, D3): versioned, accepted by each user before
any access and again after each new version."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.accounts.models import Charter, CharterAcceptance
from secretum.accounts.services import account_event, actor_of


def current_charter() -> Charter | None:
    return Charter.objects.order_by("-version").first()


def charter_pending(user: Any) -> Charter | None:
    """The current charter if this user has not accepted it yet."""
    charter = current_charter()
    if charter is None:
        return None
    if CharterAcceptance.objects.filter(user=user, charter=charter).exists():
        return None
    return charter


def accept_charter(user: Any, version: int, source: str = "") -> None:
    charter = current_charter()
    if charter is None or charter.version != version:
        raise ValidationError(_("A newer version of the charter was published: read it again."))
    with transaction.atomic():
        _acceptance, created = CharterAcceptance.objects.get_or_create(
            user=user, charter=charter, defaults={"source": source[:64]}
        )
        if created:
            account_event(
                actor_of(user, source),
                "create",
                "accounts.CharterAcceptance",
                ref=charter.version,
                detail={"version": charter.version},
            )


def publish_charter(actor: Actor, *, text_fr: str, text_nl: str, text_en: str) -> Charter:
    with guarded(actor, Permission.SETTINGS_MANAGE, "create", "accounts.Charter") as event:
        latest = current_charter()
        charter = Charter.objects.create(
            version=(latest.version + 1) if latest else 1,
            text_fr=text_fr,
            text_nl=text_nl,
            text_en=text_en,
            published_by=actor.user if actor.user is not None and actor.user.pk else None,
        )
        event.resource_ref = str(charter.version)
    return charter
