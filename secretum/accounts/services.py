"""Accounts and authentication: every rule of B1, B2, B3, E1, A1, A2 decided here, audited.

Views call these functions; they never change an account, a factor or a session themselves.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import AccessDenied, Actor
from secretum.access.policy import Permission, Role
from secretum.accounts import totp
from secretum.accounts.models import (
    Charter,
    CharterAcceptance,
    EnrolmentToken,
    ExternalIdentity,
    Factor,
    LoginThrottle,
    PasswordHistory,
    PracticeSettings,
    RecoveryCode,
    UserSession,
)
from secretum.audit.models import Outcome
from secretum.audit.services import record_event
from secretum.crypto import keyring

# Brute force: a growing delay after the 3rd consecutive failure (2, 4, 8… s, at most 5 min);
# after the 10th, the account is locked for LOCKOUT_MINUTES.
FREE_ATTEMPTS = 3
MAX_DELAY_SECONDS = 300
LOCKOUT_AFTER = 10
LOCKOUT_MINUTES = 15
ENROLMENT_HOURS = 72
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
SUDO_SECONDS = 5 * 60
PENDING_SECONDS = 5 * 60


def _now() -> dt.datetime:
    return timezone.now()


def _event(
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
    return Actor(user=user, role=getattr(user, "role", None), source=source, request_id=request_id)


def _require(actor: Actor, permission: Permission, action: str, ref: Any = "") -> None:
    if not actor.may(permission):
        _event(actor, action, "accounts.User", outcome=Outcome.DENIED, ref=ref)
        raise AccessDenied(f"{actor.role} lacks {permission}")


# --- practice settings ------------------------------------------------------------------------


def practice_settings() -> PracticeSettings:
    found, _created = PracticeSettings.objects.get_or_create(pk=1)
    return found


def update_practice_settings(
    actor: Actor,
    *,
    idle_timeout_minutes: int,
    session_lifetime_hours: int,
    password_renewal_days: int,
) -> PracticeSettings:
    _require(actor, Permission.SETTINGS_MANAGE, "update")
    current = practice_settings()
    current.idle_timeout_minutes = idle_timeout_minutes
    current.session_lifetime_hours = session_lifetime_hours
    current.password_renewal_days = password_renewal_days
    current.full_clean()  # E1: refuses an idle timeout above 20 minutes
    with transaction.atomic():
        current.save()
        _event(
            actor,
            "update",
            "accounts.PracticeSettings",
            detail={
                "idle_timeout_minutes": idle_timeout_minutes,
                "session_lifetime_hours": session_lifetime_hours,
                "password_renewal_days": password_renewal_days,
            },
        )
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
) -> Any:
    """A personal account (B1). Without a password, the person enrols through a link."""
    if actor.user is not None:
        _require(actor, Permission.USERS_MANAGE, "create")
    User = get_user_model()
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(_("This user name is already taken."))
    user = User(
        username=username, role=role, first_name=first_name, last_name=last_name, email=email
    )
    if password is not None:
        password_validation.validate_password(password, user)
        user.set_password(password)
        user.password_changed_at = _now()
    else:
        user.set_unusable_password()
    with transaction.atomic():
        user.save()
        _event(actor, "create", "accounts.User", ref=user.pk, detail={"role": str(role)})
    return user


def list_users(actor: Actor) -> list[Any]:
    _require(actor, Permission.USERS_MANAGE, "read")
    return list(get_user_model().objects.order_by("last_name", "username"))


def _managed_user(actor: Actor, user_id: int, action: str) -> Any:
    _require(actor, Permission.USERS_MANAGE, action, user_id)
    try:
        return get_user_model().objects.get(pk=user_id)
    except get_user_model().DoesNotExist:
        raise ValidationError(_("No such user.")) from None


def issue_enrolment_link(actor: Actor, user_id: int) -> str:
    """A new single-use enrolment token (returned once, stored only as a keyed hash)."""
    user = _managed_user(actor, user_id, "update")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        EnrolmentToken.objects.filter(user=user, used_at__isnull=True).update(used_at=_now())
        EnrolmentToken.objects.create(
            user=user,
            token_hash=keyring.secret_digest("enrol", token),
            created_by=actor.user if actor.user is not None and actor.user.pk else None,
            expires_at=_now() + dt.timedelta(hours=ENROLMENT_HOURS),
        )
        _event(
            actor,
            "update",
            "accounts.EnrolmentToken",
            ref=user.pk,
            detail={"change": "enrolment-link-issued"},
        )
    return token


def set_active(actor: Actor, user_id: int, active: bool) -> None:
    user = _managed_user(actor, user_id, "update")
    if user == actor.user and not active:
        raise ValidationError(_("You cannot disable your own account."))
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        _event(
            actor,
            "update",
            "accounts.User",
            ref=user.pk,
            detail={"change": "enabled" if active else "disabled"},
        )
        if not active:
            end_all_sessions(user, reason="disabled")


def reset_factors(actor: Actor, user_id: int) -> None:
    """The user's factors and recovery codes are removed; they enrol again at next login."""
    user = _managed_user(actor, user_id, "update")
    with transaction.atomic():
        Factor.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()
        # A linked provider identity can stand for a second factor: it goes with the others.
        ExternalIdentity.objects.filter(user=user).delete()
        user.must_enrol_factor = True
        user.save(update_fields=["must_enrol_factor"])
        end_all_sessions(user, reason="factors-reset")
        _event(actor, "update", "accounts.Factor", ref=user.pk, detail={"change": "reset"})


