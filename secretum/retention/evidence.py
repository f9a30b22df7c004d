"""Live evidence of J2 (destroy obsolete records securely), for the measures register."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.accounts.models import RETENTION_YEARS_MAX
from secretum.accounts.services import practice_settings
from secretum.compliance.evidence import Evidence, Proof, evidence, met, not_met
from secretum.retention import certificates, contact
from secretum.retention.models import DestructionCertificate


@evidence("J2", proof=Proof.LIVE)
def destruction() -> Evidence:
    """J2: no record kept past the law's 50 years; every destruction certificate verifies; no
    destruction older than the key-store expiry still waits for the key rotation that makes its
    old copies unreadable."""
    current = practice_settings()
    if contact.due(RETENTION_YEARS_MAX).exists():
        return not_met(
            _("Records are kept more than 50 years after the last contact, past the law's limit."),
            _("Approve their destruction on the page 'Records due for destruction'."),
        )
    found = list(DestructionCertificate.objects.all())
    forged = [c for c in found if not certificates.verify(c).ok]
    if forged:
        return not_met(
            _("%(n)d destruction certificates do not match their signature.") % {"n": len(forged)},
            _("Examine them: the database was altered outside Secretum."),
        )
    late = timezone.now() - dt.timedelta(days=current.key_backup_expiry_days)
    waiting = [c for c in found if c.approved_at < late and not certificates.readability(c).until]
    if waiting:
        return not_met(
            _("%(n)d destroyed records are still readable in old backups: the key was not rotated.")
            % {"n": len(waiting)},
            _("Run 'secretum keys rotate', then discard the key-store backups made before it."),
        )
    due = contact.due(current.retention_years).count()
    return met(
        _("%(n)d records destroyed, each certificate signed and verified.") % {"n": len(found)},
        _("Kept %(years)d years after the last contact; %(due)d records due for destruction.")
        % {"years": current.retention_years, "due": due},
    )
