"""Live evidence of the backups (I1, I3, I4) and of business continuity (I5), for the measures
register. A failing check is what the managers see on their home page and in the daily summary
(``compliance.reminders``)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.backup import archive, snapshot
from secretum.backup.models import BackupRecord
from secretum.backup.schedule import backup_is_fresh, last_good
from secretum.compliance.evidence import Evidence, Proof, day, evidence, met, not_met


def _failed_since(at: dt.datetime | None) -> BackupRecord | None:
    """The latest scheduled backup or copy that failed after ``at`` (or ever, without one)."""
    failed = BackupRecord.objects.filter(
        kind__in=(BackupRecord.Kind.CREATE, BackupRecord.Kind.COPY), ok=False, scheduled=True
    )
    if at is not None:
        failed = failed.filter(at__gt=at)
    return failed.order_by("-at").first()


@evidence("I1", proof=Proof.LIVE)
def regular_backups() -> Evidence:
    """I1: a good backup younger than SECRETUM_BACKUP_MAX_AGE_HOURS (its file still there), and
    no scheduled backup or copy failed since."""
    hours = settings.SECRETUM_BACKUP_MAX_AGE_HOURS
    good = last_good()
    failed = _failed_since(good.at if good else None)
    action = _(
        "Make a backup now ('secretum backup create'), check that 'secretum serve' runs the daily "
        "backup, and that the backup folder and the second target are writable."
    )
    if failed is not None:
        return not_met(
            _("The scheduled backup or its copy failed on %(at)s: %(problem)s")
            % {"at": day(failed.at), "problem": failed.message[:200]},
            action,
        )
    if not backup_is_fresh():
        return not_met(_("No good backup younger than %(hours)d hours.") % {"hours": hours}, action)
    assert good is not None  # noqa: S101  (backup_is_fresh found it)
    every = settings.SECRETUM_BACKUP_EVERY
    copy = settings.SECRETUM_BACKUP_COPY_TO
    return met(
        _("Latest backup made on %(at)s (%(mb).1f MB); no backup or copy failed since.")
        % {"at": day(good.at), "mb": good.size / 1e6},
        _("Scheduled every %(hours)d h by 'secretum serve'.") % {"hours": every // 3600}
        if every
        else _("No scheduled backup: backups are made by hand or by a timer."),
        _("Copied to %(target)s.") % {"target": copy}
        if copy
        else _("No second target (SECRETUM_BACKUP_COPY_TO) is set."),
    )


def _latest_drill() -> BackupRecord | None:
    """The latest restore drill, passed or failed: I3 and I5 judge the same one."""
    return BackupRecord.objects.filter(kind=BackupRecord.Kind.DRILL).order_by("-at").first()


@evidence("I3", proof=Proof.LIVE)
def restore_drill() -> Evidence:
    """I3: a restore drill that passed within SECRETUM_BACKUP_DRILL_DAYS days (default 90)."""
    days = settings.SECRETUM_BACKUP_DRILL_DAYS
    latest = _latest_drill()
    action = _(
        "Run a restore drill: 'secretum backup verify FILE --restore-drill' on the latest backup."
    )
    if latest is None:
        return not_met(_("No restore drill has been run."), action)
    if not latest.ok:
        return not_met(
            _("The latest restore drill, on %(at)s, failed: %(problem)s")
            % {"at": day(latest.at), "problem": latest.message[:200]},
            action,
        )
    if timezone.now() - latest.at > dt.timedelta(days=days):
        return not_met(
            _("The latest restore drill passed on %(at)s, more than %(days)d days ago.")
            % {"at": day(latest.at), "days": days},
            action,
        )
    return met(
        _("Restore drill passed on %(at)s: %(findings)s.")
        % {"at": day(latest.at), "findings": latest.message[:300]}
    )


@evidence("I4", proof=Proof.LIVE)
def protected_backups() -> Evidence:
    """I4: the latest backup is encrypted (AES-256-GCM, under the backup key, not the
    database's) and its manifest's Ed25519 signature verifies under this instance's key."""
    good = last_good()
    action = _("Make a backup with 'secretum backup create' and check it with 'backup verify'.")
    if good is None or not good.manifest:
        return not_met(_("No backup has been made."), action)
    body = good.manifest.get("manifest", {})
    try:
        public = snapshot.public_key(settings.INSTANCE.home)
        public.verify(base64.b64decode(good.manifest["signature"]), archive.canonical(body))
        header = body["header"]
    except (InvalidSignature, KeyError, TypeError, ValueError, OSError):
        return not_met(
            _("The manifest of the backup of %(at)s does not verify under this instance's key.")
            % {"at": day(good.at)},
            action,
        )
    if header.get("format") != archive.FORMAT or not Path(good.path).is_file():
        return not_met(
            _("The backup of %(at)s is not in an encrypted format or its file is gone.")
            % {"at": day(good.at)},
            action,
        )
    return met(
        _(
            "The backup of %(at)s is encrypted (AES-256-GCM, under a backup key apart from the "
            "database's) and its manifest carries a valid Ed25519 signature of this instance."
        )
        % {"at": day(good.at)}
    )


@evidence("I5", proof=Proof.LIVE)
def continuity() -> Evidence:
    """I5, its software part: the latest backup can be served read-only on a laptop
    (``secretum serve --read-only --from-backup``, ``backup.continuity``) because the restore it
    rests on passed a drill within SECRETUM_BACKUP_DRILL_DAYS days; the continuity copies merged
    back so far, as details. The plan itself and its yearly exercise are the practice's to
    declare (``also_declare``; docs/continuity.md)."""
    from secretum.audit.models import AuditEvent
    from secretum.backup.continuity import RESOURCE

    days = settings.SECRETUM_BACKUP_DRILL_DAYS
    drill = _latest_drill()  # I3's own: a latest drill that failed is no proof either
    action = _(
        "Run a restore drill ('secretum backup verify FILE --restore-drill') and exercise the "
        "continuity plan: serve the latest backup read-only on a laptop, then merge its audit "
        "log ('secretum audit merge-continuity')."
    )
    if drill is None or not drill.ok or timezone.now() - drill.at > dt.timedelta(days=days):
        return not_met(
            _(
                "No restore drill passed within %(days)d days: nothing shows that the latest "
                "backup can be served read-only while the server is down."
            )
            % {"days": days},
            action,
        )
    merges = AuditEvent.objects.filter(resource=RESOURCE).order_by("-seq")
    latest = merges.first()
    details = (
        (
            _("Continuity copies merged back into the audit log: %(n)d, the latest on %(at)s.")
            % {"n": merges.count(), "at": day(latest.at)},
        )
        if latest is not None
        else ()
    )
    return met(
        _(
            "The latest backup restores (drill passed on %(at)s): a continuity copy serves it "
            "read-only on any laptop ('secretum serve --read-only --from-backup'), every access "
            "audited and merged back afterwards."
        )
        % {"at": day(drill.at)},
        *details,
    )
