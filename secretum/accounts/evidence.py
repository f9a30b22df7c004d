"""Live evidence of the accounts measures (B1, B2, B3, E1, A1, A2), for the register: each
reads the accounts, the practice's settings and the server's configuration now."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import Argon2PasswordHasher, get_hasher
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from secretum.access.policy import Role
from secretum.compliance.evidence import Evidence, Proof, day, evidence, met, not_met

# Names that say "a function, not a person": an account so named is shared or generic (B1).
GENERIC_NAMES = frozenset(
    {"admin", "administrator", "administrateur", "root", "user", "test", "guest", "invite",
     "shared", "common", "generic", "demo", "cabinet", "practice", "praktijk", "office"}
)  # fmt: skip
MIN_PASSWORD_LENGTH = 12


def _active() -> list[Any]:
    return list(get_user_model().objects.filter(is_active=True).order_by("username"))


@evidence("B1", proof=Proof.LIVE)
def personal_accounts() -> Evidence:
    """Every active account is one person's: a role, a person's name, no generic name."""
    users = _active()
    roles = set(Role)
    wrong = [
        u.username
        for u in users
        if u.role not in roles
        or not (u.first_name.strip() and u.last_name.strip())
        or u.username.casefold() in GENERIC_NAMES
        or u.is_superuser
    ]
    if not users:
        return not_met(_("No active account."), _("Create one account per person (Users)."))
    if wrong:
        return not_met(
            ngettext(
                "%(n)d of %(total)d active accounts is not clearly one person's (no role, no "
                "personal name, or a generic name).",
                "%(n)d of %(total)d active accounts are not clearly one person's (no role, no "
                "personal name, or a generic name).",
                len(wrong),
            )
            % {"n": len(wrong), "total": len(users)},
            _(
                "Give each of these accounts a role and its owner's name, or disable it; never "
                "share an account."
            ),
            *wrong,
        )
    return met(
        _(
            "%(n)d of %(n)d active accounts are personal: each has a role and its owner's name; "
            "accounts are created by a manager, one per person."
        )
        % {"n": len(users)}
    )


@evidence("B2", proof=Proof.LIVE)
def password_policy() -> Evidence:
    """B2: Argon2id, at least 12 characters, common (100,000 most used, offline), predictable
    (walks, sequences, repeats) and personal passwords refused, history; and renewal. The
    checklist asks for renewal; with the practice's renewal off (NIST SP 800-63B-4 advises
    against forced periodic change) B2 is met only when the practice has recorded that as an
    equivalent measure, with its justification (a declaration "equivalent measure")."""
    problems: list[str] = []
    hasher = get_hasher("default")
    if not isinstance(hasher, Argon2PasswordHasher):
        problems.append(_("the password hasher is not Argon2"))
    else:
        import argon2

        if hasher.params().type != argon2.Type.ID:
            problems.append(_("the Argon2 variant is not Argon2id"))
    configured: list[Any] = list(settings.AUTH_PASSWORD_VALIDATORS)
    validators: dict[str, dict[str, Any]] = {v["NAME"].rsplit(".", 1)[-1]: v for v in configured}
    length = validators.get("MinimumLengthValidator", {}).get("OPTIONS", {}).get("min_length", 8)
    if "MinimumLengthValidator" not in validators or length < MIN_PASSWORD_LENGTH:
        problems.append(_("passwords may be shorter than 12 characters"))
    for name in (
        "CommonPasswordValidator",
        "PredictablePasswordValidator",
        "UserAttributeSimilarityValidator",
        "HistoryValidator",
    ):
        if name not in validators:
            problems.append(_("the %(name)s rule is off") % {"name": name})
    weak = [
        u.username
        for u in _active()
        if u.has_usable_password() and not u.password.startswith("argon2$argon2id$")
    ]
    if weak:
        problems.append(
            ngettext(
                "%(n)d password is stored with an older hash (it is upgraded at next login)",
                "%(n)d passwords are stored with an older hash (they are upgraded at next login)",
                len(weak),
            )
            % {"n": len(weak)}
        )
    from secretum.accounts.services import practice_settings
    from secretum.compliance.declarations import current_declaration
    from secretum.compliance.models import Choice

    if problems:
        return not_met(
            _("The password policy is weaker than Secretum's: %(what)s.")
            % {"what": "; ".join(problems)},
            _(
                "Restore the settings of secretum/settings.py (AUTH_PASSWORD_VALIDATORS, "
                "PASSWORD_HASHERS)."
            ),
            *weak,
        )
    renewal = practice_settings().password_renewal_days
    declared = current_declaration("B2")
    if renewal:
        renewal_text = _("renewal every %(n)d days") % {"n": renewal}
    elif declared is not None and declared.choice == Choice.EQUIVALENT:
        renewal_text = _(
            "no forced periodic renewal (NIST SP 800-63B-4; a compromised password can be "
            "flagged for change), recorded as an equivalent measure on %(day)s"
        ) % {"day": day(declared.recorded_at)}
    else:
        return not_met(
            _(
                "Passwords are never renewed (the practice's setting), and no equivalent measure "
                "is recorded."
            ),
            _(
                "The checklist asks for renewal. Either set a renewal period (Settings), or "
                "declare B2 an equivalent measure with its justification (NIST SP 800-63B-4 "
                "advises against forced periodic change; a compromised password is flagged "
                "for change)."
            ),
        )
    return met(
        _(
            "Argon2id; at least %(n)d characters; common passwords, the user's own names and the "
            "last 5 passwords refused; %(renewal)s."
        )
        % {"n": length, "renewal": renewal_text}
    )


@evidence("B3", proof=Proof.LIVE)
def second_factor() -> Evidence:
    from secretum.accounts.models import Factor

    users = _active()
    with_factor = set(
        Factor.objects.filter(confirmed=True).values_list("user_id", flat=True).distinct()
    )
    without = [u.username for u in users if u.pk not in with_factor]
    said = _("%(n)d of %(total)d active users have a confirmed second factor.") % {
        "n": len(users) - len(without),
        "total": len(users),
    }
    if not users:
        return not_met(said, _("Create one account per person (Users)."))
    if without:
        return not_met(
            said,
            _(
                "These users are asked to enrol a factor at their next login and reach nothing "
                "before; disable the accounts that are no longer used."
            ),
            *without,
        )
    return met(said, _("Every login asks for a second factor; SMS and e-mail are not factors."))


@evidence("E1", proof=Proof.LIVE)
def idle_lock() -> Evidence:
    from secretum.accounts.services import practice_settings

    minutes = practice_settings().idle_timeout_minutes
    ceiling = settings.SECRETUM_IDLE_TIMEOUT
    effective = min(minutes * 60, ceiling)
    if ceiling > 20 * 60 or ceiling < 1 or not 1 <= minutes <= 20:
        return not_met(
            _(
                "The idle lock allows more than 20 minutes (practice setting %(m)d min, server "
                "ceiling %(c)d s)."
            )
            % {"m": minutes, "c": ceiling},
            _(
                "Set the idle lock to 20 minutes or less (Settings) and SECRETUM_IDLE_TIMEOUT to "
                "1200 s or less."
            ),
        )
    return met(
        _("Idle lock %(n)s min, enforced on the server and in the browser (ceiling %(c)d min).")
        % {"n": f"{effective / 60:g}", "c": ceiling // 60}
    )


@evidence("A1", "A2", proof=Proof.LIVE)
def charter() -> Evidence:
    from secretum.accounts.charter import current_charter
    from secretum.accounts.models import CharterAcceptance

    found = current_charter()
    if found is None:
        return not_met(
            _("No IT charter published."),
            _(
                "Publish the charter and security notice (Settings): every user accepts it before "
                "any access."
            ),
        )
    users = _active()
    accepted = set(
        CharterAcceptance.objects.filter(charter=found).values_list("user_id", flat=True)
    )
    pending = [u.username for u in users if u.pk not in accepted]
    said = _(
        "Charter version %(v)d (published %(day)s) accepted by %(n)d of %(total)d active users."
    ) % {
        "v": found.version,
        "day": day(found.published_at),
        "n": len(users) - len(pending),
        "total": len(users),
    }
    if pending:
        return not_met(
            said,
            _("They are asked to accept it at their next login and reach nothing before."),
            *pending,
        )
    return met(said, _("It tells users that every access is logged and what to do on a breach."))
