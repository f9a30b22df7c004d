"""Accounts (B1), passwords (B2), second factors (B3), sessions and the idle lock (E1), the IT
charter and its acceptances (A1, A2), roles given for a period and unused accounts (C2).

No shared or generic account exists in Secretum. Every secret is stored hashed or sealed under
the instance's key: TOTP seeds sealed, recovery codes and enrolment tokens as keyed hashes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.policy import ROLE_LABELS, Role
from secretum.crypto.rows import SealedRow
from secretum.lib.dates import add_years, shown

# N2: a role's dates lie within this many years of today; further, it is a typing error.
ROLE_DATE_YEARS = 10
# K2: an outside technician's role is one maintenance window: it ends at most this long after it
# starts (``give_role`` refuses longer, whoever asks; ``maintenance.windows`` opens and closes it).
TECHNICIAN_HOURS = 8


class User(SealedRow, AbstractUser):
    # The dates of use are sealed too: bumping ``last_login``, ``date_joined`` or ``enabled_at``
    # would keep a dormant account from being disabled (C2), and emptying ``last_login`` would
    # open a new account's enrolment link again (B1).
    SEALED_FIELDS = (
        "username", "first_name", "last_name", "role", "is_active", "is_staff", "is_superuser",
        "password", "must_enrol_factor", "must_change_password", "role_starts_at", "role_ends_at",
        "date_joined", "last_login", "enabled_at",
    )  # fmt: skip
    # No default: an account holds no right until a role is given to it.
    role = models.CharField(max_length=32, choices=[(r.value, ROLE_LABELS[r]) for r in Role])
    # C2: the role applies from its start (by default, when it was given) until its end, if any
    # (excluded); outside them it holds nothing (access.actor.role_of decides, per request).
    role_starts_at = models.DateTimeField(default=timezone.now)
    role_ends_at = models.DateTimeField(null=True, blank=True)
    # C2: an account unused for the practice's ``inactive_days`` is disabled (accounts.lifecycle):
    # unused since its last login, its creation or ``enabled_at``, the last time it was enabled
    # again. Why and when it was last disabled: "inactive" (automatically) or "manager".
    enabled_at = models.DateTimeField(null=True)
    disabled_at = models.DateTimeField(null=True)
    disabled_reason = models.CharField(max_length=16, blank=True)
    preferred_language = models.CharField(max_length=8, blank=True)
    # B2: a manager can flag a password as compromised; renewal (when on) sets it too.
    must_change_password = models.BooleanField(default=False)
    password_changed_at = models.DateTimeField(null=True)
    # B3: set by a manager's reset; the user enrols again at next login.
    must_enrol_factor = models.BooleanField(default=False)
    # Brute force: consecutive failures and the end of a lock-out.
    failed_logins = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True)
    last_lockout_at = models.DateTimeField(null=True)
    # HMAC-SHA256 under the key file over the fields that grant rights (crypto/rows.py).
    row_seal = models.BinaryField(null=True, max_length=32)

    def __str__(self) -> str:
        return self.get_full_name() or self.username

    def give_role(
        self, role: str, starts_at: dt.datetime | None = None, ends_at: dt.datetime | None = None
    ) -> dict[str, Any]:
        """Give ``role`` from ``starts_at`` until ``ends_at`` (C2), in memory; what changed, as
        ``{field: [before, after]}`` (moments in ISO 8601, UTC) for the audit event. Without a
        start, the role starts now if it is new, else keeps its start. ValidationError for an end
        not after the start, a date beyond ten years either way (N2), or an outside technician's
        role without an end or longer than ``TECHNICIAN_HOURS`` (K2)."""
        now = timezone.now()
        if starts_at is None:
            starts_at = self.role_starts_at if role == self.role and self.pk else now
        first, last = add_years(now, -ROLE_DATE_YEARS), add_years(now, ROLE_DATE_YEARS)
        for moment in (starts_at, ends_at):
            if moment is not None and not first <= moment <= last:
                raise ValidationError(
                    _("Give dates between %(first)s and %(last)s.")
                    % {
                        "first": shown(timezone.localdate(first)),
                        "last": shown(timezone.localdate(last)),
                    }
                )
        if ends_at is not None and ends_at <= starts_at:
            raise ValidationError(_("The role must end after it starts."))
        if role == Role.TECHNICIAN and (
            ends_at is None or ends_at - starts_at > dt.timedelta(hours=TECHNICIAN_HOURS)
        ):
            raise ValidationError(
                _("An outside technician's access lasts at most %(n)d hours.")
                % {"n": TECHNICIAN_HOURS}
            )
        before = {f: getattr(self, f) for f in ("role", "role_starts_at", "role_ends_at")}
        self.role, self.role_starts_at, self.role_ends_at = role, starts_at, ends_at
        return {
            f: [_plain(old), _plain(getattr(self, f))]
            for f, old in before.items()
            if old != getattr(self, f) or self.pk is None
        }

    def switch_active(self, active: bool, reason: str) -> list[str]:
        """Enable or disable the account in memory (C2: the moment and, when disabled, why);
        the fields to save."""
        now = timezone.now()
        if active and not self.is_active:
            self.enabled_at, self.disabled_at, self.disabled_reason = now, None, ""
        elif not active and self.is_active:
            self.disabled_at, self.disabled_reason = now, reason[:16]
        self.is_active = active
        return ["is_active", "enabled_at", "disabled_at", "disabled_reason"]


def _plain(value: Any) -> Any:
    """A value as an audit event's detail holds it: a moment in ISO 8601, UTC."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="seconds")
    return str(value) if value is not None else None


