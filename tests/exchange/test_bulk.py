"""The whole practice as FHIR Bulk Data NDJSON (L1, L2, E7, M3): one file per resource type,
encrypted by default, a manifest with each file's SHA-256; every resource valid R4; one audit
event; read back by the import into the same clinical content."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

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


OTHER = niss.build(dt.date(1980, 5, 6), 17)


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


def test_encrypted_by_default_one_file_per_type_and_one_audit_event(
    full_chart: Any, tmp_path: Path
) -> None:
    """E7, M3: every file under one new passphrase (age, which Debian's age opens); the
    manifest in clear holds no patient data; one "export" event for the practice, never the
    passphrase; a second import finds the patient known: a conflict, nothing overwritten."""
    folder = tmp_path / "out"
    folder.mkdir()
    done = bulk.export_practice(CONSOLE, folder, detail={"reason": REASON})
    assert done.encryption == "age-scrypt" and done.passphrase
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([bulk.MANIFEST, *(f"{t}.ndjson.age" for t in done.counts)])
    for path in folder.iterdir():
        blob = path.read_bytes()
        for clear in (full_chart.family_name, full_chart.niss, "Quzicillin", "QZ-4411"):
            assert clear.encode() not in blob
        assert path.stat().st_mode & 0o777 == 0o600
    plain = b"".join(
        age.decrypt(io.BytesIO((folder / "Patient.ndjson.age").read_bytes()),
                    age.ScryptIdentity(done.passphrase))
    )  # fmt: skip
    assert json.loads(plain)["identifier"][0]["value"] == full_chart.niss
    exported = events(action="export", resource="clinical.Practice")
    assert len(exported) == 1 and exported[0].actor_name == "os:tester"
    detail = json.loads(exported[0].detail)
    assert detail["encryption"] == "age-scrypt" and detail["patients"] == 1
    assert detail["entries"]["lab"] == 2 and done.passphrase not in exported[0].detail
    asked: list[int] = []

    def passphrase() -> str:
        asked.append(1)
        return done.passphrase or ""

    report = fhir_import.import_bulk(CONSOLE, folder, importing.Secrets(passphrase), {})
    assert asked == [1]  # asked once for every file
    assert report.patients == 0 and report.conflicts == ["Patient.ndjson.age line 1"]


def test_for_a_recipient_key_and_an_archived_record_said_inactive(
    full_chart: Any, tmp_path: Path
) -> None:
    """J1: an archived record is exported, its Patient ``active: false``; an X25519 recipient
    opens every file with its identity."""
    from secretum.patients import integrity
    from secretum.patients.models import Patient

    row = Patient.objects.get(uid=full_chart.uid)
    row.archived_at = timezone.now()
    integrity.stamp(row)
    row.save()
    key = age.X25519Identity.generate()
    folder = tmp_path / "out"
    folder.mkdir()
    done = bulk.export_practice(CONSOLE, folder, recipient=key.recipient().encode())
    assert done.encryption == "age-x25519" and done.passphrase is None and done.archived == 1
    plain = b"".join(age.decrypt((folder / "Patient.ndjson.age").open("rb"), key))
    assert json.loads(plain)["active"] is False


def test_refusals_before_anything_is_written(full_chart: Any, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    with pytest.raises(ValidationError):
        bulk.export_practice(CONSOLE, folder, plain_reason="short")
    with pytest.raises(ValidationError):
        bulk.export_practice(CONSOLE, folder, recipient="age1nope")
    with pytest.raises(ValidationError):
        key = age.X25519Identity.generate().recipient().encode()
        bulk.export_practice(CONSOLE, folder, recipient=key, plain_reason=REASON)
    assert not list(folder.iterdir())


def test_progress_is_told_after_each_patient(practitioner: Any, tmp_path: Path) -> None:
    from secretum.patients import services as patients
    from tests.conftest import identity

    for _ in range(3):
        patients.register_patient(actor_for(practitioner), identity())
    told: list[tuple[int, int]] = []
    folder = tmp_path / "out"
    folder.mkdir()
    bulk.export_practice(
        CONSOLE, folder, plain_reason=REASON, progress=lambda *a: told.append(a), batch=2
    )
    assert told == [(1, 3), (2, 3), (3, 3)]