def flag_password_compromised(actor: Actor, user_id: int) -> None:
    user = _managed_user(actor, user_id, "update")
    with transaction.atomic():
        user.must_change_password = True
        user.save(update_fields=["must_change_password"])
        end_all_sessions(user, reason="password-compromised")
        _event(
            actor,
            "update",
            "accounts.User",
            ref=user.pk,
            detail={"change": "password-flagged-compromised"},
        )


def manager_end_sessions(actor: Actor, user_id: int) -> int:
    user = _managed_user(actor, user_id, "update")
    with transaction.atomic():
        count = end_all_sessions(user, reason="ended-by-manager")
        _event(
            actor,
            "logout",
            "accounts.UserSession",
            ref=user.pk,
            detail={"sessions": count, "by": "manager"},
        )
    return count


def locked_accounts() -> list[Any]:
    return list(get_user_model().objects.filter(locked_until__gt=_now()).order_by("username"))


# --- passwords (B2) ------------------------------------------------------------------------


def _set_password(user: Any, new_password: str, change: str, source: str) -> None:
    """Store a new password (validated by the caller's policy), keep the old hash for the
    history rule, and record the change. Runs inside the caller's transaction."""
    if user.has_usable_password():
        PasswordHistory.objects.create(user=user, password=user.password)
    user.set_password(new_password)
    user.password_changed_at = _now()
    user.must_change_password = False
    user.save()
    _event(
        actor_of(user, source), "update", "accounts.User", ref=user.pk, detail={"change": change}
    )


def change_password(user: Any, new_password: str, source: str = "") -> None:
    password_validation.validate_password(new_password, user)
    with transaction.atomic():
        _set_password(user, new_password, "password", source)


def password_renewal_due(user: Any) -> bool:
    days = practice_settings().password_renewal_days
    if not days or user.password_changed_at is None:
        return False
    return _now() - user.password_changed_at > dt.timedelta(days=days)


def redeem_enrolment_token(token: str, new_password: str, source: str = "") -> Any:
    """Single use and expiring: the token sets the first password of its account."""
    digest = keyring.secret_digest("enrol", token.strip())
    with transaction.atomic():
        found = (
            EnrolmentToken.objects.select_for_update()
            .select_related("user")
            .filter(token_hash=digest)
            .first()
        )
        if (
            found is not None
            and found.used_at is None
            and found.expires_at >= _now()
            and found.user.is_active
        ):
            user = found.user
            password_validation.validate_password(new_password, user)
            found.used_at = _now()
            found.save(update_fields=["used_at"])
            _set_password(user, new_password, "enrolled-password", source)
            return user
    # Outside the transaction: the refusal is recorded even though nothing else is written.
    _event(
        Actor(user=None, role=None, source=source),
        "login-failed",
        "enrolment",
        outcome=Outcome.FAILURE,
        detail={"reason": "invalid-or-expired-link"},
    )
    raise ValidationError(
        _(
            "This enrolment link is invalid, already used or expired. "
            "Ask your practice manager for a new one."
        )
    )


# --- brute force ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PasswordCheck:
    user: Any  # the account, when the password was right and the account may log in
    wait_seconds: int = 0  # throttled: try again later (told the same way for every name)


def _throttle_keys(username: str, source: str) -> list[bytes]:
    return [
        keyring.secret_digest("throttle-user", username.strip().casefold()),
        keyring.secret_digest("throttle-addr", source or "-"),
    ]