RETENTION_YEARS_MIN, RETENTION_YEARS_MAX = 30, 50  # J2: Belgian law's bounds


class PracticeSettings(SealedRow, models.Model):
    """One row: the practice's security settings, within the bounds the checklist sets."""

    SEALED_FIELDS = (
        "idle_timeout_minutes", "session_lifetime_hours", "password_renewal_days", "inactive_days",
        "archive_years", "retention_years", "key_backup_expiry_days",
    )  # fmt: skip

    idle_timeout_minutes = models.PositiveSmallIntegerField(
        default=15,
        validators=[MinValueValidator(1), MaxValueValidator(20)],  # E1: ≤ 20 min
    )
    session_lifetime_hours = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    # B2: off by default (NIST SP 800-63B-4, OWASP ASVS 5.0 advise against forced renewal).
    password_renewal_days = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(3650)]
    )
    # C2: an account unused for this many days is disabled (`secretum accounts disable-inactive`).
    inactive_days = models.PositiveSmallIntegerField(
        default=90, validators=[MinValueValidator(30), MaxValueValidator(365)]
    )
    # J1: a patient without contact for this many years moves to the archive (patients/archive.py,
    # `secretum records archive`, run once a day). At least 2 (the agenda looks 2 years back), at
    # most 30 (the record is kept at least 30 years after the last contact, J2).
    archive_years = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(2), MaxValueValidator(30)]
    )
    # J2: a record is kept this many years after the patient's last contact, then listed for
    # destruction (Belgian law of 22 April 2019, art. 35: at least 30 years, at most 50).
    retention_years = models.PositiveSmallIntegerField(
        default=RETENTION_YEARS_MIN,
        validators=[MinValueValidator(RETENTION_YEARS_MIN), MaxValueValidator(RETENTION_YEARS_MAX)],
    )
    # J2: copies of the key store (key file backups, recovery material) older than a destruction
    # are discarded after this many days; until then an old data backup could still be opened.
    key_backup_expiry_days = models.PositiveSmallIntegerField(
        default=35, validators=[MinValueValidator(1), MaxValueValidator(3650)]
    )
    updated_at = models.DateTimeField(auto_now=True)
    # HMAC-SHA256 under the key file over the fields that grant rights (crypto/rows.py).
    row_seal = models.BinaryField(null=True, max_length=32)

    def __str__(self) -> str:
        return "Practice settings"


