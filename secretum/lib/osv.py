"""Known vulnerabilities of the installed Python packages, from an offline OSV database (G2).

OSV (https://ossf.github.io/osv-schema/) is the format of the Python Packaging Advisory
Database, of GitHub's advisories and of osv.dev, which publishes every advisory for PyPI in one
zip: https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip. The practice or its
provider downloads it (or copies it in, on a machine without Internet access) at least every 30
days; nothing here goes on the network.

An advisory names, for each affected package, ranges of versions (events ``introduced``,
``fixed``, ``last_affected``, ``limit`` of type ECOSYSTEM or SEMVER, compared as PEP 440 versions
with ``packaging.version``) and explicit ``versions``. Its severity is read from a CVSS v3 vector
(the base score, computed as CVSS v3.1 §7 says) and from ``database_specific.severity`` (GitHub's
CRITICAL, HIGH, MODERATE, LOW); the most severe wins. Advisories that name each other (aliases:
a PYSEC and a GHSA record of one flaw) make one finding.
"""

from __future__ import annotations

import json
import math
import mmap
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

ECOSYSTEM = "PyPI"
# Severity labels, least to most severe; HIGH and CRITICAL are the ones to install without delay.
RANKS = {"": 0, "LOW": 1, "MODERATE": 2, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}
SERIOUS = 3


