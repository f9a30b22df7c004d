"""Accounts and authentication: every rule of B1, B2, B3, E1, A1, A2 decided here, audited.

Views call these functions; they never change an account, a factor or a session themselves.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor, role_of
from secretum.access.guard import EventDraft, guarded, require
from secretum.access.policy import Permission, Role
from secretum.accounts import integrity, sessions, throttle, totp
from secretum.accounts.models import (
    EnrolmentToken,
    ExternalIdentity,
    Factor,
    PasswordHistory,
    PracticeSettings,
    RecoveryCode,
    UserSession,
)
from secretum.audit.log import record_event
from secretum.audit.models import Outcome
from secretum.crypto import keyring
from secretum.crypto.rows import intact
from secretum.lib.rawrows import Select

RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
SUDO_SECONDS = 5 * 60
PENDING_SECONDS = 5 * 60


def _now() -> dt.datetime:
    return timezone.now()


def account_event(  # an account's owner, or someone proving to be them: no permission to check
    actor: Actor,
    action: str,
    resource: str = "session",
    *,
    outcome: str = Outcome.SUCCESS,
    ref: Any = "",
    detail: dict[str, Any] | None = None,
) -> None:
    record_event(
        actor, action, resource, outcome=outcome, resource_ref=str(ref or ""), detail=detail
    )


def actor_of(user: Any, source: str = "", request_id: str = "") -> Actor:
    return Actor.for_user(user, source, request_id)  # the role held now (C2)


def _gate(actor: Actor, permission: Permission, action: str, ref: Any = "") -> None:
    """The one gate's decision (access.guard.require) for the manager's account pages: a
    refusal is its "denied" event on the account."""
    require(actor, permission, EventDraft(action, "accounts.User", resource_ref=str(ref or "")))


@contextmanager
def managing(
    actor: Actor, user_id: int, change: str, resource: str = "accounts.User", action: str = "update"
) -> Iterator[tuple[Any, EventDraft]]:
    """A manager's change to someone's account, through the one gate (G1): the permission, the
    account read once and its seal checked once (one altered outside Secretum refused as it is),
    and the audit event the gate writes when the change is done, in its transaction (or the
    failure, when it fails; nothing when the block finds nothing to change, ``unchanged``)."""
    try:
        with guarded(
            actor, Permission.USERS_MANAGE, action, resource, resource_ref=user_id,
            detail={"change": change},
        ) as draft:  # fmt: skip
            yield _account(user_id), draft
    except integrity.AlteredAccount as altered:
        # Reported once the block's transaction is rolled back: the auditor's record stays.
        integrity.report(altered.user, actor.source)
        raise


# --- practice settings ------------------------------------------------------------------------


_SETTINGS = Select(PracticeSettings, "WHERE id = 1")  # every request reads it (issue 17)


def practice_settings() -> PracticeSettings:
    """The practice's settings (at a new practice's first request, saved with the defaults); if
    their row was altered outside Secretum, the defaults (idle lock 15 minutes, 10-hour lifetime,
    archive after 5 years), reported to the auditor."""
    found = _SETTINGS.first() or PracticeSettings.objects.get_or_create(pk=1)[0]
    if not integrity.checked(found):
        return PracticeSettings(pk=1)
    return found


def update_practice_settings(actor: Actor, **values: int | None) -> PracticeSettings:
    """Change the settings given (a field of ``PracticeSettingsForm``; None: left as is): the
    model's bounds decide (E1: idle lock ≤ 20 min; C2: 30–365 days; J1: 2–30
    years; J2: 30–50 years)."""
    with guarded(actor, Permission.SETTINGS_MANAGE, "update", "accounts.PracticeSettings") as draft:
        current = practice_settings()
        for name, value in values.items():
            if name not in current.SEALED_FIELDS:
                raise ValidationError(f"Unknown practice setting: {name}")
            if value is not None:
                setattr(current, name, value)
        current.full_clean()
        current.save()
        draft.detail.update({name: getattr(current, name) for name in current.SEALED_FIELDS})
    return current


# --- users ---------------------------------------------------------------------------------


def create_user(
    actor: Actor,
    *,
    username: str,
    role: Role,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    role_starts_at: dt.datetime | None = None,
    role_ends_at: dt.datetime | None = None,
) -> Any:
    """A personal account (B1) whose role applies from ``role_starts_at`` (now) until
    ``role_ends_at`` (C2). Without a password, the person enrols through a link."""
    User = get_user_model()
    with guarded(actor, Permission.USERS_MANAGE, "create", "accounts.User") as draft:
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError(_("This user name is already taken."))
        user = User(username=username, first_name=first_name, last_name=last_name, email=email)
        dates = user.give_role(role, role_starts_at, role_ends_at)
        if password is not None:
            password_validation.validate_password(password, user)
            user.set_password(password)
            user.password_changed_at = _now()
        else:
            user.set_unusable_password()
        user.save()
        draft.resource_ref = str(user.pk)
        draft.detail.update(role=str(role), **{f: v[1] for f, v in dates.items() if f != "role"})
    return user


def list_users(actor: Actor) -> list[Any]:
    _gate(actor, Permission.USERS_MANAGE, "read")
    return list(get_user_model().objects.order_by("last_name", "username"))


def managed_user(actor: Actor, user_id: int, action: str) -> Any:
    """The account a manager acts on; one altered outside Secretum is refused as it is."""
    _gate(actor, Permission.USERS_MANAGE, action, user_id)
    try:
        return _account(user_id)
    except integrity.AlteredAccount as altered:
        integrity.report(altered.user, actor.source)
        raise


def _account(user_id: int) -> Any:
    """The account, its seal checked (``integrity.AlteredAccount``: the caller reports it)."""
    try:
        user = get_user_model().objects.get(pk=user_id)
    except get_user_model().DoesNotExist:
        raise ValidationError(_("No such user.")) from None
    if not intact(user):
        raise integrity.AlteredAccount(user)
    return user


def set_active(actor: Actor, user_id: int, active: bool) -> None:
    with managing(actor, user_id, "enabled" if active else "disabled") as (user, _draft):
        if user == actor.user and not active:
            raise ValidationError(_("You cannot disable your own account."))
        user.save(update_fields=user.switch_active(active, "manager"))  # C2: when, and why
        if not active:
            end_all_sessions(user, reason="disabled")


def reset_factors(actor: Actor, user_id: int) -> Any:
    """The user's factors and recovery codes are removed and every session ends. The owner gets
    back in only through a new link AND their current password (``links``, purpose "factors"):
    never through the password alone, never through the link alone (B3)."""
    with managing(actor, user_id, "reset", "accounts.Factor") as (user, _draft):
        Factor.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        # A linked provider identity can stand for a second factor: it goes with the others.
        ExternalIdentity.objects.filter(user=user).delete()
        EnrolmentToken.objects.filter(user=user, used_at__isnull=True).update(used_at=_now())
        user.must_enrol_factor = True
        user.save(update_fields=["must_enrol_factor"])
        end_all_sessions(user, reason="factors-reset")
    return user


def flag_password_compromised(actor: Actor, user_id: int) -> None:
    with managing(actor, user_id, "password-flagged-compromised") as (user, _draft):
        user.must_change_password = True
        user.save(update_fields=["must_change_password"])
        end_all_sessions(user, reason="password-compromised")


def manager_end_sessions(actor: Actor, user_id: int) -> int:
    with managing(actor, user_id, "ended", "accounts.UserSession", "logout") as (user, draft):
        count = end_all_sessions(user, reason="ended-by-manager")
        draft.detail.update(sessions=count, by="manager")
    return count


def locked_accounts() -> list[Any]:
    return list(get_user_model().objects.filter(locked_until__gt=_now()).order_by("username"))


# --- passwords (B2) ------------------------------------------------------------------------


def set_password(user: Any, new_password: str, change: str, source: str) -> None:
    """Store a new password (validated by the caller's policy), keep the old hash for the
    history rule, and record the change. Runs inside the caller's transaction: the one place a
    password is set (change, enrolment, reset link)."""
    if user.has_usable_password():
        PasswordHistory.objects.create(user=user, password=user.password)
    user.set_password(new_password)
    user.password_changed_at = _now()
    user.must_change_password = False
    user.save()
    account_event(
        actor_of(user, source), "update", "accounts.User", ref=user.pk, detail={"change": change}
    )


def change_password(user: Any, new_password: str, source: str = "", keep: Any = None) -> None:
    """The owner's own change (B2). Every other session of the account ends (a password is
    changed because it may be known to someone else); ``keep`` is the record of the session
    that changed it."""
    password_validation.validate_password(new_password, user)
    with transaction.atomic():
        set_password(user, new_password, "password", source)
        end_all_sessions(user, reason="password-changed", keep=keep)


def password_renewal_due(user: Any) -> bool:
    days = practice_settings().password_renewal_days
    if not days or user.password_changed_at is None:
        return False
    return _now() - user.password_changed_at > dt.timedelta(days=days)


# --- brute force (the counters themselves: accounts.throttle) --------------------------------


@dataclass(frozen=True)
class PasswordCheck:
    user: Any  # the account, when the password was right and the account may log in
    wait_seconds: int = 0  # throttled: try again later (told the same way for every name)


def check_password_step(
    username: str,
    password: str,
    source: str = "",
    request_id: str = "",
    *,
    known_accounts: Collection[int] = (),
    factor: str = "password",
) -> PasswordCheck:
    """First step of a login, and every later check of a password (unlock, sudo, the current
    password before a change, a factors-reset link). The same answer, status and work whether or
    not the account exists, is locked or disabled: an attacker learns nothing about accounts.
    ``known_accounts``: the accounts this browser completed a login on (``throttle``)."""
    anonymous = Actor(user=None, role=None, source=source, request_id=request_id)
    User = get_user_model()
    user = User.objects.filter(username__iexact=username.strip()).first() if username else None
    if user is not None and not integrity.checked(user, source):
        user = None  # altered outside Secretum: nobody, answered like an unknown name
    known = user is not None and user.pk in known_accounts
    wait = throttle.wait_seconds(username, source, known_device=known)
    if wait:
        account_event(
            anonymous,
            "login-failed",
            outcome=Outcome.FAILURE,
            detail={"factor": factor, "reason": "throttled"},
        )
        return PasswordCheck(None, wait)
    if user is None:
        make_password(password)  # the same hashing work as for a real account
        ok = False
    else:
        ok = user.check_password(password)
    locked = user is not None and throttle.is_locked(user)
    # C2: an account whose role has ended, or not started yet, holds nothing to sign in to.
    if ok and user is not None and not locked and user.is_active and role_of(user) is not None:
        # The failure count is reset only when both factors pass (login_succeeded): knowing the
        # password must not let anyone try second-factor codes without end.
        return PasswordCheck(user)
    with transaction.atomic():
        throttle.record_failure(username, source, known_device=known)
        refused = "no-role" if user is not None and user.is_active else "disabled"
        reason = "locked" if locked else (refused if ok else "wrong-password")
        if user is not None:
            actor = actor_of(user, source, request_id)
            account_event(
                actor,
                "login-failed",
                outcome=Outcome.FAILURE,
                detail={"factor": factor, "reason": reason},
            )
            if not locked and not ok:
                _count_failure(user, actor)
        else:
            account_event(
                anonymous,
                "login-failed",
                outcome=Outcome.FAILURE,
                detail={"factor": factor, "reason": "unknown-account"},
            )
    return PasswordCheck(None)


def _count_failure(user: Any, actor: Actor) -> None:
    """One more consecutive failure (password or second factor); the 10th locks the account, and
    a locked account has no session left: every pending login and open session stops at once."""
    if throttle.count_lockout_failure(user):
        account_event(
            actor,
            "lockout",
            "accounts.User",
            outcome=Outcome.FAILURE,
            ref=user.pk,
            detail={"minutes": throttle.LOCKOUT_MINUTES},
        )
        end_all_sessions(user, reason="locked-out")


def login_succeeded(user: Any) -> None:
    """Both factors passed: the consecutive-failure count and the account's throttle reset."""
    throttle.forget_account(user.username)
    if user.failed_logins:
        get_user_model().objects.filter(pk=user.pk).update(failed_logins=0)