def _wait_for(throttle: LoginThrottle) -> int:
    if throttle.failures < FREE_ATTEMPTS:
        return 0
    delay = min(2 ** (throttle.failures - FREE_ATTEMPTS + 1), MAX_DELAY_SECONDS)
    left = (throttle.last_failure_at + dt.timedelta(seconds=delay) - _now()).total_seconds()
    return max(0, int(left + 0.999))


def _record_failure(keys: list[bytes]) -> None:
    now = _now()
    for key in keys:
        updated = LoginThrottle.objects.filter(key=key).update(
            failures=F("failures") + 1, last_failure_at=now
        )
        if not updated:
            LoginThrottle.objects.create(key=key, failures=1, last_failure_at=now)


def check_password_step(
    username: str, password: str, source: str = "", request_id: str = ""
) -> PasswordCheck:
    """First step of a login. The same answer, status and work whether or not the account
    exists, is locked or disabled: an attacker learns nothing about accounts."""
    keys = _throttle_keys(username, source)
    waits = [_wait_for(t) for t in LoginThrottle.objects.filter(key__in=keys)]
    anonymous = Actor(user=None, role=None, source=source, request_id=request_id)
    if waits and max(waits) > 0:
        _event(
            anonymous,
            "login-failed",
            outcome=Outcome.FAILURE,
            detail={"factor": "password", "reason": "throttled"},
        )
        return PasswordCheck(None, max(waits))
    User = get_user_model()
    user = User.objects.filter(username__iexact=username.strip()).first() if username else None
    if user is None:
        make_password(password)  # the same hashing work as for a real account
        ok = False
    else:
        ok = user.check_password(password)
    locked = user is not None and user.locked_until is not None and user.locked_until > _now()
    if ok and user is not None and not locked and user.is_active:
        # The failure count is reset only when both factors pass (login_succeeded): knowing the
        # password must not let anyone try second-factor codes without end.
        return PasswordCheck(user)
    with transaction.atomic():
        _record_failure(keys)
        reason = "locked" if locked else ("disabled" if ok else "wrong-password")
        if user is not None:
            actor = actor_of(user, source, request_id)
            _event(
                actor,
                "login-failed",
                outcome=Outcome.FAILURE,
                detail={"factor": "password", "reason": reason},
            )
            if not locked and not ok:
                _count_failure(user, actor)
        else:
            _event(
                anonymous,
                "login-failed",
                outcome=Outcome.FAILURE,
                detail={"factor": "password", "reason": "unknown-account"},
            )
    return PasswordCheck(None)


def _count_failure(user: Any, actor: Actor) -> None:
    """One more consecutive failure (password or second factor); the 10th locks the account."""
    user.failed_logins += 1
    if user.failed_logins >= LOCKOUT_AFTER:
        user.locked_until = _now() + dt.timedelta(minutes=LOCKOUT_MINUTES)
        user.last_lockout_at = _now()
        user.failed_logins = 0
        _event(
            actor,
            "lockout",
            "accounts.User",
            outcome=Outcome.FAILURE,
            ref=user.pk,
            detail={"minutes": LOCKOUT_MINUTES},
        )
    user.save(update_fields=["failed_logins", "locked_until", "last_lockout_at"])


def login_succeeded(user: Any, username: str) -> None:
    """Both factors passed: the consecutive-failure count and the account's throttle reset."""
    LoginThrottle.objects.filter(key=_throttle_keys(username, "")[0]).delete()
    if user.failed_logins:
        get_user_model().objects.filter(pk=user.pk).update(failed_logins=0)


def second_factor_failed(user: Any, factor: str, source: str = "", request_id: str = "") -> bool:
    """Audited; counts towards the lock-out. True when the account is now locked."""
    actor = actor_of(user, source, request_id)
    with transaction.atomic():
        _event(actor, "login-failed", outcome=Outcome.FAILURE, detail={"factor": factor})
        _count_failure(user, actor)
    return user.locked_until is not None and user.locked_until > _now()


# --- second factors (B3) -------------------------------------------------------------------


def has_factor(user: Any) -> bool:
    return Factor.objects.filter(user=user, confirmed=True).exists()


def list_factors(user: Any) -> list[Factor]:
    return list(Factor.objects.filter(user=user, confirmed=True).order_by("created_at"))


def _totp_aad(factor: Factor) -> str:
    return f"accounts.Factor.totp:{factor.user_id}"


