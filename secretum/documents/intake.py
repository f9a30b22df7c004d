"""The scan intake (D4): the folder where the practice's scanner drops files, emptied into
Secretum (``secretum documents intake [--every N]``).

Each file is scanned by clamd (E2), attached to the patient its name names, or put in the unfiled
tray (sealed under the key file) when it names none, then removed from the folder: overwritten
with zeros, flushed to disk, then unlinked. (On a journaling or copy-on-write file system, or an
SSD, an overwrite does not reach every earlier copy of the blocks: keep the folder on an
encrypted volume.) A file is left where it is when it cannot be taken (not a PDF, PNG or JPEG,
too large, still being written, or clamd down); one left longer than
SECRETUM_INTAKE_WARN_MINUTES is reported, and the register's D4 is not met while any is.

File names: the patient's national number (11 digits, dots and dashes allowed) or their
reference (uid) at the start, then anything: ``85.07.31-003.12 lettre.pdf``,
``4f0c…-…_scan.png``. Any other name goes to the unfiled tray.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError

from secretum.access.actor import Actor, Purpose
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.models import INFECTED, Action
from secretum.crypto import keyring
from secretum.crypto.fields import uid_text
from secretum.documents import services, types
from secretum.documents.models import Document, UnfiledDocument
from secretum.lib import clamav, niss
from secretum.patients.models import Patient
from secretum.patients.services import patient_ref_for_niss

log = logging.getLogger("secretum.documents.intake")

SETTLE_SECONDS = 2.0  # a file modified more recently may still be written by the scanner
_NISS = re.compile(r"^(\d{2}[.\-\s]?\d{2}[.\-\s]?\d{2}[.\-\s]?\d{3}[.\-\s]?\d{2})")
_UID = re.compile(r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})")


@dataclass
class IntakeReport:
    filed: int = 0
    unfiled: int = 0
    quarantined: int = 0
    left: list[str] = field(default_factory=list)  # names left in the folder, and why
    old: list[str] = field(default_factory=list)  # names left longer than the warning time


def intake_folder() -> Path | None:
    value = str(settings.SECRETUM_INTAKE_DIR or "").strip()
    return Path(value) if value else None


def _patient_ref(name: str) -> str | None:
    """The patient the file's name names (by national number or reference), or None."""
    found = _UID.match(name)
    if found:
        ref = found.group(1).lower()
        return ref if Patient.objects.filter(uid=uuid.UUID(ref)).exists() else None
    found = _NISS.match(name)
    if found:
        try:
            return patient_ref_for_niss(niss.clean(found.group(1)))
        except niss.NissError:
            return None
    return None


def _remove(path: Path) -> None:
    """Overwrite the file with zeros, flush, then unlink it (see the module's note)."""
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.write(b"\0" * size)
        handle.flush()
        os.fsync(handle.fileno())
    path.unlink()


def _file(ref: str, name: str, data: bytes, kind: str, verdict: clamav.Verdict) -> None:
    with guarded(
        Actor.system(Purpose.CARE), Permission.CLINICAL_WRITE, Action.CREATE,
        services.RESOURCE, patient_ref=ref, detail={"source": "intake"},
    ) as event:  # fmt: skip
        patient, key = services.writable_record(ref)
        row = services.store(
            patient, key, event, title=services.clean_title(name), kind=kind, data=data,
            verdict=verdict, author=None, source=Document.Source.INTAKE,
        )  # fmt: skip
        event.resource_ref = uid_text(row)
        if not verdict.clean:
            event.detail.update(problem=INFECTED, signature=row.signature)


def to_tray(name: str, data: bytes, kind: str, verdict: clamav.Verdict) -> str:
    """Put a scanned file in the unfiled tray (documents/tray.py): sealed under the key file, no
    patient yet. Returns its uid."""
    with guarded(
        Actor.system(Purpose.CARE), Permission.CLINICAL_WRITE, Action.CREATE,
        "documents.UnfiledDocument", detail={"source": "intake"},
    ) as event:  # fmt: skip
        row = UnfiledDocument(
            content_type=kind,
            size=len(data),
            status=Document.Status.CLEAN if verdict.clean else Document.Status.QUARANTINED,
            signature=verdict.signature[:200],
        )
        row.title = keyring.seal_secret(services.clean_title(name).encode(), row.aad("title"))
        row.content = keyring.seal_secret(data, row.content_aad())
        row.save()
        event.resource_ref = uid_text(row)
        if not verdict.clean:
            event.detail.update(problem=INFECTED, signature=row.signature)
        return uid_text(row)


def _take(path: Path, report: IntakeReport) -> None:
    name = path.name
    data = path.read_bytes()
    try:
        services.check_size(data)
    except ValidationError as exc:
        report.left.append(f"{name}: {' '.join(exc.messages)}")
        return
    verdict = services.scan(data)  # ValidationError: clamd down, the whole run stops
    kind = types.detect(data)
    if verdict.clean and kind is None:
        report.left.append(f"{name}: not a PDF, PNG or JPEG")
        return
    kind = kind or services.QUARANTINE_TYPE
    ref = _patient_ref(name)
    if ref is None:
        to_tray(name, data, kind, verdict)
        report.unfiled += 1
    else:
        try:
            _file(ref, name, data, kind, verdict)
        except ValidationError as exc:  # the record was altered outside Secretum: left, reported
            report.left.append(f"{name}: {' '.join(exc.messages)}")
            return
        report.filed += 1
    report.quarantined += not verdict.clean
    _remove(path)


def import_folder(folder: Path, now: float | None = None) -> IntakeReport:
    """Import every file of the folder (not its sub-folders, not hidden files)."""
    if not folder.is_dir():
        raise ValidationError(f"the intake folder {folder} does not exist")
    now = time.time() if now is None else now
    report = IntakeReport()
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        if now - path.stat().st_mtime < SETTLE_SECONDS:
            report.left.append(f"{path.name}: still being written")
            continue
        _take(path, report)
    report.old = left_too_long(folder, now)
    for name in report.old:
        log.warning("intake: %s left in %s for more than %d minutes", name, folder,
                    settings.SECRETUM_INTAKE_WARN_MINUTES)  # fmt: skip
    return report


def left_too_long(folder: Path, now: float | None = None) -> list[str]:
    """The files left in the folder longer than SECRETUM_INTAKE_WARN_MINUTES (D4)."""
    now = time.time() if now is None else now
    limit = dt.timedelta(minutes=settings.SECRETUM_INTAKE_WARN_MINUTES).total_seconds()
    return sorted(
        p.name
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.is_file() and now - p.stat().st_mtime > limit
    )