def second_factor_wait(user: Any, source: str = "", *, known_device: bool = False) -> int:
    """Seconds before this account may try a second factor again (B3): codes are throttled like
    passwords, by the same counters; a locked account may not try at all."""
    user.refresh_from_db(fields=["locked_until", "is_active"])
    if throttle.is_locked(user) or not user.is_active:
        return throttle.LOCKOUT_MINUTES * 60
    return throttle.wait_seconds(user.username, source, known_device=known_device)


def second_factor_failed(
    user: Any, factor: str, source: str = "", request_id: str = "", *, known_device: bool = False
) -> bool:
    """Audited; counts towards the delays and the lock-out. True when the account is now locked."""
    actor = actor_of(user, source, request_id)
    with transaction.atomic():
        account_event(actor, "login-failed", outcome=Outcome.FAILURE, detail={"factor": factor})
        throttle.record_failure(user.username, source, known_device=known_device)
        _count_failure(user, actor)
    return throttle.is_locked(user)


# --- second factors (B3) -------------------------------------------------------------------


def list_factors(user: Any) -> list[Factor]:
    """The user's confirmed factors; one altered outside Secretum proves nothing and is left out
    (reported to the auditor)."""
    found = Factor.objects.filter(user=user, confirmed=True).order_by("created_at")
    return [f for f in found if integrity.checked(f)]