def seal_totp_secret(factor: Factor, secret: str) -> None:
    factor.totp_secret = keyring.seal_secret(secret.encode(), _totp_aad(factor))


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
    return keyring.open_secret(factor.totp_secret, _totp_aad(factor)).decode()  # type: ignore[arg-type]


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
        _event(
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
        _event(
            actor_of(user, source),
            "create",
            "accounts.Factor",
            ref=factor.pk,
            detail={"kind": "totp"},
        )
    return True


def verify_totp(user: Any, code: str) -> Factor | None:
    for factor in Factor.objects.filter(user=user, kind=Factor.Kind.TOTP, confirmed=True):
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
        _event(
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


def verify_code_factor(user: Any, code: str, source: str = "", request_id: str = "") -> str | None:
    """A TOTP code or a recovery code: the kind of factor that matched, or None. Audited."""
    cleaned = "".join(code.split())
    kind = None
    if cleaned.isdigit() and verify_totp(user, cleaned):
        kind = "totp"
    elif not cleaned.isdigit() and use_recovery_code(user, cleaned):
        kind = "recovery-code"
    if kind is None:
        second_factor_failed(
            user, "totp" if cleaned.isdigit() else "recovery-code", source, request_id
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
        _event(
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
    _event(
        actor_of(user, source),
        "update",
        "accounts.Factor",
        ref=factor_id,
        detail={"change": "renamed"},
    )


# --- external identities: the practice's OpenID Connect provider (B1, B3) ------------------


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
    _event(
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
        _event(
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
        _event(
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
            _event(actor, "create", "accounts.ExternalIdentity", ref=link.pk)
    except IntegrityError:  # the same identity linked at the same moment elsewhere
        raise ValidationError(_("This identity is already linked to another account.")) from None
    return link


def unlink_external_identity(user: Any, link_id: int, source: str = "") -> None:
    with transaction.atomic():
        deleted, _rows = ExternalIdentity.objects.filter(pk=link_id, user=user).delete()
        if not deleted:
            raise ValidationError(_("No such linked identity."))
        _event(actor_of(user, source), "delete", "accounts.ExternalIdentity", ref=link_id)


# --- charter (A1, A2, D1, D3) ------------------------------------------------------------------


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
            _event(
                actor_of(user, source),
                "create",
                "accounts.CharterAcceptance",
                ref=charter.version,
                detail={"version": charter.version},
            )


def publish_charter(actor: Actor, *, text_fr: str, text_nl: str, text_en: str) -> Charter:
    if actor.user is not None:
        _require(actor, Permission.SETTINGS_MANAGE, "create")
    with transaction.atomic():
        latest = current_charter()
        charter = Charter.objects.create(
            version=(latest.version + 1) if latest else 1,
            text_fr=text_fr,
            text_nl=text_nl,
            text_en=text_en,
            published_by=actor.user if actor.user is not None and actor.user.pk else None,
        )
        _event(actor, "create", "accounts.Charter", ref=charter.version)
    return charter


# --- sessions ------------------------------------------------------------------------------


def open_session(user: Any, session_key: str, device: str, source: str) -> None:
    UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={
            "user": user,
            "device": device[:120],
            "source": source[:64],
            "last_activity_at": _now(),
            "ended_at": None,
            "end_reason": "",
        },
    )


def session_rekeyed(old_key: str | None, new_key: str) -> None:
    if old_key:
        UserSession.objects.filter(session_key=old_key).update(session_key=new_key)


def touch_session(session_key: str) -> None:
    UserSession.objects.filter(session_key=session_key).update(last_activity_at=_now())


def close_session(session_key: str | None, reason: str) -> None:
    if session_key:
        UserSession.objects.filter(session_key=session_key, ended_at__isnull=True).update(
            ended_at=_now(), end_reason=reason
        )


def active_sessions(user: Any) -> list[UserSession]:
    return list(
        UserSession.objects.filter(user=user, ended_at__isnull=True).order_by("-last_activity_at")
    )


def end_session(user: Any, session_id: int, source: str = "") -> None:
    target = UserSession.objects.filter(pk=session_id, user=user, ended_at__isnull=True).first()
    if target is None:
        raise ValidationError(_("No such session."))
    with transaction.atomic():
        Session.objects.filter(session_key=target.session_key).delete()
        close_session(target.session_key, "ended-by-user")
        _event(
            actor_of(user, source),
            "logout",
            "accounts.UserSession",
            ref=target.pk,
            detail={"by": "user"},
        )


def end_all_sessions(user: Any, reason: str) -> int:
    keys = list(
        UserSession.objects.filter(user=user, ended_at__isnull=True).values_list(
            "session_key", flat=True
        )
    )
    Session.objects.filter(session_key__in=keys).delete()
    UserSession.objects.filter(session_key__in=keys).update(ended_at=_now(), end_reason=reason)
    return len(keys)
