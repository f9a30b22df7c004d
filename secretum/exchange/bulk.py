"""The whole practice as FHIR Bulk Data NDJSON (L1, L2; E7, M3): one file per resource type,
each encrypted with age, and a manifest in the shape of the Bulk Data ``$export`` manifest
(https://hl7.org/fhir/uv/bulkdata/export.html, "Response - Complete Status").

Streamed: patients are read ``batch`` at a time (``clinical.services.practice_charts``) and
each one's resources are written as they are made; only the names of the authors already
written are kept (a Practitioner is written once). Memory does not grow with the practice.

One gate and one audit event for the whole export (CLINICAL_EXPORT, "export", resource
``clinical.Practice``): the format, the encryption and its recipient type, the number of
patients (and of archived ones) and of entries of each kind, and for a plain copy its reason.

Archived records (J1) are exported: the practice's copy is its whole record. Their Patient says
``"active": false``.

The manifest (``manifest.json``) is written in clear: it holds no patient data, only the resource
types, their counts, and the SHA-256 of each file as written, so an import detects a file that
was truncated, swapped or altered before it decrypts anything. It is not signed: an encrypted
file is authenticated by age itself (only the holder of the passphrase or key could make one),
and a plain export is no more protected than its folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from django.utils import timezone

from secretum.access.actor import Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.models import Action
from secretum.clinical.services import Chart, practice_charts, practice_size
from secretum.crypto import age
from secretum.crypto.sealing import Delivery, Kind, Mode
from secretum.exchange import fhir

FORMAT = "fhir-r4-ndjson"
MANIFEST = "manifest.json"
REQUEST = "secretum export --format fhir"
# The files, in the order the manifest lists them.
TYPES = (
    "Patient", "Condition", "AllergyIntolerance", "MedicationStatement", "Observation",
    "Encounter", "Composition", "Immunization", "Practitioner",
)  # fmt: skip


@dataclass
class BulkExported:
    written: int  # bytes, every file
    encryption: str
    passphrase: str | None  # generated: to be shown once, never kept
    patients: int = 0
    archived: int = 0
    altered: int = 0  # records altered outside Secretum, exported as they stand
    counts: dict[str, int] = field(default_factory=dict)  # resources of each type


class _Hashing:
    """A file that counts and hashes what is written to it (the manifest's SHA-256)."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.stream.write(data)


@dataclass
class _Output:
    url: str
    file: _Hashing
    encrypting: age.Encrypting | None
    count: int = 0

    def write(self, line: bytes) -> None:
        self.count += 1
        if self.encrypting is None:
            self.file.write(line)
        else:
            self.encrypting.write(line)


def file_name(rtype: str, encrypted: bool) -> str:
    return f"{rtype}.ndjson" + (".age" if encrypted else "")


def _new_file(path: Path) -> BinaryIO:
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")


# A Bundle's reference, as ``json.dumps(..., separators=(",", ":"))`` writes it.
_URN = re.compile(r'"reference":"urn:uuid:([0-9a-f-]{36})"')


def chart_lines(chart: Chart) -> Iterator[tuple[dict[str, Any], str]]:
    """A chart's resources, each with its NDJSON line: the Bundle's ``urn:uuid:`` references
    made NDJSON's ``Type/id`` ones (rewritten in the JSON text: walking every resource's tree
    cost more than the rest of the export)."""
    made = fhir.resources(chart)
    if chart.archived:
        made[0]["active"] = False
    types = {r["id"]: r["resourceType"] for r in made}

    def relative(match: re.Match[str]) -> str:
        rid = match[1]
        return f'"reference":"{types.get(rid, "Practitioner")}/{rid}"'

    for resource in made:
        line = json.dumps(resource, ensure_ascii=False, separators=(",", ":"))
        yield resource, _URN.sub(relative, line)


def export_practice(
    actor: Actor,
    folder: Path,
    *,
    recipient: str = "",
    plain_reason: str | None = None,
    detail: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 200,
) -> BulkExported:
    """Write every patient's record into ``folder`` (an existing, empty folder) as Bulk Data
    NDJSON and its manifest: encrypted for ``recipient`` (an age public key) when given, else
    under a new passphrase returned once; in clear only with ``plain_reason``. ``progress``
    is told (patients done, total) after each patient."""
    delivery = Delivery.choose(recipient=recipient, plain_reason=plain_reason)
    target = None if delivery.mode is Mode.PLAIN else delivery.target
    what = {**(detail or {}), "format": FORMAT, **delivery.audit_detail(Kind.JSON)}
    done = BulkExported(0, delivery.encryption(Kind.JSON), delivery.passphrase or None)
    outputs: dict[str, _Output] = {}
    streams: list[BinaryIO] = []

    def output(rtype: str) -> _Output:
        if rtype not in outputs:
            url = file_name(rtype, target is not None)
            stream = _new_file(folder / url)
            streams.append(stream)
            hashing = _Hashing(stream)
            outputs[rtype] = _Output(
                url,
                hashing,
                None if target is None else age.Encrypting(cast(BinaryIO, hashing), target),
            )
        return outputs[rtype]

    started = timezone.now()
    try:
        with guarded(
            actor, Permission.PRACTICE_MOVE, Action.EXPORT, "clinical.Practice", detail=what
        ) as event:
            total = practice_size()
            authors: set[str] = set()
            entries: dict[str, int] = {}
            for chart in practice_charts(event, batch):
                done.patients += 1
                done.archived += chart.archived
                done.altered += chart.altered
                for kind, rows in chart.entries.items():
                    entries[kind] = entries.get(kind, 0) + len(rows)
                for resource, line in chart_lines(chart):
                    if resource["resourceType"] == "Practitioner":
                        if resource["id"] in authors:
                            continue
                        authors.add(resource["id"])
                    output(resource["resourceType"]).write(line.encode() + b"\n")
                if progress is not None:
                    progress(done.patients, total)
            event.detail.update(patients=done.patients, archived=done.archived, entries=entries)
        for out in outputs.values():
            if out.encrypting is not None:
                out.encrypting.close()
    finally:
        for stream in streams:
            stream.close()
    done.counts = {t: outputs[t].count for t in TYPES if t in outputs}
    done.written = sum(out.file.size for out in outputs.values())
    manifest = _manifest(started, [outputs[t] for t in TYPES if t in outputs], done)
    with _new_file(folder / MANIFEST) as stream:
        done.written += stream.write(manifest)
    return done


def _manifest(started: dt.datetime, outputs: list[_Output], done: BulkExported) -> bytes:
    manifest = {
        "transactionTime": started.isoformat(timespec="seconds"),
        "request": REQUEST,
        "requiresAccessToken": False,
        "output": [
            {"type": out.url.split(".", 1)[0], "url": out.url, "count": out.count}
            for out in outputs
        ],
        "error": [],
        # Secretum's own: what the import checks before it decrypts anything.
        "extension": {
            "secretum": {
                "format": FORMAT,
                "encryption": done.encryption,
                "patients": done.patients,
                "sha256": {out.url: out.file.sha256.hexdigest() for out in outputs},
                "bytes": {out.url: out.file.size for out in outputs},
            }
        },
    }
    return json.dumps(manifest, indent=2).encode() + b"\n"