def has_factor(user: Any) -> bool:
    return bool(list_factors(user))


def totp_aad(factor: Factor) -> str:
    """The associated data that binds a sealed TOTP seed to its account (its KEK rotation too)."""
    return f"accounts.Factor.totp:{factor.user_id}"


def seal_totp_secret(factor: Factor, secret: str) -> None:
    factor.totp_secret = keyring.seal_secret(secret.encode(), totp_aad(factor))


def start_totp(user: Any, name: str) -> tuple[Factor, str]:
    """An unconfirmed TOTP factor and its secret (to show once, as text and QR)."""
    name = (name or "").strip()[:64] or _("Authenticator app")
    Factor.objects.filter(user=user, kind=Factor.Kind.TOTP, confirmed=False).delete()
    factor = Factor(user=user, kind=Factor.Kind.TOTP, name=name)
    secret = totp.new_secret()
    seal_totp_secret(factor, secret)
    factor.save()
    return factor, secret


def totp_secret(factor: Factor) -> str:
    return keyring.open_secret(factor.totp_secret, totp_aad(factor)).decode()  # type: ignore[arg-type]


def unconfirmed_totp_secret(user: Any, factor_id: int) -> str:
    """The secret of a TOTP factor being enrolled (to show the QR code again after a typo)."""
    factor = Factor.objects.filter(
        pk=factor_id, user=user, kind=Factor.Kind.TOTP, confirmed=False
    ).first()
    if factor is None:
        raise ValidationError(_("This enrolment expired: start again."))
    return totp_secret(factor)


