"""One-time links (B1, B3): how a person gets into their account without anyone else getting in.

The practice manager never sees or sets a password; they hand over a link. A link is a bearer
secret that the manager (and anyone the link leaks to) holds too, so a link alone never signs
anyone into an account that already belongs to someone (``EnrolmentToken.Purpose``):

============  ======================================  ==========================================
purpose       when                                    what its bearer must add
============  ======================================  ==========================================
``enrol``     a new account, never used               a new password, then a first factor
``factors``   the owner's second factors were reset   the CURRENT password, then a new factor
``password``  the owner forgot the password           one of the account's second factors
============  ======================================  ==========================================

An account whose owner lost both the password and every factor is not handed over at all: the
manager disables it and creates a new one (the old one keeps its history). So the manager can never
end up signed in as an existing user; a link opened in a browser signed in as someone else is
refused, the link withdrawn, and the attempt audited as "denied" (an alert for the auditor).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.accounts import services
from secretum.accounts.models import EnrolmentToken
from secretum.audit.log import record_event
from secretum.audit.models import Outcome
from secretum.crypto import keyring

Purpose = EnrolmentToken.Purpose
LINK_HOURS = 72
OTHER_USER = "link-opened-by-another-user"


def _now() -> dt.datetime:
    return timezone.now()


def fits(user: Any, purpose: Purpose) -> bool:
    """This kind of link may be given to (and used on) this account as it is now."""
    if services.has_factor(user):
        return purpose == Purpose.PASSWORD
    if user.has_usable_password():
        return purpose == Purpose.FACTORS
    return purpose == Purpose.ENROL and user.last_login is None


def purpose_for(user: Any) -> Purpose | None:
    """The link an account that has no second factor may be given, or None (an enrolled account
    gets only a password link: ``issue(..., Purpose.PASSWORD)``)."""
    return next((p for p in (Purpose.FACTORS, Purpose.ENROL) if fits(user, p)), None)


def _refusal(user: Any, purpose: Purpose) -> str:
    if purpose == Purpose.PASSWORD:
        return _("%(user)s has no second factor to prove: give them an enrolment link instead.") % {
            "user": user
        }
    if services.has_factor(user):
        return _(
            "%(user)s is already enrolled: a link alone never opens an account in use. If they "
            "lost their second factor, reset their factors; if they forgot their password, give "
            "them a password link."
        ) % {"user": user}
    return _(
        "%(user)s has neither a password nor a second factor to prove: disable this account "
        "and create a new one for them."
    ) % {"user": user}


def issue(actor: Actor, user_id: int, purpose: Purpose | None = None) -> tuple[Purpose, str]:
    """A new single-use link for this account (the token is returned once and stored only as a
    keyed digest); any earlier unused link of the account stops working. Without ``purpose``,
    the one that fits the account (``purpose_for``)."""
    user = services.managed_user(actor, user_id, "update")
    chosen = purpose or purpose_for(user)
    if chosen is None or not fits(user, chosen):
        wanted = purpose or Purpose.ENROL
        record_event(
            actor,
            "update",
            "accounts.EnrolmentToken",
            outcome=Outcome.DENIED,
            resource_ref=str(user.pk),
            detail={"change": "link-refused", "purpose": str(wanted)},
        )
        raise ValidationError(_refusal(user, wanted))
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        EnrolmentToken.objects.filter(user=user, used_at__isnull=True).update(used_at=_now())
        EnrolmentToken.objects.create(
            user=user,
            purpose=chosen,
            token_hash=keyring.secret_digest("enrol", token),
            created_by=actor.user if actor.user is not None and actor.user.pk else None,
            expires_at=_now() + dt.timedelta(hours=LINK_HOURS),
        )
        record_event(
            actor,
            "update",
            "accounts.EnrolmentToken",
            resource_ref=str(user.pk),
            detail={"change": "link-issued", "purpose": str(chosen)},
        )
    return chosen, token


class _Refused(Exception):
    """A refused link: what to write once the transaction that found it has rolled back."""

    def __init__(self, error: ValidationError, after: Callable[[], None]) -> None:
        super().__init__(error)
        self.error, self.after = error, after


@contextmanager
def _refusals_survive() -> Iterator[None]:
    """A transaction whose refusals are recorded after its rollback, never rolled back with it
    (D1): the audit event, and the withdrawal of a link opened by someone else."""
    try:
        with transaction.atomic():
            yield
    except _Refused as refused:
        refused.after()
        raise refused.error from None


def _invalid(source: str, reason: str = "invalid-or-expired-link") -> _Refused:
    def after() -> None:
        record_event(
            Actor(user=None, role=None, source=source),
            "login-failed",
            "enrolment",
            outcome=Outcome.FAILURE,
            detail={"reason": reason},
        )

    return _Refused(
        ValidationError(
            _(
                "This link is invalid, already used or expired. "
                "Ask your practice manager for a new one."
            )
        ),
        after,
    )


def _opened_by_other(found: EnrolmentToken, signed_in: Any, source: str) -> _Refused:
    def after() -> None:
        EnrolmentToken.objects.filter(pk=found.pk).update(used_at=_now())
        record_event(
            services.actor_of(signed_in, source),
            "login-failed",
            "enrolment",
            outcome=Outcome.DENIED,
            resource_ref=str(found.user_id),
            on_behalf_of=found.user.username,
            detail={"reason": OTHER_USER, "purpose": str(found.purpose)},
        )

    return _Refused(
        ValidationError(
            _(
                "You are signed in as someone else: this link belongs to another person and "
                "is now withdrawn. The attempt is recorded."
            )
        ),
        after,
    )


def _take(token: str, purpose: Purpose, source: str, signed_in: Any) -> EnrolmentToken:
    """The link's row, locked, if it is valid for this purpose; else a refusal."""
    digest = keyring.secret_digest("enrol", token.strip())
    found = (
        EnrolmentToken.objects.select_for_update()
        .select_related("user")
        .filter(token_hash=digest)
        .first()
    )
    if found is None or found.used_at is not None or found.expires_at < _now():
        raise _invalid(source)
    if signed_in is not None and signed_in.pk != found.user_id:
        # Someone signed in (the manager who issued the link, say) opens another person's link:
        # never a way into that account. The link is withdrawn; the attempt is a denial.
        raise _opened_by_other(found, signed_in, source)
    if not found.user.is_active or found.purpose != purpose:
        raise _invalid(source)
    if not fits(found.user, purpose):
        raise _invalid(source, "account-state-changed")
    return found