def normalize(name: str) -> str:
    """A package name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(value: object) -> Version | None:
    try:
        return Version(str(value))
    except InvalidVersion:
        return None


# --- CVSS v3.x base score (FIRST, CVSS v3.1 specification, §7.1 and appendix A) ----------------
_CVSS3 = {
    "AV": {"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2},
    "AC": {"L": 0.77, "H": 0.44},
    "UI": {"N": 0.85, "R": 0.62},
    "C": {"H": 0.56, "L": 0.22, "N": 0.0},
    "I": {"H": 0.56, "L": 0.22, "N": 0.0},
    "A": {"H": 0.56, "L": 0.22, "N": 0.0},
}
_PR = {"U": {"N": 0.85, "L": 0.62, "H": 0.27}, "C": {"N": 0.85, "L": 0.68, "H": 0.5}}


def _roundup(value: float) -> float:
    """CVSS v3.1 Roundup: the smallest number with one decimal that is >= value, free of
    floating-point noise."""
    whole = round(value * 100_000)
    if whole % 10_000 == 0:
        return whole / 100_000.0
    return (math.floor(whole / 10_000) + 1) / 10.0


def cvss3_base_score(vector: str) -> float | None:
    """The base score of a ``CVSS:3.0/...`` or ``CVSS:3.1/...`` vector; None for another or a
    malformed one."""
    parts = vector.strip().split("/")
    if not parts or parts[0] not in ("CVSS:3.0", "CVSS:3.1"):
        return None
    metrics = dict(p.split(":", 1) for p in parts[1:] if ":" in p)
    try:
        scope = metrics["S"]
        av, ac, ui = (_CVSS3[m][metrics[m]] for m in ("AV", "AC", "UI"))
        pr = _PR[scope][metrics["PR"]]
        c, i, a = (_CVSS3[m][metrics[m]] for m in ("C", "I", "A"))
    except KeyError:
        return None
    iss = 1 - (1 - c) * (1 - i) * (1 - a)
    if scope == "U":
        impact = 6.42 * iss
    else:
        impact = 7.52 * (iss - 0.029) - 3.25 * (iss - 0.02) ** 15
    if impact <= 0:
        return 0.0
    exploitability = 8.22 * av * ac * pr * ui
    total = impact + exploitability if scope == "U" else 1.08 * (impact + exploitability)
    return _roundup(min(total, 10.0))


def severity_of_score(score: float) -> str:
    """CVSS v3.1 qualitative rating (table 14)."""
    if score >= 9.0:
        return "CRITICAL"
    if score >= 7.0:
        return "HIGH"
    if score >= 4.0:
        return "MODERATE"
    return "LOW" if score > 0 else ""


def _severities(record: Mapping[str, Any]) -> Iterator[str]:
    for item in record.get("severity") or ():
        if isinstance(item, dict) and str(item.get("type", "")).startswith("CVSS_V3"):
            score = cvss3_base_score(str(item.get("score", "")))
            if score is not None:
                yield severity_of_score(score)
    for key in ("database_specific", "ecosystem_specific"):
        specific = record.get(key)
        if isinstance(specific, dict) and isinstance(specific.get("severity"), str):
            yield specific["severity"].upper()


# --- which versions an advisory covers (OSV schema, "Evaluation") -------------------------------


def _in_range(version: Version, events: list[Any]) -> tuple[bool, Version | None]:
    """Whether ``version`` falls in the range, and the first fixed version above it."""
    points: list[tuple[Version, str]] = []
    limits: list[Version] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        for kind in ("introduced", "fixed", "last_affected", "limit"):
            if kind not in event:
                continue
            # "0": before every version, pre-releases of 0 included.
            at = Version("0.dev0") if event[kind] == "0" else _version(event[kind])
            if at is None:
                continue
            if kind == "limit":
                limits.append(at)
            else:
                points.append((at, kind))
    points.sort(key=lambda p: p[0])
    affected = False
    for at, kind in points:
        if kind == "introduced" and version >= at:
            affected = True
        elif kind == "fixed" and version >= at:
            affected = False
        elif kind == "last_affected" and version > at:
            affected = False
    if limits and all(version >= limit for limit in limits):
        affected = False
    fixes = [at for at, kind in points if kind == "fixed" and at > version]
    return affected, min(fixes) if fixes else None


def covers(entry: Mapping[str, Any], version: str) -> tuple[bool, str]:
    """Whether the advisory's ``affected`` entry covers ``version`` of its package, and the
    first version that fixes it ("" when none is known)."""
    parsed = _version(version)
    for listed in entry.get("versions") or ():
        if str(listed) == version or (parsed is not None and _version(listed) == parsed):
            return True, _first_fix(entry, parsed) if parsed is not None else ""
    if parsed is None:
        return False, ""  # not a PEP 440 version: only an explicit listing can name it
    for rng in entry.get("ranges") or ():
        if not isinstance(rng, dict) or rng.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges name commits, not releases
        inside, fix = _in_range(parsed, list(rng.get("events") or ()))
        if inside:
            return True, str(fix) if fix is not None else ""
    return False, ""


def _first_fix(entry: Mapping[str, Any], version: Version) -> str:
    fixes = [
        _in_range(version, list(r.get("events") or ()))[1]
        for r in entry.get("ranges") or ()
        if isinstance(r, dict)
    ]
    found = [f for f in fixes if f is not None]
    return str(min(found)) if found else ""


# --- the database --------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """One known vulnerability of one installed package (its advisories merged by alias)."""

    package: str
    version: str
    ids: tuple[str, ...]
    summary: str
    severity: str  # CRITICAL, HIGH, MODERATE, LOW or "" (not stated)
    fixed_in: str  # "" when no fixed version is known

    @property
    def serious(self) -> bool:
        """HIGH or CRITICAL: to install without delay (G2)."""
        return RANKS.get(self.severity, 0) >= SERIOUS


@dataclass(frozen=True)
class Scan:
    advisories: int  # records read
    unreadable: list[str] = field(default_factory=list)  # records that are not OSV JSON
    findings: list[Finding] = field(default_factory=list)

    @property
    def serious(self) -> list[Finding]:
        return [f for f in self.findings if f.serious]


def _records(path: Path) -> Iterator[tuple[str, bytes | None]]:
    """(name, bytes) of each JSON record of the database: a zip, or a folder of JSON files and
    zips; None for a member of a zip that cannot be read. OSError when ``path`` is neither."""
    if path.is_dir():
        for item in sorted(path.rglob("*")):
            if item.suffix == ".json" and item.is_file():
                yield str(item.relative_to(path)), item.read_bytes()
            elif item.suffix == ".zip" and item.is_file():
                yield from _zipped(item)
    else:
        yield from _zipped(path)


def _zipped(path: Path) -> Iterator[tuple[str, bytes | None]]:
    try:
        with (
            zipfile.ZipFile(path) as archive,
            path.open("rb") as raw,
            mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ) as blob,
        ):
            for info in archive.infolist():
                if info.filename.endswith(".json") and not info.is_dir():
                    yield f"{path.name}:{info.filename}", _member(archive, blob, info)
    except zipfile.BadZipFile:
        raise OSError(f"{path} is neither a folder nor a zip of OSV advisories") from None


def _member(archive: zipfile.ZipFile, blob: mmap.mmap, info: zipfile.ZipInfo) -> bytes | None:
    """A member's bytes, read straight from the archive: its local header (APPNOTE 4.3.7: 30
    bytes, then the name and the extra field), its data inflated (RFC 1951), its CRC-32 checked.
    zipfile's own reader costs ten times more per member, and the zip of PyPI holds tens of
    thousands; anything else than a stored or deflated member goes through it. None when the
    member is damaged."""
    offset = info.header_offset
    try:
        if blob[offset : offset + 4] != b"PK\x03\x04":
            raise zipfile.BadZipFile("no local header")
        name_length, extra_length = struct.unpack_from("<HH", blob, offset + 26)
        start = offset + 30 + name_length + extra_length
        data = blob[start : start + info.compress_size]
        if info.compress_type == zipfile.ZIP_DEFLATED:
            data = zlib.decompress(data, -15)
        elif info.compress_type != zipfile.ZIP_STORED:
            return archive.read(info)
        if zlib.crc32(data) != info.CRC:
            raise zipfile.BadZipFile("CRC-32 mismatch")
    except (zipfile.BadZipFile, zlib.error, struct.error, NotImplementedError):
        return None
    return data


def scan(path: Path, installed: Mapping[str, str]) -> Scan:
    """The findings of the database at ``path`` for ``installed`` (name -> version).

    Only the records that name an installed package are parsed (the zip of PyPI holds tens of
    thousands). OSError when the database cannot be read."""
    wanted = {normalize(n): (n, v) for n, v in installed.items()}
    # A record is parsed only when some "name" in it is an installed package's, written in any
    # of the spellings PEP 503 treats as one (Django, django; typing_extensions, typing-extensions).
    spellings = (re.escape(n.encode()).replace(rb"\-", rb"[-_.]+") for n in sorted(wanted))
    names = re.compile(rb'"name"\s*:\s*"(?:' + b"|".join(spellings) + rb')"', re.IGNORECASE)
    count = 0
    unreadable: list[str] = []
    hits: list[tuple[str, str, set[str], str, str, str]] = []
    for name, raw in _records(path):
        count += 1
        if raw is None:
            unreadable.append(name)
            continue
        if not names.search(raw):
            continue
        try:
            record = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            unreadable.append(name)
            continue
        if not isinstance(record, dict) or record.get("withdrawn"):
            continue
        hits.extend(_record_hits(record, wanted))
    return Scan(count, unreadable, _merged(hits))


def _record_hits(
    record: Mapping[str, Any], wanted: Mapping[str, tuple[str, str]]
) -> Iterator[tuple[str, str, set[str], str, str, str]]:
    ids = {str(record.get("id", ""))} | {str(a) for a in record.get("aliases") or ()}
    ids.discard("")
    for entry in record.get("affected") or ():
        if not isinstance(entry, dict):
            continue
        package = entry.get("package") or {}
        if not isinstance(package, dict) or package.get("ecosystem") != ECOSYSTEM:
            continue
        key = normalize(str(package.get("name", "")))
        if key not in wanted:
            continue
        name, version = wanted[key]
        inside, fix = covers(entry, version)
        if not inside:
            continue
        severity = max((*_severities(record), *_severities(entry)), key=_rank, default="")
        summary = str(record.get("summary") or record.get("details") or "")[:200]
        yield name, version, ids, summary.strip(), severity, fix


def _rank(severity: str) -> int:
    return RANKS.get(severity, 0)


def _merged(hits: list[tuple[str, str, set[str], str, str, str]]) -> list[Finding]:
    """One finding per package and flaw: advisories that share an identifier are merged, the
    most severe rating, the first summary and the highest first fix kept."""
    merged: list[Finding] = []
    for name, version, ids, summary, severity, fix in hits:
        found = Finding(name, version, tuple(sorted(ids)), summary, severity, fix)
        for other in [f for f in merged if f.package == name and ids & set(f.ids)]:
            merged.remove(other)
            found = Finding(
                name,
                version,
                tuple(sorted(set(found.ids) | set(other.ids))),
                found.summary or other.summary,
                max(found.severity, other.severity, key=_rank),
                max(found.fixed_in, other.fixed_in, key=lambda f: _version(f) or Version("0")),
            )
        merged.append(found)
    return sorted(merged, key=lambda f: (-_rank(f.severity), normalize(f.package), f.ids))