def confirm_totp(user: Any, factor_id: int, code: str, source: str = "") -> bool:
    factor = Factor.objects.filter(
        pk=factor_id, user=user, kind=Factor.Kind.TOTP, confirmed=False
    ).first()
    if factor is None:
        return False
    step = totp.matching_step(totp_secret(factor), code, factor.totp_last_step)
    if step is None:
        account_event(
            actor_of(user, source),
            "update",
            "accounts.Factor",
            outcome=Outcome.FAILURE,
            ref=user.pk,
            detail={"change": "enrol-totp", "reason": "wrong-code"},
        )
        return False
    with transaction.atomic():
        factor.confirmed = True
        factor.totp_last_step = step
        factor.last_used_at = _now()
        factor.save()
        user.must_enrol_factor = False
        user.save(update_fields=["must_enrol_factor"])
        account_event(
            actor_of(user, source),
            "create",
            "accounts.Factor",
            ref=factor.pk,
            detail={"kind": "totp"},
        )
    return True


def verify_totp(user: Any, code: str) -> Factor | None:
    for factor in list_factors(user):
        if factor.kind != Factor.Kind.TOTP:
            continue
        step = totp.matching_step(totp_secret(factor), code, factor.totp_last_step)
        if step is not None:
            # Conditional update: two requests racing with the same code cannot both pass.
            won = Factor.objects.filter(pk=factor.pk, totp_last_step__lt=step).update(
                totp_last_step=step, last_used_at=_now()
            )
            if won:
                return factor
    return None


