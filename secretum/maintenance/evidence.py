"""Live evidence of the maintenance log's measures (K1, E3) and of the maintenance access of
outside technicians (K2), for the measures register."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from secretum.access.policy import Role
from secretum.compliance.declarations import current_declaration
from secretum.compliance.evidence import Evidence, Proof, day, evidence, met, not_met
from secretum.compliance.models import Choice
from secretum.crypto.rows import intact
from secretum.maintenance.models import MaintenanceEntry, MaintenanceWindow
from secretum.maintenance.windows import LONGEST, TECHNICIAN_HOURS

WINDOW_DAYS = 365  # the practice's last 12 months


def _since() -> dt.datetime:
    return timezone.now() - dt.timedelta(days=WINDOW_DAYS)


@evidence("K1", proof=Proof.LIVE)
def maintenance_log() -> Evidence:
    """K1: the log is in use (an intervention within the last 12 months), or the practice
    declared, within the last 12 months, that none was needed (measure K1: "not needed")."""
    since = _since()
    recent = MaintenanceEntry.objects.filter(intervened_at__gte=since)
    count = recent.count()
    if count:
        latest = recent.order_by("-intervened_at").values_list("intervened_at", flat=True)[0]
        return met(
            ngettext(
                "%(n)d intervention recorded in the maintenance log in the last 12 months, the "
                "latest on %(at)s; entries are never changed nor deleted.",
                "%(n)d interventions recorded in the maintenance log in the last 12 months, the "
                "latest on %(at)s; entries are never changed nor deleted.",
                count,
            )
            % {"n": count, "at": day(latest)}
        )
    declared = current_declaration("K1")  # None when withdrawn
    if (
        declared is not None
        and declared.choice == Choice.NOT_NEEDED
        and declared.recorded_at >= since
    ):
        return met(
            _(
                "No intervention recorded in the last 12 months; on %(at)s the practice declared "
                "that none was needed."
            )
            % {"at": day(declared.recorded_at)}
        )
    return not_met(
        _("No maintenance intervention recorded in the last 12 months."),
        _(
            "Record every intervention on the practice's equipment in the maintenance log; if "
            "none was needed, declare it (measure K1, not needed, with the reason)."
        ),
    )


@evidence("E3", proof=Proof.LIVE)
def workstation_consent() -> Evidence:
    """E3: the share of the last 12 months' interventions on a user's workstation made with that
    user's consent beforehand. The log refuses one without it; a row without it was written
    past Secretum (a corrected entry counts as its correction)."""
    on_workstations = MaintenanceEntry.objects.filter(
        intervened_at__gte=_since(), on_workstation=True, corrected_by__isnull=True
    )
    total = on_workstations.count()
    without = list(
        on_workstations.filter(consent=False).order_by("intervened_at").values_list("id", flat=True)
    )
    said = ngettext(
        "%(ok)d of %(n)d intervention on a user's workstation in the last 12 months was made "
        "with the user's consent beforehand.",
        "%(ok)d of %(n)d interventions on a user's workstation in the last 12 months were made "
        "with the user's consent beforehand.",
        total,
    ) % {"ok": total - len(without), "n": total}
    if without:
        return not_met(
            said,
            _(
                "The maintenance log refuses an intervention without consent: these entries were "
                "written past Secretum. Look at them, and at the audit log."
            ),
            *(_("entry %(n)d") % {"n": n} for n in without[:10]),
        )
    return met(said + " " + _("The maintenance log refuses one without it."))


# The sweep closes a window within a minute of its end (`secretum serve`); later, it is not running.
SWEEP_LATE = dt.timedelta(minutes=5)


def _access_problems(now: dt.datetime) -> list[str]:
    """What the windows and the technicians' accounts say against K2: each a sentence."""
    problems = []
    windows = list(MaintenanceWindow.objects.all())
    longer = [w for w in windows if w.ends_at - w.starts_at > LONGEST]
    if longer:
        problems.append(
            ngettext(
                "%(n)d maintenance window lasts more than %(h)d hours: written past Secretum.",
                "%(n)d maintenance windows last more than %(h)d hours: written past Secretum.",
                len(longer),
            )
            % {"n": len(longer), "h": TECHNICIAN_HOURS}
        )
    late = [w for w in windows if w.closed_at is None and w.ends_at <= now - SWEEP_LATE]
    if late:
        problems.append(
            ngettext(
                "%(n)d maintenance window ended more than 5 minutes ago and is not closed yet: "
                "is `secretum serve` running?",
                "%(n)d maintenance windows ended more than 5 minutes ago and are not closed yet: "
                "is `secretum serve` running?",
                len(late),
            )
            % {"n": len(late)}
        )
    with_window = {w.account_id for w in windows}
    strays = []
    for user in get_user_model().objects.filter(role=Role.TECHNICIAN).order_by("username"):
        period = (user.role_ends_at - user.role_starts_at) if user.role_ends_at else None
        if user.pk not in with_window or not intact(user) or period is None or period > LONGEST:
            strays.append(user.username)
    if strays:
        problems.append(
            _(
                "Outside technicians' accounts without a window of at most %(h)d hours, or "
                "altered outside Secretum: %(names)s."
            )
            % {"h": TECHNICIAN_HOURS, "names": ", ".join(strays)}
        )
    unsupervised = MaintenanceEntry.objects.filter(
        outside=True, supervisor__isnull=True, corrected_by__isnull=True
    ).count()
    if unsupervised:
        problems.append(
            ngettext(
                "%(n)d outside company's intervention in the maintenance log has no supervisor "
                "of the practice: written past Secretum.",
                "%(n)d outside companies' interventions in the maintenance log have no "
                "supervisor of the practice: written past Secretum.",
                unsupervised,
            )
            % {"n": unsupervised}
        )
    return problems


@evidence("K2", proof=Proof.LIVE)
def maintenance_access() -> Evidence:
    """K2: an outside technician's access is a window a manager opened, after re-authentication,
    with a purpose and a supervisor of the practice, of at most 8 hours, closed at its end; an
    outside company's intervention in the log has a supervisor. Read from the windows, the
    technicians' (sealed) accounts and the log: open windows, none longer than 8 hours, none
    left open past its end, the last one closed."""
    now = timezone.now()
    problems = _access_problems(now)
    if problems:
        return not_met(
            problems[0],
            _(
                "Look at Users → Maintenance access and at the audit log; make sure `secretum "
                "serve` runs (it closes windows every minute)."
            ),
            *problems[1:],
        )
    open_now = MaintenanceWindow.objects.filter(
        closed_at__isnull=True, starts_at__lte=now, ends_at__gt=now
    ).count()
    said = ngettext(
        "%(n)d maintenance access of an outside technician open now; none can last more than "
        "%(h)d hours, each is opened by a manager after re-authentication with a purpose and a "
        "supervisor of the practice, and closes at its end.",
        "%(n)d maintenance accesses of outside technicians open now; none can last more than "
        "%(h)d hours, each is opened by a manager after re-authentication with a purpose and a "
        "supervisor of the practice, and closes at its end.",
        open_now,
    ) % {"n": open_now, "h": TECHNICIAN_HOURS}
    last = MaintenanceWindow.objects.filter(closed_at__isnull=False).order_by("-closed_at").first()
    if last is None or last.closed_at is None:
        return met(said, _("No maintenance access closed yet."))
    return met(
        said,
        _("The latest closed on %(at)s, %(how)s.")
        % {"at": day(last.closed_at), "how": MaintenanceWindow.Closing(last.closing).label},
    )
