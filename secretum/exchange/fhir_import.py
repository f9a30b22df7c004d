"""FHIR R4 into Secretum (L1, L2): one patient's Bundle (``secretum export --patient``), or a
Bulk Data folder (``secretum export`` of the whole practice, ``bulk.py``), in clear or age.

A bulk folder is checked before anything is decrypted or written: its manifest must list its
files with the SHA-256 of each (``extension.secretum.sha256``), and every file must match, so a
file truncated, swapped or altered is refused whole. The files are then read as streams, one
line at a time (a line over ``MAX_LINE`` is reported and skipped, never held): a patient's
resources are taken from each file as they follow one another in the Patient file's order (as
``bulk.py`` writes them); one that names no patient read before it is reported, not imported.

Each patient is all or nothing: any of their resources that cannot be read, or that the services
refuse, leaves the patient out (reported with every reason), so a fixed file can be imported
again. Resource types Secretum does not record are counted in the report and left out without
refusing the patient.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from django.core.exceptions import ValidationError

from secretum.accounts.imported import imported_author
from secretum.clinical.services import ImportedEntry, import_record
from secretum.crypto import age
from secretum.exchange import fhir_read
from secretum.exchange.fhir_read import Unreadable
from secretum.exchange.report import Format, ImportRefused, Report, Secrets
from secretum.lib import niss as niss_lib
from secretum.patients.services import patient_ref_for_niss

MAX_LINE = 1 << 20  # one resource of NDJSON: 1 MiB
MAX_BUNDLE = 64 << 20  # one patient's Bundle: 64 MiB
READ = 64 * 1024
UNKNOWN_AUTHOR = "Unknown author (imported)"
_TOO_LONG = object()


def _parse(line: bytes) -> dict[str, Any]:
    try:
        value = json.loads(line, parse_float=Decimal)
    except (ValueError, RecursionError):
        raise Unreadable("not valid JSON") from None
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise Unreadable("not a FHIR resource (no resourceType)")
    return value


def _chunks(stream: BinaryIO, secrets: Secrets, encrypted: bool) -> Iterator[bytes]:
    if encrypted:
        try:
            return age.decrypt(stream, secrets.opener())
        except age.AgeError as exc:
            raise ImportRefused(f"cannot be decrypted ({exc}): wrong passphrase or key?") from None
    return iter(lambda: stream.read(READ), b"")


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes | object]:
    """The lines of a stream, each at most MAX_LINE bytes; a longer one as ``_TOO_LONG``
    (its bytes are read past, never kept). A decryption failure is the file's refusal."""
    buffer = b""
    skipping = False
    try:
        for chunk in chunks:
            buffer += chunk
            while True:
                end = buffer.find(b"\n")
                if end < 0:
                    if len(buffer) > MAX_LINE:
                        buffer = b""
                        if not skipping:
                            skipping = True
                            yield _TOO_LONG
                    break
                line, buffer = buffer[:end], buffer[end + 1 :]
                if skipping:
                    skipping = False
                elif len(line) > MAX_LINE:
                    yield _TOO_LONG
                elif line.strip():
                    yield line
    except age.AgeError as exc:
        raise ImportRefused(
            f"a file does not decrypt whole ({exc}): altered or truncated"
        ) from None
    if buffer.strip() and not skipping:
        yield buffer


def _author(actor: Any, name: str, cache: dict[str, Any]) -> Any:
    name = name or UNKNOWN_AUTHOR
    if name not in cache:
        cache[name] = imported_author(actor, name)
    return cache[name]