def new_recovery_codes(user: Any, source: str = "") -> list[str]:
    """Ten new codes, shown once; earlier codes stop working."""
    codes = [
        "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODES)
    ]
    with transaction.atomic():
        RecoveryCode.objects.filter(user=user).delete()
        RecoveryCode.objects.bulk_create(
            RecoveryCode(user=user, code_hash=keyring.secret_digest("recovery", c)) for c in codes
        )
        account_event(
            actor_of(user, source),
            "create",
            "accounts.RecoveryCode",
            ref=user.pk,
            detail={"count": len(codes)},
        )
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def remaining_recovery_codes(user: Any) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def use_recovery_code(user: Any, code: str) -> bool:
    normalised = "".join(c for c in code.lower() if c.isalnum())
    digest = keyring.secret_digest("recovery", normalised)
    return bool(
        RecoveryCode.objects.filter(user=user, code_hash=digest, used_at__isnull=True).update(
            used_at=_now()
        )
    )


def verify_code_factor(
    user: Any, code: str, source: str = "", request_id: str = "", *, known_device: bool = False
) -> str | None:
    """A TOTP code or a recovery code: the kind of factor that matched, or None. Audited, and a
    wrong code counts like a wrong password. Only ASCII digits make a TOTP code: "²²²²²²" or
    Arabic-Indic digits are a wrong code, counted, never an error (N2)."""
    cleaned = "".join(code.split()).replace("-", "")
    digits = cleaned.isascii() and cleaned.isdigit()
    kind = None
    if digits and verify_totp(user, cleaned):
        kind = "totp"
    elif not digits and cleaned.isascii() and use_recovery_code(user, cleaned):
        kind = "recovery-code"
    if kind is None:
        second_factor_failed(
            user,
            "totp" if digits else "recovery-code",
            source,
            request_id,
            known_device=known_device,
        )
    return kind


def remove_factor(user: Any, factor_id: int, source: str = "") -> None:
    with transaction.atomic():
        factors = list(Factor.objects.select_for_update().filter(user=user, confirmed=True))
        target = next((f for f in factors if f.pk == factor_id), None)
        if target is None:
            raise ValidationError(_("No such factor."))
        if len(factors) == 1:
            raise ValidationError(_("This is your last second factor: add another one first."))
        target.delete()
        account_event(
            actor_of(user, source),
            "delete",
            "accounts.Factor",
            ref=factor_id,
            detail={"kind": target.kind},
        )


def rename_factor(user: Any, factor_id: int, name: str, source: str = "") -> None:
    name = name.strip()[:64]
    if not name:
        raise ValidationError(_("Give the factor a name."))
    if not Factor.objects.filter(pk=factor_id, user=user).update(name=name):
        raise ValidationError(_("No such factor."))
    account_event(
        actor_of(user, source),
        "update",
        "accounts.Factor",
        ref=factor_id,
        detail={"change": "renamed"},
    )


# --- sessions ------------------------------------------------------------------------------


def active_sessions(user: Any) -> list[UserSession]:
    return list(
        UserSession.objects.filter(user=user, ended_at__isnull=True).order_by("-last_activity_at")
    )


def end_session(user: Any, session_id: int, source: str = "") -> None:
    """Its owner ends one of their sessions (another device)."""
    records = UserSession.objects.filter(pk=session_id, user=user)
    with transaction.atomic():
        if not sessions.end_records(records, "ended-by-user"):
            raise ValidationError(_("No such session."))
        account_event(
            actor_of(user, source),
            "logout",
            "accounts.UserSession",
            ref=session_id,
            detail={"by": "user"},
        )


def end_all_sessions(user: Any, reason: str, *, keep: Any = None) -> int:
    """Every session of the user ends (all of them, whatever identifiers they have had), except
    the record ``keep`` (the session that asked, e.g. after its own password change)."""
    records = UserSession.objects.filter(user=user)
    if keep is not None:
        records = records.exclude(pk=keep)
    return sessions.end_records(records, reason)
