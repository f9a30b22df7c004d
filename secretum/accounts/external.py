"""Identities at the practice's OpenID Connect provider, linked by their owners (B1, B3): one
identity, one account; the subject kept only as a keyed digest; no account ever created from one."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.accounts.models import ExternalIdentity
from secretum.accounts.services import account_event, actor_of
from secretum.audit.models import Outcome
from secretum.crypto import keyring


def _now() -> Any:
    return timezone.now()


def external_subject_digest(issuer: str, subject: str) -> bytes:
    """The provider's subject may be a national number (eID): only this keyed digest is kept."""
    return keyring.secret_digest("oidc-subject", f"{issuer}\x00{subject}")


def external_identities(user: Any) -> list[ExternalIdentity]:
    return list(ExternalIdentity.objects.filter(user=user).order_by("created_at"))


def oidc_failed(reason: str, source: str = "", request_id: str = "", user: Any = None) -> None:
    """A refused provider login or link. ``reason`` is a fixed word: never a code or token."""
    actor = (
        actor_of(user, source, request_id)
        if user is not None and getattr(user, "is_authenticated", False)
        else Actor(user=None, role=None, source=source, request_id=request_id)
    )
    account_event(
        actor,
        "login-failed",
        outcome=Outcome.FAILURE,
        detail={"factor": "oidc", "reason": reason},
    )


def external_login(
    issuer: str,
    subject: str,
    *,
    strong: bool,
    acr: str = "",
    amr: tuple[str, ...] = (),
    source: str = "",
    request_id: str = "",
) -> Any:
    """The account linked to a verified provider identity, if it may log in; else None, audited
    with the same failure whatever the reason (no account is created: no auto-provisioning)."""
    found = (
        ExternalIdentity.objects.select_related("user")
        .filter(issuer=issuer, subject_digest=external_subject_digest(issuer, subject))
        .first()
    )
    user = found.user if found is not None else None
    locked = user is not None and user.locked_until is not None and user.locked_until > _now()
    if found is None or user is None or not user.is_active or locked:
        reason = "unknown-identity" if user is None else ("locked" if locked else "disabled")
        oidc_failed(reason, source, request_id, user if user is not None else None)
        return None
    with transaction.atomic():
        ExternalIdentity.objects.filter(pk=found.pk).update(last_used_at=_now())
        account_event(
            actor_of(user, source, request_id),
            "authenticate",
            detail={
                "factor": "oidc",
                "strong": strong,
                "acr": acr[:100],
                "amr": [m[:20] for m in amr[:8]],
            },
        )
    return user


def link_external_identity(
    user: Any, issuer: str, subject_digest: bytes, source: str = ""
) -> ExternalIdentity:
    """Its owner links a provider identity to their own account, after sudo (B1: one identity,
    one account; one identity per provider and account)."""
    actor = actor_of(user, source)
    taken = ExternalIdentity.objects.filter(issuer=issuer, subject_digest=subject_digest)
    if taken.exists() or ExternalIdentity.objects.filter(user=user, issuer=issuer).exists():
        account_event(
            actor,
            "create",
            "accounts.ExternalIdentity",
            outcome=Outcome.FAILURE,
            ref=user.pk,
            detail={"reason": "already-linked"},
        )
        if taken.filter(user=user).exists():
            raise ValidationError(_("This identity is already linked to your account."))
        if taken.exists():
            raise ValidationError(_("This identity is already linked to another account."))
        raise ValidationError(
            _("Your account is already linked to an identity at this provider: remove it first.")
        )
    try:
        with transaction.atomic():
            link = ExternalIdentity.objects.create(
                user=user, issuer=issuer, subject_digest=subject_digest
            )
            account_event(actor, "create", "accounts.ExternalIdentity", ref=link.pk)
    except IntegrityError:  # the same identity linked at the same moment elsewhere
        raise ValidationError(_("This identity is already linked to another account.")) from None
    return link


def unlink_external_identity(user: Any, link_id: int, source: str = "") -> None:
    with transaction.atomic():
        deleted, _rows = ExternalIdentity.objects.filter(pk=link_id, user=user).delete()
        if not deleted:
            raise ValidationError(_("No such linked identity."))
        account_event(actor_of(user, source), "delete", "accounts.ExternalIdentity", ref=link_id)