def import_patient(
    actor: Any,
    where: str,
    patient: dict[str, Any],
    resources: list[dict[str, Any]],
    authors: dict[str, str],
    report: Report,
    detail: dict[str, Any],
    accounts: dict[str, Any],
    problems: list[str] | None = None,
) -> None:
    """One patient and their resources, all or nothing; the outcome goes into ``report``.
    ``problems``: what could not be read among their resources (lines of a bulk file)."""
    problems = list(problems or [])
    try:
        identity = fhir_read.identity(patient)
    except Unreadable as exc:
        report.skip(where, str(exc))
        return
    if identity.get("niss"):
        try:
            known = patient_ref_for_niss(niss_lib.clean(identity["niss"]))
        except niss_lib.NissError as exc:
            report.skip(where, str(exc))
            return
        if known is not None:
            report.conflicts.append(where)
            return
    notes = {}
    for r in resources:
        if r.get("resourceType") == "Composition" and isinstance(r.get("encounter"), dict):
            notes[fhir_read.reference_id(r["encounter"], "Composition.encounter")] = r
    read: list[fhir_read.ReadEntry] = []
    for r in resources:
        rtype = str(r.get("resourceType"))
        if rtype == "Composition":
            continue  # read with its Encounter
        if rtype not in fhir_read.READ_TYPES:
            report.unsupported[rtype] = report.unsupported.get(rtype, 0) + 1
            continue
        try:
            if rtype == "Encounter":
                read.append(fhir_read.note_entry(r, notes.get(str(r.get("id"))), authors))
            else:
                read.append(fhir_read.entry(r, authors))
        except Unreadable as exc:
            problems.append(f"{rtype}/{r.get('id', '?')}: {exc}")
    if problems:
        report.skip(where, "; ".join(problems))
        return
    try:
        entries = [
            ImportedEntry(e.kind, e.values, e.recorded_at, _author(actor, e.author, accounts))
            for e in read
        ]
        import_record(actor, identity, entries, detail)
    except ValidationError as exc:
        report.skip(where, " ".join(exc.messages))
        return
    report.patients += 1
    for e in read:
        report.entries[e.kind] = report.entries.get(e.kind, 0) + 1


def read_whole(path: Path, secrets: Secrets, limit: int) -> bytes:
    """A file from outside, in clear or age (told by its first bytes, never its name), read
    whole but never more than ``limit`` + 1 bytes: the caller refuses a longer one in its own
    words. ImportRefused when it cannot be decrypted whole (altered, truncated, wrong secret)."""
    with path.open("rb") as stream:
        encrypted = stream.read(len(age.VERSION_LINE)) == age.VERSION_LINE
        stream.seek(0)
        data = bytearray()
        try:
            for chunk in _chunks(stream, secrets, encrypted):
                data += chunk
                if len(data) > limit:
                    break
        except age.AgeError as exc:
            raise ImportRefused(
                f"cannot be decrypted whole ({exc}): altered or truncated"
            ) from None
    return bytes(data)


def import_bundle(actor: Any, path: Path, secrets: Secrets, detail: dict[str, Any]) -> Report:
    """One patient's Bundle, in clear or age."""
    report = Report(Format.FHIR_BUNDLE)
    data = read_whole(path, secrets, MAX_BUNDLE)
    if len(data) > MAX_BUNDLE:
        raise ImportRefused(f"a Bundle over {MAX_BUNDLE >> 20} MiB is refused")
    try:
        bundle = _parse(data)
    except Unreadable as exc:
        raise ImportRefused(f"{path.name}: {exc}") from None
    if bundle["resourceType"] != "Bundle" or not isinstance(bundle.get("entry"), list):
        raise ImportRefused(f"{path.name}: not a FHIR Bundle with entries")
    resources = [e["resource"] for e in bundle["entry"] if isinstance(e, dict)
                 and isinstance(e.get("resource"), dict)]  # fmt: skip
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    if len(patients) != 1:
        raise ImportRefused(f"{path.name}: a Bundle of one patient is expected")
    authors = _authors(r for r in resources if r.get("resourceType") == "Practitioner")
    others = [r for r in resources if r.get("resourceType") not in ("Patient", "Practitioner")]
    where = f"{path.name}: Patient/{patients[0].get('id', '?')}"
    import_patient(actor, where, patients[0], others, authors, report, detail, {})
    return report


def _authors(resources: Any) -> dict[str, str]:
    out = {}
    for r in resources:
        try:
            out[str(r.get("id"))] = fhir_read.practitioner_name(r)
        except Unreadable:
            continue  # its entries are then "Unknown author (imported)"
    return out


# --- a bulk folder ---------------------------------------------------------------------------


