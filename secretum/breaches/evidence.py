"""Live evidence of the breach register's measure (D3), for the measures register."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from secretum.breaches.entries import BREACH_HOURS
from secretum.breaches.models import Breach
from secretum.compliance.evidence import Evidence, Proof, day, evidence, met, not_met


@evidence("D3", proof=Proof.LIVE)
def breach_procedure() -> Evidence:
    """D3: the procedure is shown to every user (help menu, charter) and no breach has passed
    its 72-hour deadline without a decision."""
    late = [
        b
        for b in Breach.objects.filter(status=Breach.Status.OPEN)
        if b.aware_at + dt.timedelta(hours=BREACH_HOURS) < timezone.now()
    ]
    open_count = Breach.objects.filter(status=Breach.Status.OPEN).count()
    if late:
        return not_met(
            ngettext(
                "%(n)d suspected breach is past its 72-hour deadline without a decision.",
                "%(n)d suspected breaches are past their 72-hour deadline without a decision.",
                len(late),
            )
            % {"n": len(late)},
            _(
                "Notify the data protection authority now, with the reasons for the delay, or "
                "record why the breach is unlikely to result in a risk (GDPR art. 33)."
            ),
            *(_("aware since %(at)s") % {"at": day(b.aware_at)} for b in late),
        )
    return met(
        ngettext(
            "Breach procedure shown to every user (help menu); breach register in use, "
            "%(n)d open entry, none past the 72-hour deadline.",
            "Breach procedure shown to every user (help menu); breach register in use, "
            "%(n)d open entries, none past the 72-hour deadline.",
            open_count,
        )
        % {"n": open_count}
    )
