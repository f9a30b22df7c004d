"""Live evidence of the maintenance log's measures (K1, E3), for the measures register."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from secretum.compliance.declarations import current_declaration
from secretum.compliance.evidence import Evidence, Proof, day, evidence, met, not_met
from secretum.compliance.models import Choice
from secretum.maintenance.models import MaintenanceEntry

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
