"""What needs the managers' attention: failing evidence, declarations to review, suspected
breaches still open (the 72-hour clock). Shown on the manager's home page, and e-mailed once a
day (``secretum compliance summary``) with dates and measure IDs only: never a breach's text or
patient data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor, role_of
from secretum.access.guard import EventDraft, require
from secretum.access.policy import ROLE_PERMISSIONS, Permission
from secretum.audit.models import Action
from secretum.breaches.entries import BreachView
from secretum.breaches.services import open_breaches
from secretum.compliance.register import build_register
from secretum.compliance.status import MeasureRow
from secretum.lib.practice import practice_name

DUE_SOON_DAYS = 30


@dataclass(frozen=True)
class Reminders:
    failing: list[MeasureRow]  # live evidence that does not pass
    overdue: list[MeasureRow]  # declarations past their review date
    due_soon: list[MeasureRow]  # declarations to review within 30 days
    breaches: list[BreachView]  # open suspected breaches (the 72-hour clock)
    not_met: int  # applicable measures not met, all reasons
    total: int

    @property
    def any(self) -> bool:
        return bool(self.failing or self.overdue or self.breaches)


def _reminders() -> Reminders:
    reg = build_register()
    soon = timezone.localdate() + dt.timedelta(days=DUE_SOON_DAYS)
    return Reminders(
        failing=[r for r in reg.rows if r.failing_evidence],
        overdue=[r for r in reg.rows if r.overdue],
        due_soon=[
            r
            for r in reg.rows
            if r.applies
            and r.declaration is not None
            and not r.declaration.overdue
            and r.declaration.next_review <= soon
        ],
        breaches=open_breaches(),
        not_met=reg.counts["not_met"],
        total=len(reg.rows),
    )


def reminders(actor: Actor) -> Reminders:
    require(actor, Permission.COMPLIANCE_MANAGE, EventDraft(Action.READ, "compliance.Register"))
    return _reminders()


@dataclass(frozen=True)
class Summary:
    subject: str
    text: str
    recipients: list[str]
    attention: int


def daily_summary() -> Summary:
    """The day's summary for the practice's managers: failing evidence, declarations to review,
    open breaches. Dates and measure IDs only: never a breach's text or patient data."""
    found = _reminders()
    today = timezone.localdate()
    lines = [
        _("Secretum — security measures register of %(practice)s, %(day)s")
        % {"practice": practice_name(), "day": today.isoformat()},
        "",
    ]

    def section(title: str, items: list[str]) -> None:
        lines.append(f"{title} ({len(items)})")
        lines.extend(f"  - {item}" for item in items or [_("none")])
        lines.append("")

    section(
        _("Failing evidence"),
        [f"{r.id}: {r.reason}" + (f" → {r.action}" if r.action else "") for r in found.failing],
    )
    section(
        _("Declarations past their review date"),
        [
            _("%(id)s: review was due %(day)s (owner: %(owner)s)")
            % {
                "id": r.id,
                "day": r.declaration.next_review.isoformat(),
                "owner": r.declaration.owner,
            }
            for r in found.overdue
            if r.declaration is not None
        ],
    )
    section(
        _("Declarations to review within 30 days"),
        [
            _("%(id)s: review due %(day)s (owner: %(owner)s)")
            % {
                "id": r.id,
                "day": r.declaration.next_review.isoformat(),
                "owner": r.declaration.owner,
            }
            for r in found.due_soon
            if r.declaration is not None
        ],
    )
    section(
        _("Suspected personal-data breaches still open"),
        [
            (
                _("aware since %(at)s: notification deadline passed %(hours)d h ago")
                if b.overdue
                else _("aware since %(at)s: %(hours)d h left to notify the authority")
            )
            % {
                "at": timezone.localtime(b.aware_at).strftime("%Y-%m-%d %H:%M"),
                "hours": abs(b.hours_left),
            }
            for b in found.breaches
        ],
    )
    lines.append(
        _("%(n)d of %(total)d measures are not met yet; the register says why and what to do.")
        % {"n": found.not_met, "total": found.total}
    )
    roles = [
        r.value for r, held in ROLE_PERMISSIONS.items() if Permission.COMPLIANCE_MANAGE in held
    ]
    recipients = sorted(
        {
            u.email
            for u in get_user_model().objects.filter(is_active=True, role__in=roles)
            if u.email and role_of(u) is not None  # a role held now (C2)
        }
    )
    attention = len(found.failing) + len(found.overdue) + len(found.breaches)
    subject = _("Secretum: %(n)d item(s) of the security register need attention") % {
        "n": attention
    }
    return Summary(subject, "\n".join(lines) + "\n", recipients, attention)
