"""Live evidence of the archive (J1), for the register: it reads the practice's archive period,
the last run of `secretum records archive` (its audit event) and the records now, archived,
active and due."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.compliance.evidence import Evidence, Proof, day, evidence, met, not_met

# The run is daily (`secretum serve`): one older than this has stopped.
RUN_LATE_DAYS = 2


@evidence("J1", proof=Proof.LIVE)
def archive_runs() -> Evidence:
    """J1: records without contact for the practice's period are archived by a daily run (its
    last one at most two days ago); an archived record is out of every search and list, opened
    only by a practitioner with a reason (audited, time-limited, reviewed), restored with one."""
    from secretum.patients import archive
    from secretum.patients.models import Patient

    years = archive.archive_years()
    last = archive.last_run()
    if last is None:
        return not_met(
            _("Records are archived after %(n)d years without contact; the archive never ran.")
            % {"n": years},
            _("Run 'secretum records archive' daily ('secretum serve' does)."),
        )
    at, detail = last
    archived = Patient.objects.filter(archived_at__isnull=False).count()
    active = Patient.objects.filter(archived_at__isnull=True).count()
    due = len(archive.due_uids(archive.cutoff(years)))
    said = _(
        "Records are archived after %(n)d years without contact (practice setting). Last run "
        "%(last)s: %(done)d archived. Now %(archived)d archived records, %(active)d active, "
        "%(due)d due. An archived record is in no search or list; a practitioner opens it "
        "with a reason (audited, reviewed by the auditor) or restores it."
    ) % {
        "n": years,
        "last": day(at),
        "done": int(detail.get("archived", 0)),
        "archived": archived,
        "active": active,
        "due": due,
    }
    if timezone.now() - at > dt.timedelta(days=RUN_LATE_DAYS):
        return not_met(
            said, _("The daily run has stopped: run 'secretum records archive' (serve does).")
        )
    return met(said)
