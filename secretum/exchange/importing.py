"""Records coming into Secretum (L1, L2): which format a file is, and who imports it.

``detect(path)`` names the format; ``IMPORTERS`` maps each format to its importer, so another
format is one entry more. A format without an importer is refused with the reason its
``REFUSED`` entry gives.

What an import does, whatever the format (``fhir_import.py`` for FHIR): each patient is created
with their entries through the services (``clinical.services.import_record``), all or nothing
per patient, audited, as the person at the console; a patient whose national number is already
known is left as it is and reported as a conflict (never overwritten, never merged); the report
counts what was created and names what was skipped and why, by its place in the file, never by
a patient's name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from secretum.crypto import age
from secretum.exchange import fhir_import
from secretum.exchange.report import Format, ImportRefused, Report, Secrets

PEEK = 4096


def _head(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(PEEK)


def detect(path: Path) -> Format:
    """The format of ``path``, from its first bytes (an age file: from its name, ``.xml.age``
    for KMEHR, else a FHIR Bundle; nothing is decrypted to decide)."""
    if path.is_dir():
        manifest = path / "manifest.json"
        if not manifest.is_file():
            return Format.UNKNOWN
        try:
            found = json.loads(manifest.read_bytes()[: 1 << 20])
        except ValueError:
            return Format.FHIR_BULK  # the importer says what is wrong with it
        mark = found.get("extension", {}).get("secretum", {}) if isinstance(found, dict) else {}
        if isinstance(mark, dict) and mark.get("format") == "secretum":
            return Format.SECRETUM
        return Format.FHIR_BULK
    head = _head(path)
    if head.startswith(age.VERSION_LINE):
        return Format.KMEHR if path.name.endswith(".xml.age") else Format.FHIR_BUNDLE
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"<"):
        return Format.KMEHR if b"kmehrmessage" in text.lower() else Format.UNKNOWN
    if text.startswith(b"{") and b'"Bundle"' in text:
        return Format.FHIR_BUNDLE
    return Format.UNKNOWN


def import_kmehr(actor: Any, path: Path, secrets: Secrets, detail: dict[str, Any]) -> Report:
    """A SumEHR made by another package (exchange/kmehr): one patient, its entries authored by
    the practitioner the console names (``secretum import --as``); an age file opened first
    (``fhir_import.read_whole``). Refused whole (ImportRefused, nothing written) as the importer
    refuses it."""
    from django.conf import settings
    from django.core.exceptions import ValidationError

    from secretum.access.actor import AccessDenied
    from secretum.exchange.kmehr import importer as sumehr

    if actor.user is None:
        raise ImportRefused(
            "a KMEHR import records its entries under a practitioner's account: name the "
            "practitioner with --as USERNAME"
        )
    try:
        # At most the cap + 1 bytes: the importer refuses a longer message in its own words.
        data = fhir_import.read_whole(path, secrets, settings.SECRETUM_KMEHR_MAX_BYTES)
        found = sumehr.import_sumehr(actor, data, source_name=path.name)
    except OSError as exc:
        raise ImportRefused(f"cannot be read ({exc.strerror})") from None
    except ValidationError as exc:
        raise ImportRefused(f"{' '.join(exc.messages)} Nothing was imported.") from None
    except AccessDenied as exc:
        raise ImportRefused(f"refused ({exc}). Nothing was imported.") from None
    report = Report(Format.KMEHR, patients=int(found.created), entries=dict(found.imported))
    report.notes = sumehr.report_lines(path.name, found)
    return report


# Formats this version cannot import, and what the console is told.
REFUSED = {
    Format.SECRETUM: (
        "Secretum's own export makes a new instance, it is not added to this one: secretum "
        "import PATH --home NEW_FOLDER (with SECRETUM_DATABASE_URL, a new, empty PostgreSQL "
        "database)"
    ),
    Format.UNKNOWN: (
        "the format is not recognised: give a FHIR Bundle (.json or .json.age), a Bulk Data "
        "folder with its manifest.json, or a KMEHR XML message"
    ),
}

Importer = Callable[[Any, Path, Secrets, dict[str, Any]], Report]


IMPORTERS: dict[Format, Importer] = {
    Format.FHIR_BUNDLE: fhir_import.import_bundle,
    Format.FHIR_BULK: fhir_import.import_bulk,
    Format.KMEHR: import_kmehr,
}


def importer(fmt: Format) -> Importer:
    """The importer of ``fmt``, or ImportRefused naming why there is none."""
    if fmt not in IMPORTERS:
        raise ImportRefused(REFUSED.get(fmt, REFUSED[Format.UNKNOWN]))
    return IMPORTERS[fmt]


__all__ = [
    "IMPORTERS",
    "REFUSED",
    "Format",
    "ImportRefused",
    "Report",
    "Secrets",
    "detect",
    "importer",
]