def _manifest(folder: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    try:
        manifest = json.loads((folder / "manifest.json").read_bytes())
        outputs = manifest["output"]
        hashes = manifest["extension"]["secretum"]["sha256"]
        if not isinstance(outputs, list) or not isinstance(hashes, dict):
            raise TypeError
        for out in outputs:
            if not isinstance(out.get("type"), str) or not isinstance(out.get("url"), str):
                raise TypeError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ImportRefused(
            "manifest.json is not a Bulk Data manifest with the SHA-256 of each file"
        ) from None
    return outputs, hashes


def _checked(folder: Path, outputs: list[dict[str, Any]], hashes: dict[str, str]) -> None:
    """Every file the manifest lists is in the folder, by name, and matches its SHA-256."""
    for out in outputs:
        name = out["url"]
        path = folder / name
        if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
            raise ImportRefused(f"{name}: listed in the manifest, not in the folder")
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            for chunk in iter(lambda s=stream: s.read(READ), b""):  # type: ignore[misc]
                digest.update(chunk)
        if digest.hexdigest() != hashes.get(name):
            raise ImportRefused(
                f"{name}: its SHA-256 is not the manifest's (truncated, swapped or altered)"
            )


class _Resources:
    """One file's resources, in order, with one of look-ahead: (line, resource or a reason)."""

    def __init__(self, name: str, lines: Iterator[bytes | object]) -> None:
        self.name = name
        self._lines = enumerate(lines, 1)
        self.next: tuple[int, dict[str, Any] | str] | None = None
        self.advance()

    def advance(self) -> None:
        item = next(self._lines, None)
        if item is None:
            self.next = None
            return
        number, line = item
        if line is _TOO_LONG:
            self.next = (number, f"a line over {MAX_LINE >> 20} MiB")
            return
        try:
            self.next = (number, _parse(line))  # type: ignore[arg-type]
        except Unreadable as exc:
            self.next = (number, str(exc))


def _subject(resource: dict[str, Any]) -> str:
    for key in ("subject", "patient"):
        if isinstance(resource.get(key), dict):
            try:
                return fhir_read.reference_id(resource[key], key)
            except Unreadable:
                return ""
    return ""


def import_bulk(actor: Any, folder: Path, secrets: Secrets, detail: dict[str, Any]) -> Report:
    """A Bulk Data folder: checked whole first, then read patient by patient."""
    report = Report(Format.FHIR_BULK)
    outputs, hashes = _manifest(folder)
    _checked(folder, outputs, hashes)
    files = {out["type"]: folder / out["url"] for out in outputs}
    if "Patient" not in files:
        raise ImportRefused("the manifest lists no Patient file")
    streams: list[BinaryIO] = []

    def resources_of(rtype: str) -> _Resources:
        path = files[rtype]
        stream = path.open("rb")
        streams.append(stream)
        return _Resources(path.name, _lines(_chunks(stream, secrets, path.suffix == ".age")))

    try:
        authors: dict[str, str] = {}
        if "Practitioner" in files:
            source = resources_of("Practitioner")
            while source.next is not None:
                number, found = source.next
                if isinstance(found, dict):
                    authors.update(_authors([found]))
                source.advance()
        others = [resources_of(t) for t in files if t not in ("Patient", "Practitioner")]
        patients = resources_of("Patient")
        accounts: dict[str, Any] = {}
        while patients.next is not None:
            number, found = patients.next
            patients.advance()
            where = f"{patients.name} line {number}"
            if not isinstance(found, dict):
                report.skip(where, found)
                continue
            pid = str(found.get("id", ""))
            own: list[dict[str, Any]] = []
            unread: list[str] = []
            for source in others:
                while source.next is not None:
                    line, item = source.next
                    if not isinstance(item, dict):  # among this patient's: theirs, unread
                        unread.append(f"{source.name} line {line}: {item}")
                    elif _subject(item) == pid:
                        own.append(item)
                    else:
                        break
                    source.advance()
            import_patient(actor, where, found, own, authors, report, detail, accounts, unread)
        for source in others:  # what no patient read before claimed
            while source.next is not None:
                line, item = source.next
                why = item if isinstance(item, str) else "names no patient listed before it"
                report.skip(f"{source.name} line {line}", why)
                source.advance()
    finally:
        for stream in streams:
            stream.close()
    return report