class PasswordHistory(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    password = models.CharField(max_length=256)  # the Argon2id hash, as in User.password
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"PasswordHistory {self.pk}"


class EnrolmentToken(models.Model):
    """A one-time link: single use, expires. Only its keyed hash is stored.

    A link alone never signs anyone into an account that its owner already holds (B3): what the
    link lets its bearer do depends on its purpose, and each purpose asks for what only the owner
    has (the manager who hands the link over has neither):

    * ``enrol``: a new account, never used: choose a password, then enrol a second factor;
    * ``factors``: the owner's factors were reset: type the current password, then enrol one;
    * ``password``: the owner forgot the password: prove a second factor, then choose one.
    """

    class Purpose(models.TextChoices):
        ENROL = "enrol"
        FACTORS = "factors"
        PASSWORD = "password"  # noqa: S105  (the name of a purpose, not a password)

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.BinaryField(max_length=32, unique=True)
    purpose = models.CharField(max_length=16, choices=Purpose.choices, default=Purpose.ENROL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"EnrolmentToken {self.pk}"


class Factor(SealedRow, models.Model):
    """A second factor: TOTP app, WebAuthn key/passkey. Recovery codes are kept apart."""

    SEALED_FIELDS = ("user_id", "kind", "confirmed", "totp_secret", "credential_id", "public_key")

    class Kind(models.TextChoices):
        TOTP = "totp"
        WEBAUTHN = "webauthn"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=64)
    confirmed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True)
    # TOTP: the seed, sealed under the instance key; the last accepted time step (a code
    # is usable once, RFC 6238 §5.2).
    totp_secret = models.BinaryField(null=True)
    totp_last_step = models.BigIntegerField(default=0)
    # WebAuthn: credential id, COSE public key, signature counter (W3C WebAuthn Level 2).
    credential_id = models.BinaryField(null=True, max_length=1024)
    public_key = models.BinaryField(null=True)
    sign_count = models.BigIntegerField(default=0)
    # Demo instances only: lets `secretum demo_code` print the current code.
    is_demo = models.BooleanField(default=False)
    # HMAC-SHA256 under the key file over the fields that grant rights (crypto/rows.py).
    row_seal = models.BinaryField(null=True, max_length=32)

    def __str__(self) -> str:
        return f"{self.kind} factor {self.pk}"


class RecoveryCode(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    code_hash = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"RecoveryCode {self.pk}"


class Charter(models.Model):
    """The IT charter and security notice (A1, A2, D1, D3), versioned."""

    version = models.PositiveIntegerField(unique=True)
    text_fr = models.TextField()
    text_nl = models.TextField()
    text_en = models.TextField()
    published_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"Charter v{self.version}"


class CharterAcceptance(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    charter = models.ForeignKey(Charter, on_delete=models.PROTECT, related_name="+")
    accepted_at = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "charter"], name="one_acceptance_per_version")
        ]

    def __str__(self) -> str:
        return f"CharterAcceptance {self.pk}"


class LoginThrottle(models.Model):
    """Failures per account name and per source address, keyed by HMAC so that neither is
    stored in clear, and so that unknown account names are throttled like real ones."""

    key = models.BinaryField(max_length=32, unique=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"LoginThrottle {self.pk}"


class UserSession(models.Model):
    """A signed-in session as its owner and managers see it, and the one place that says whether
    it may still be used (B1, E1). Its id travels inside the (sealed) session data, so it stays
    the same whatever happens to the session's identifier (login, unlock, sudo, password change
    each issue a new one): a revocation sets ``ended_at`` here, and the next request of that
    session, under whichever identifier, is refused."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    device = models.CharField(max_length=120, blank=True)
    source = models.CharField(max_length=64, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    last_activity_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True)
    end_reason = models.CharField(max_length=32, blank=True)

    def __str__(self) -> str:
        return f"UserSession {self.pk}"


class SessionData(AbstractBaseSession):
    """Django's session rows, keyed by a keyed digest of the cookie's value (HMAC-SHA256 under
    the key file, hex): the database never holds a usable session identifier. The data itself is
    sealed under the key file (AES-256-GCM, bound to the row's digest). ``record`` ties every
    identifier a session has had to its one :class:`UserSession`, so that ending the session
    deletes all of them (``accounts.sessions``)."""

    session_key = models.CharField(max_length=64, primary_key=True)
    record = models.ForeignKey(UserSession, null=True, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return "SessionData"


class ExternalIdentity(models.Model):
    """An identity at the practice's OpenID Connect provider, linked by its owner to ONE
    Secretum account (B1). The subject may be a national number (eID): only its keyed digest is
    stored, so the database never holds it in clear."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    issuer = models.CharField(max_length=255)
    subject_digest = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject_digest"], name="one_account_per_external_identity"
            ),
            models.UniqueConstraint(fields=["user", "issuer"], name="one_identity_per_issuer"),
        ]

    def __str__(self) -> str:
        return f"ExternalIdentity {self.pk}"
