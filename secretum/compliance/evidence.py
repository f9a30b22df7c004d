"""Live evidence: small functions that prove a measure from the system's own state.

Each app registers the checks of its own measures in its ``evidence.py`` (``secretum/accounts/
evidence.py`` proves B1, B2, B3, E1, A1, A2), which the compliance app imports when Django
starts. Adding a check is one function and one line::

    @evidence("E1")
    def idle_lock() -> Evidence:
        ...
        return met(_("Idle lock %(n)d min, enforced on the server.") % {"n": minutes})

A check reads; it never writes, and it takes well under a second. A measure with no registered
check is "not met: not provided by this installation" unless the practice declares it: the
register never pretends.

This module also holds the compliance app's own checks (P1, C2, C3, L3), at the end.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from secretum.compliance import catalogue

log = logging.getLogger(__name__)


class Verdict(StrEnum):
    MET = "met"
    NOT_MET = "not-met"


@dataclass(frozen=True)
class Evidence:
    verdict: Verdict
    summary: str  # one sentence, in the reader's language: "12 of 12 active users have…"
    details: tuple[str, ...] = ()
    action: str = ""  # what to do, when not met
    verified_at: dt.datetime = field(default_factory=timezone.now)

    @property
    def met(self) -> bool:
        return self.verdict == Verdict.MET


def met(summary: str, *details: str) -> Evidence:
    return Evidence(Verdict.MET, summary, tuple(details))


def not_met(summary: str, action: str = "", *details: str) -> Evidence:
    return Evidence(Verdict.NOT_MET, summary, tuple(details), action)


Check = Callable[[], Evidence]
_CHECKS: dict[str, Check] = {}


def evidence(*measure_ids: str) -> Callable[[Check], Check]:
    """Register ``check`` as the live evidence of these measures."""

    def register(check: Check) -> Check:
        for measure_id in measure_ids:
            if measure_id not in catalogue.BY_ID:
                raise ImproperlyConfigured(f"evidence for unknown measure {measure_id!r}")
            known = _CHECKS.get(measure_id)
            if known is not None and known.__qualname__ != check.__qualname__:
                raise ImproperlyConfigured(
                    f"measure {measure_id} has two evidence checks: "
                    f"{known.__module__}.{known.__qualname__} and "
                    f"{check.__module__}.{check.__qualname__}"
                )
            _CHECKS[measure_id] = check
        return check

    return register


def registered() -> dict[str, Check]:
    """Measure ID -> its check (a copy)."""
    return dict(_CHECKS)


def run(check: Check) -> Evidence:
    """Run one check; a check that breaks says so instead of breaking the register."""
    try:
        return check()
    except Exception as exc:  # a broken check is a failed proof, never a crash of the page
        log.exception("evidence check %s failed", getattr(check, "__qualname__", check))
        return not_met(
            _("The check could not run (%(error)s).") % {"error": type(exc).__name__},
            _("Run 'secretum check' on the server and look at its log."),
        )


def gather(measure_ids: Iterable[str] | None = None) -> dict[str, Evidence]:
    """The evidence of these measures (default: all with a check), each check run once."""
    wanted = list(_CHECKS if measure_ids is None else measure_ids)
    done: dict[Check, Evidence] = {}
    out: dict[str, Evidence] = {}
    for measure_id in wanted:
        check = _CHECKS.get(measure_id)
        if check is None:
            continue
        if check not in done:
            done[check] = run(check)
        out[measure_id] = done[check]
    return out


def day(value: dt.datetime | dt.date) -> str:
    """A date as the evidence texts show it (ISO 8601, unambiguous in every language)."""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    return value.isoformat()


# --- the compliance app's own measures -------------------------------------------------------

PRINT_WINDOW_DAYS = 30
ACCESS_REVIEW_DAYS = 365


@evidence("P1")
def printed_documents() -> Evidence:
    """P1: every print of a patient document is logged, carries the "destroy by shredding"
    footer and a watermark (the shredder itself is the practice's declaration)."""
    from secretum.audit.models import AuditEvent
    from secretum.compliance.models import PrintLog

    since = timezone.now() - dt.timedelta(days=PRINT_WINDOW_DAYS)
    logged = {
        str(u) for u in PrintLog.objects.filter(printed_at__gte=since).values_list("uid", flat=True)
    }
    # Each print's audit event names the print log row (resource_ref), same transaction.
    audited = set(
        AuditEvent.objects.filter(
            action="print", outcome="success", resource_ref__in=logged
        ).values_list("resource_ref", flat=True)
    )
    unaudited = sorted(logged - audited)
    if unaudited:
        return not_met(
            ngettext(
                "%(n)d print of the last %(days)d days has no audit event.",
                "%(n)d prints of the last %(days)d days have no audit event.",
                len(unaudited),
            )
            % {"n": len(unaudited), "days": PRINT_WINDOW_DAYS},
            _("Run 'secretum audit verify' and look for a changed or removed event."),
            *unaudited[:10],
        )
    return met(
        ngettext(
            "%(n)d print in the last %(days)d days, each logged, watermarked with the user and "
            'the time, and footed "confidential — destroy by shredding after use".',
            "%(n)d prints in the last %(days)d days, each logged, watermarked with the user and "
            'the time, and footed "confidential — destroy by shredding after use".',
            len(logged),
        )
        % {"n": len(logged), "days": PRINT_WINDOW_DAYS}
    )


@evidence("C3")
def paper_with_health_data() -> Evidence:
    """C3: only roles that may read medical data can print it (a secretary's print holds the
    identity only)."""
    from django.contrib.auth import get_user_model

    from secretum.access.policy import Permission, allows
    from secretum.compliance.models import PrintLog

    medical = PrintLog.objects.filter(scope=PrintLog.Scope.MEDICAL)
    users = {u.pk: u for u in get_user_model().objects.filter(pk__in=medical.values("user_id"))}
    wrong = sorted(
        {
            users[p.user_id].username
            for p in medical.only("user_id")
            if not allows(users[p.user_id].role, Permission.CLINICAL_READ)
        }
    )
    if wrong:
        return not_met(
            _(
                "Documents with health data were printed by users whose role holds no medical "
                "access: %(users)s."
            )
            % {"users": ", ".join(wrong)},
            _("Review these accounts' roles (C1) and the printed documents."),
        )
    return met(
        _(
            "Only roles with medical access print health data (%(n)d such prints); other roles "
            "print the identity only."
        )
        % {"n": medical.count()}
    )


@evidence("C2")
def access_review() -> Evidence:
    """C2: a yearly review of every account and its role, and no active account past the
    practice's inactivity limit (`secretum accounts disable-inactive` disables them, except the
    last active manager)."""
    from django.contrib.auth import get_user_model

    from secretum.accounts import lifecycle, services
    from secretum.compliance.models import AccessReview

    now = timezone.now()
    last = AccessReview.objects.order_by("-reviewed_at").first()
    days = services.practice_settings().inactive_days
    dormant = sorted(
        u.username
        for u in get_user_model().objects.filter(is_active=True)
        if lifecycle.limit_at(u, days) <= now
    )
    if last is None:
        return not_met(
            _("No access review recorded yet."),
            _("Review every account and its role (Compliance → Access review), then record it."),
        )
    due = last.reviewed_at + dt.timedelta(days=ACCESS_REVIEW_DAYS)
    said = _("Last access review %(last)s, next due %(due)s.") % {
        "last": day(last.reviewed_at),
        "due": day(due),
    }
    if due < now:
        return not_met(said, _("The yearly review is overdue: review every account and record it."))
    if dormant:
        return not_met(
            said
            + " "
            + ngettext(
                "%(n)d active account unused for %(days)d days or more.",
                "%(n)d active accounts unused for %(days)d days or more.",
                len(dormant),
            )
            % {"n": len(dormant), "days": days},
            _(
                "Disable the accounts that are no longer needed (Users); run 'secretum accounts "
                "disable-inactive' daily (serve does)."
            ),
            *dormant,
        )
    return met(said)


@evidence("L3")
def signed_report() -> Evidence:
    """L3: the register can be exported as a signed report that an auditor can check."""
    from secretum.compliance import signing
    from secretum.compliance.models import ReportExport

    problem = signing.key_problem()
    if problem:
        return not_met(problem, _("Run 'chmod 600' on the report signing key, or remove it."))
    last = ReportExport.objects.order_by("-created_at").first()
    if last is None:
        return met(
            _("Signed report available (Ed25519); none issued yet."),
        )
    return met(
        _("Signed report available (Ed25519); last issued %(at)s.") % {"at": day(last.created_at)}
    )
