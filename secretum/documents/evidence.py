"""Evidence of the antivirus (E2), for the register: live, it asks the ClamAV daemon that scans
every document (documents/services.py) how old its signature database is."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.compliance.evidence import Evidence, Proof, day, evidence, met, not_met
from secretum.lib import clamav


def assess(found: clamav.Version | None, now: dt.datetime) -> Evidence:
    """E2's verdict from clamd's VERSION answer (None: clamd did not answer)."""
    socket = settings.SECRETUM_CLAMD_SOCKET
    if found is None:
        return not_met(
            _("The antivirus scanner (clamd) does not answer at %(socket)s: uploads are refused.")
            % {"socket": socket},
            _("Install and start Debian's clamav-daemon, or set SECRETUM_CLAMD_SOCKET."),
        )
    age = found.age(now)
    if found.database_date is None or age is None:
        return not_met(
            _("ClamAV %(engine)s runs, but reports no official signature database.")
            % {"engine": found.engine},
            _("Let freshclam download the signatures (clamav-freshclam), then restart clamd."),
        )
    limit = settings.SECRETUM_SIGNATURES_MAX_AGE_DAYS
    summary = _(
        "ClamAV %(engine)s scans every document; its signatures (version %(version)s) date "
        "from %(date)s."
    ) % {"engine": found.engine, "version": found.database, "date": day(found.database_date)}
    if age > dt.timedelta(days=limit):
        return not_met(
            summary + " " + _("They are older than %(days)d days.") % {"days": limit},
            _("Check that freshclam runs and reaches the signature mirrors."),
        )
    return met(summary)


@evidence("E2", proof=Proof.LIVE)
def antivirus_signatures() -> Evidence:
    try:
        found: clamav.Version | None = clamav.version(settings.SECRETUM_CLAMD_SOCKET)
    except clamav.ScannerUnavailable:
        found = None
    return assess(found, timezone.now())


@evidence("D4", proof=Proof.LIVE)
def intake_folder_empty() -> Evidence:
    """D4: the scan intake folder holds no file left longer than the set time."""
    from secretum.documents import intake

    folder = intake.intake_folder()
    if folder is None:
        return not_met(
            _("No scan intake folder is set: scans may be left on a shared folder."),
            _(
                "Set SECRETUM_INTAKE_DIR to the scanner's folder and run "
                "'secretum documents intake --every 60'."
            ),
        )
    if not folder.is_dir():
        return not_met(
            _("The scan intake folder %(folder)s does not exist.") % {"folder": folder},
            _("Create it, or correct SECRETUM_INTAKE_DIR."),
        )
    old = intake.left_too_long(folder)
    if old:
        return not_met(
            _("%(n)d files have been left in the scan intake folder for more than %(m)d minutes.")
            % {"n": len(old), "m": settings.SECRETUM_INTAKE_WARN_MINUTES},
            _("Run 'secretum documents intake' and remove what it cannot import."),
            *old,
        )
    return met(
        _("The scan intake folder %(folder)s holds no file older than %(m)d minutes.")
        % {"folder": folder, "m": settings.SECRETUM_INTAKE_WARN_MINUTES}
    )
