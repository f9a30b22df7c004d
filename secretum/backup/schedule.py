"""Scheduled backups under ``secretum serve`` (I1): a backup every SECRETUM_BACKUP_EVERY seconds
(default daily), grandfather-father-son retention in the backup folder, a copy to the second
target (SECRETUM_BACKUP_COPY_TO: a folder, or an SFTP server, ``backup.sftp``; never pruned by the
server), and the managers alerted by e-mail
when a backup or its copy fails. Whether a good backup is younger than 48 hours
(``backup_is_fresh``) is what /healthz and the register (I1) read.

Retention keeps, in the backup folder, the newest backup of each of the last KEEP_DAILY days,
KEEP_WEEKLY ISO weeks and KEEP_MONTHLY months (UTC) that hold one; every other complete backup
there is deleted. A partial file (``.NAME.partial``) is left while it is younger than a day (a
backup may be writing it), and deleted after: what a killed backup left.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import role_of
from secretum.access.policy import ROLE_PERMISSIONS, Permission
from secretum.backup import archive, service, sftp
from secretum.backup.archive import BackupError
from secretum.backup.models import BackupRecord
from secretum.lib.practice import practice_name

STALE_PARTIAL = 24 * 3600  # seconds after which a partial file is what a killed backup left


def created_at(path: Path) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(archive.read_header(path)["created_at"])
    except (BackupError, OSError, KeyError, ValueError):
        return None


def to_keep(
    backups: Iterable[tuple[Path, dt.datetime]], daily: int, weekly: int, monthly: int
) -> set[Path]:
    """Grandfather-father-son: the newest backup of each of the newest ``daily`` days,
    ``weekly`` ISO weeks and ``monthly`` months."""
    newest_first = sorted(backups, key=lambda b: b[1], reverse=True)
    keep: set[Path] = set()
    periods: list[tuple[int, Callable[[dt.datetime], object]]] = [
        (daily, lambda at: at.date()),
        (weekly, lambda at: at.isocalendar()[:2]),
        (monthly, lambda at: (at.year, at.month)),
    ]
    for count, period in periods:
        seen: set[object] = set()
        for path, at in newest_first:
            key = period(at.astimezone(dt.UTC))
            if key in seen:
                continue
            if len(seen) >= count:
                break
            seen.add(key)
            keep.add(path)
    return keep


def prune(folder: Path) -> list[Path]:
    """Apply the retention to ``folder``; the backups deleted."""
    dated = [(p, at) for p in service.listed(folder) if (at := created_at(p)) is not None]
    keep = to_keep(
        dated,
        settings.SECRETUM_BACKUP_KEEP_DAILY,
        settings.SECRETUM_BACKUP_KEEP_WEEKLY,
        settings.SECRETUM_BACKUP_KEEP_MONTHLY,
    )
    gone = [p for p, _ in dated if p not in keep]
    stale = timezone.now().timestamp() - STALE_PARTIAL
    gone += [p for p in folder.glob(".*.partial") if p.stat().st_mtime < stale]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def copy(path: Path, target: Path) -> Path:
    """Copy a backup to the second target: a partial name first, fsync, rename; never over an
    existing file (the target may be write-only for the server)."""
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    final = target / path.name
    if final.exists():
        raise BackupError(f"{final} exists already; the server never overwrites a copy.")
    partial = target / f".{path.name}.partial"
    try:
        with open(path, "rb") as src, open(partial, "xb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
            dst.flush()
            os.fsync(dst.fileno())
        os.rename(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def copy_to(path: Path, target: str) -> str:
    """Copy a backup to the second target: a folder, or an SFTP server (``sftp://…``)."""
    remote = sftp.parse(target)
    if remote is None:
        return str(copy(path, Path(target)))
    return sftp.upload(
        path,
        remote,
        Path(settings.SECRETUM_BACKUP_SFTP_KEY),
        Path(settings.SECRETUM_BACKUP_SFTP_KNOWN_HOSTS),
    )


def run_scheduled(to: Path | None = None) -> list[str]:
    """One scheduled run: backup, retention, copy; failures recorded, alerted, then raised."""
    folder = Path(to or settings.SECRETUM_BACKUP_DIR)
    try:
        made = service.create(folder, scheduled=True, progress=False)
    except Exception as exc:
        alert(f"the scheduled backup failed: {exc}")
        raise
    lines = [str(made.path)]
    lines += [f"retention: deleted {p.name}" for p in prune(folder)]
    target = settings.SECRETUM_BACKUP_COPY_TO
    if target:
        at = timezone.now()
        try:
            copied = copy_to(made.path, target)
        except Exception as exc:
            message = f"the copy of {made.path.name} to {target} failed: {exc}"
            BackupRecord.objects.create(
                kind=BackupRecord.Kind.COPY, ok=False, at=at, scheduled=True,
                path=str(target), message=message[:1000],
            )  # fmt: skip
            alert(message)
            raise BackupError(message) from None
        BackupRecord.objects.create(
            kind=BackupRecord.Kind.COPY, ok=True, at=at, scheduled=True,
            path=copied, size=made.size,
        )  # fmt: skip
        lines.append(f"copied to {copied}")
    return lines


def manager_emails() -> list[str]:
    roles = [
        r.value for r, held in ROLE_PERMISSIONS.items() if Permission.COMPLIANCE_MANAGE in held
    ]
    users = get_user_model().objects.filter(is_active=True, role__in=roles)
    return sorted({u.email for u in users if u.email and role_of(u) is not None})


def alert(problem: str) -> bool:
    """E-mail the managers (when outgoing mail is set up): a backup problem, no patient data.
    The register's I1 evidence fails as well, which the managers' home page and daily summary
    show either way."""
    recipients = manager_emails()
    if not settings.SECRETUM_SMTP_HOST or not recipients:
        return False
    send_mail(
        _("Secretum: backup problem at %(practice)s") % {"practice": practice_name()},
        problem + "\n\n" + _("The measures register (I1) shows the state of the backups.") + "\n",
        settings.DEFAULT_FROM_EMAIL,
        recipients,
    )
    return True


def last_good(kind: str = BackupRecord.Kind.CREATE) -> BackupRecord | None:
    return BackupRecord.objects.filter(kind=kind, ok=True).order_by("-at").first()


def backup_is_fresh(now: dt.datetime | None = None) -> bool:
    """G4, I1: a good backup younger than SECRETUM_BACKUP_MAX_AGE_HOURS, its file still there."""
    good = last_good()
    now = now or timezone.now()
    limit = dt.timedelta(hours=settings.SECRETUM_BACKUP_MAX_AGE_HOURS)
    return good is not None and now - good.at <= limit and Path(good.path).is_file()
