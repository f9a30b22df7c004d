"""The compliance app's own evidence: printed documents (P1, C3), the yearly access review (C2)
and the checks of subcontractors (L3). All live: each reads the practice's records now.

Imported by the app's ``ready`` (``compliance/evidence.py`` is the registry itself).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from secretum.compliance.evidence import Evidence, Proof, day, evidence, met, not_met

PRINT_WINDOW_DAYS = 30
ACCESS_REVIEW_DAYS = 365
SUBCONTRACTOR_CHECK_DAYS = 365  # L3: an audit or a visit within the last 12 months


@evidence("P1", proof=Proof.LIVE)
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


@evidence("C3", proof=Proof.LIVE)
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


@evidence("C2", proof=Proof.LIVE)
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


@evidence("L3", proof=Proof.LIVE)
def subcontractor_checks() -> Evidence:
    """L3: the practice checks that its subcontractors' guarantees hold, by security audits and
    visits: met by its records of them (the subcontractor, the date, the report attached) within
    the last 12 months; never by the mere existence of a report of this register. A practice
    with no subcontractor declares L3 "not needed": met while no record is more recent than
    that declaration."""
    from secretum.compliance.declarations import current_declaration
    from secretum.compliance.documents import subcontractor_records
    from secretum.compliance.models import Choice

    since = timezone.localdate() - dt.timedelta(days=SUBCONTRACTOR_CHECK_DAYS)
    # Every record has its date (documents refuses one without); the most recent first.
    records = [(r, r.performed_on) for r in subcontractor_records() if r.performed_on]
    seen: set[str] = set()
    details = []
    for r, on in records:  # the latest record of each subcontractor
        if r.subcontractor.casefold() in seen:
            continue
        seen.add(r.subcontractor.casefold())
        line = _("%(what)s: %(who)s, %(day)s (report: %(name)s)") % {
            "what": r.record_label,
            "who": r.subcontractor,
            "day": day(on),
            "name": r.name,
        }
        details.append(line + (" " + _("(more than 12 months ago)") if on < since else ""))
    recent = [on for _r, on in records if on >= since]
    if recent:
        return met(
            ngettext(
                "%(n)d audit or visit of a subcontractor in the last 12 months, each with its "
                "report; the latest on %(day)s.",
                "%(n)d audits or visits of subcontractors in the last 12 months, each with its "
                "report; the latest on %(day)s.",
                len(recent),
            )
            % {"n": len(recent), "day": day(recent[0])},
            *details,
        )
    declared = current_declaration("L3")
    if (
        declared is not None
        and declared.choice == Choice.NOT_NEEDED
        and (not records or records[0][1] <= timezone.localtime(declared.recorded_at).date())
    ):
        return met(
            _(
                "No audit or visit of a subcontractor recorded since %(day)s, when the practice "
                "declared it has no subcontractor to check."
            )
            % {"day": day(declared.recorded_at)},
            *details,
        )
    action = _(
        "Record each security audit or visit of a subcontractor on this measure: the "
        "subcontractor, the date and the report. A signed report of this register does not "
        "prove it."
    )
    if records:
        return not_met(
            _("The latest audit or visit of a subcontractor was on %(day)s: over 12 months ago.")
            % {"day": day(records[0][1])},
            action,
            *details,
        )
    return not_met(_("No audit or visit of a subcontractor recorded."), action)
