"""The whole practice as FHIR Bulk Data NDJSON (L1, L2, E7, M3): one file per resource type,
encrypted by default, a manifest with each file's SHA-256; every resource valid R4; one audit
event; read back by the import into the same clinical content."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from secretum.clinical import services as clinical
from secretum.crypto import age
from secretum.exchange import bulk, fhir_import, importing
from secretum.lib import niss
from secretum.maintenance.console import ConsoleActor
from tests.conftest import actor_for, events
from tests.exchange import bulkdata
from tests.exchange.bulkdata import REASON

CONSOLE = ConsoleActor(user=None, role=None, source="console", os_user="tester")


def _plain(folder: Path) -> bulk.BulkExported:
    folder.mkdir()
    return bulk.export_practice(CONSOLE, folder, plain_reason=REASON)


def test_every_resource_is_valid_r4b_and_the_manifest_lists_them(
    full_chart: Any, tmp_path: Path
) -> None:
    done = _plain(tmp_path / "out")
    files = bulkdata.read_folder(tmp_path / "out")
    assert done.patients == 1 and done.counts == {t: len(files[t]) for t in files}
    for resources in files.values():
        for resource in resources:
            bulkdata.validate(resource)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["requiresAccessToken"] is False and manifest["error"] == []
    assert [o["type"] for o in manifest["output"]] == [t for t in bulk.TYPES if t in files]
    assert files["Condition"][0]["subject"]["reference"] == f"Patient/{full_chart.uid}"


def _moved(files: dict[str, list[dict[str, Any]]], number: str) -> dict[str, list[Any]]:
    """The same record under another national number: the practice it is imported into
    does not know the patient yet."""
    files["Patient"][0]["identifier"][0]["value"] = number
    return files


OTHER = niss.build(__import__("datetime").date(1980, 5, 6), 17)


def test_a_round_trip_gives_the_same_clinical_content(full_chart: Any, tmp_path: Path) -> None:
    """L1, L2: export, import, export again: the same resources but for their ids; the entries'
    authors are the same names, their times of recording the same."""
    _plain(tmp_path / "first")
    first = bulkdata.read_folder(tmp_path / "first")
    bulkdata.write_folder(tmp_path / "moved", _moved(first, OTHER))
    report = fhir_import.import_bulk(
        CONSOLE, tmp_path / "moved", importing.Secrets(), {"reason": REASON}
    )
    assert report.patients == 1 and not report.skipped and not report.conflicts, report.lines()
    _plain(tmp_path / "second")
    second = bulkdata.read_folder(tmp_path / "second")
    imported = [p for p in second["Patient"] if p["identifier"][0]["value"] == OTHER]
    assert len(imported) == 1
    uid = imported[0]["id"]
    mine = {
        rtype: [r for r in resources if rtype == "Practitioner" or json.dumps(r).count(uid)]
        for rtype, resources in second.items()
    }
    mine["Patient"] = imported
    assert bulkdata.normalised(mine) == bulkdata.normalised(first)