def _used(found: EnrolmentToken) -> None:
    found.used_at = _now()
    found.save(update_fields=["used_at"])


def redeem_enrol(token: str, new_password: str, source: str = "", signed_in: Any = None) -> Any:
    """A new account: the link sets its first password. The session that follows may only
    enrol a second factor (the ENROL gate)."""
    with _refusals_survive():
        found = _take(token, Purpose.ENROL, source, signed_in)
        password_validation.validate_password(new_password, found.user)
        _used(found)
        services.set_password(found.user, new_password, "enrolled-password", source)
        return found.user


def redeem_factors(token: str, password: str, source: str = "", signed_in: Any = None) -> Any:
    """Factors were reset: the link AND the account's current password (checked, throttled and
    counted like a login's). The session that follows may only enrol a second factor."""
    with _refusals_survive():
        found = _take(token, Purpose.FACTORS, source, signed_in)
        user = found.user
    check = services.check_password_step(user.username, password, source)
    if check.user is None or check.user.pk != user.pk:
        if check.wait_seconds:
            raise ValidationError(
                _("Too many attempts: wait %(n)d seconds, then try again.")
                % {"n": check.wait_seconds}
            )
        raise ValidationError(_("This is not the password of this account."))
    with _refusals_survive():
        found = _take(token, Purpose.FACTORS, source, signed_in)
        _used(found)
        record_event(
            services.actor_of(user, source),
            "update",
            "accounts.EnrolmentToken",
            resource_ref=str(user.pk),
            detail={"change": "link-redeemed", "purpose": str(Purpose.FACTORS)},
        )
    return user


def redeem_password(
    token: str, code: str, new_password: str, source: str = "", signed_in: Any = None
) -> tuple[Any, str]:
    """Password forgotten: the link AND one of the account's second factors (a code from the
    authenticator app or a recovery code, throttled and counted like a login's), then the new
    password. Every other session of the account ends. Returns the user and the factor used."""
    with _refusals_survive():
        found = _take(token, Purpose.PASSWORD, source, signed_in)
        user = found.user
    password_validation.validate_password(new_password, user)  # before a code is spent
    wait = services.second_factor_wait(user, source)
    if wait:
        raise ValidationError(
            _("Too many attempts: wait %(n)d seconds, then try again.") % {"n": wait}
        )
    kind = services.verify_code_factor(user, code, source)
    if kind is None:
        raise ValidationError(_("This code is not valid (or was already used)."))
    with _refusals_survive():
        found = _take(token, Purpose.PASSWORD, source, signed_in)
        _used(found)
        services.set_password(user, new_password, "password-reset-by-link", source)
        services.end_all_sessions(user, reason="password-changed")
    return user, kind
