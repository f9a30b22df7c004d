"""Making and checking backups (I1, I4): ``secretum backup create`` and ``secretum backup verify``.

A backup is written under a temporary name (``.NAME.partial``, hidden, without the ``.scbk``
ending), flushed to disk (fsync), then renamed and its folder synced: a process killed on the
way leaves only a partial file, which no listing takes for a backup and ``verify`` refuses as
truncated (it has no signed manifest).
"""

from __future__ import annotations

import datetime as dt
import io
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from secretum.access.actor import Actor
from secretum.audit.log import record_event
from secretum.audit.models import Action
from secretum.backup import archive, snapshot
from secretum.backup.archive import BackupError
from secretum.backup.models import BackupRecord
from secretum.backup.progress import Progress

SUFFIX = ".scbk"
PREFIX = "secretum-backup-"


@dataclass(frozen=True)
class Made:
    path: Path
    size: int
    signed: dict[str, Any]  # {"manifest": ..., "signature": ...}
    at: dt.datetime

    @property
    def tables(self) -> dict[str, int]:
        return dict(self.signed["manifest"]["tables"])


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup_name(at: dt.datetime) -> str:
    return f"{PREFIX}{at.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}{SUFFIX}"


def create(folder: Path | None = None, *, scheduled: bool = False, progress: bool = True) -> Made:
    """I1, I4: a consistent, compressed, encrypted and signed backup of the instance in
    ``folder`` (default SECRETUM_BACKUP_DIR); recorded, a failure too."""
    made = take(folder, scheduled=scheduled, progress=progress)
    record(made, scheduled=scheduled)
    return made


def take(folder: Path | None = None, *, scheduled: bool = False, progress: bool = True) -> Made:
    """The backup file of :func:`create`, not yet recorded (a failure is): ``secretum upgrade``
    records it only once it knows which database keeps the record, so that a rollback to this
    very backup loses no audit event the witness has seen (D2)."""
    folder = Path(folder or settings.SECRETUM_BACKUP_DIR)
    at = timezone.now()
    try:
        return _create(folder, at, progress)
    except Exception as exc:
        BackupRecord.objects.create(
            kind=BackupRecord.Kind.CREATE, ok=False, at=at, scheduled=scheduled,
            path=str(folder), message=str(exc)[:1000],
        )  # fmt: skip
        raise


def record(made: Made, *, scheduled: bool = False) -> None:
    """Record a backup that :func:`take` made: its row for the register, and its export in the
    audit log."""
    BackupRecord.objects.create(
        kind=BackupRecord.Kind.CREATE, ok=True, at=made.at, scheduled=scheduled,
        path=str(made.path), size=made.size, manifest=made.signed,
    )  # fmt: skip
    # D1: every record left the database in this file (encrypted): an export, in the audit log.
    record_event(
        Actor.system(),
        Action.EXPORT,
        "backup.Backup",
        resource_ref=made.path.name,
        detail={"bytes": made.size, "tables": len(made.tables), "scheduled": scheduled},
    )


def _create(folder: Path, at: dt.datetime, progress: bool) -> Made:
    inst = settings.INSTANCE
    backup_key, instance_id = snapshot.keys_of(inst)
    signer = snapshot.signing_key(inst.home)
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"The backup folder {folder} cannot be made ({exc.strerror}).") from None
    final = folder / backup_name(at)
    partial = folder / f".{final.name}.partial"
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise BackupError(f"The backup folder {folder} is not writable ({exc.strerror}).") from None
    try:
        with os.fdopen(fd, "wb") as out:
            header = {
                "instance": instance_id,
                "created_at": at.isoformat(timespec="seconds"),
                "engine": snapshot.engine(),
            }
            writer = archive.Writer(out, backup_key, header)
            with snapshot.database(folder) as (name, source, counts, size):
                bar = Progress("backup", size) if progress else None
                level = archive.level_for(source, size) if size else None
                writer.add(name, source, bar or (lambda n: None), level)
            writer.add(snapshot.CONFIG_PART, io.BytesIO(snapshot.config_tar(inst.home)))
            signed = writer.finish({"tables": counts}, signer)
            out.flush()
            os.fsync(out.fileno())
            if bar:
                bar.end()
        os.rename(partial, final)
        _sync_folder(folder)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Made(final, final.stat().st_size, signed, at)


def check_instance(path: Path) -> None:
    """Refuse, before reading it through, a backup that names another instance."""
    header = archive.read_header(path)
    _, ours = snapshot.keys_of(settings.INSTANCE)
    if header.get("instance") != ours:
        raise BackupError(
            f"{path} is a backup of another instance ({str(header.get('instance'))[:12]}…), not "
            f"of this one ({ours[:12]}…)."
        )


def verify(path: Path, into: Path | None = None, progress: bool = True) -> archive.Reading:
    """I4: the signature of the manifest and the SHA-256 of every part, every chunk
    authenticated; one ``BackupError`` sentence for whatever is wrong."""
    if not path.is_file():
        raise BackupError(f"{path} is not a file.")
    check_instance(path)
    backup_key, _ = snapshot.keys_of(settings.INSTANCE)
    public = snapshot.public_key(settings.INSTANCE.home)
    bar = Progress("verify", path.stat().st_size) if progress else None
    reading = archive.read(path, backup_key, lambda _m: public, into, bar or _ignore)
    if bar:
        bar.end()
    return reading


def _ignore(_n: int) -> None:
    pass


def listed(folder: Path) -> list[Path]:
    """The complete backups of a folder (never a partial one), oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"{PREFIX}*{SUFFIX}") if p.is_file())
