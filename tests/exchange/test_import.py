"""`secretum import`'s reading of what comes from outside (L1, L2), as an attacker would shape
it: a truncated, swapped or altered file, a wrong passphrase, a manifest that lies, malformed
JSON, an oversized line, an unknown resource type: each refused or reported, never a crash,
never half a patient."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from secretum.clinical.models import MODELS
from secretum.crypto import age
from secretum.exchange import bulk, fhir_import, importing, services
from secretum.exchange.report import Format, ImportRefused
from secretum.lib import niss
from secretum.patients.models import Patient
from tests.conftest import actor_for, events
from tests.exchange import bulkdata
from tests.exchange.bulkdata import REASON
from tests.exchange.test_bulk import CONSOLE

PASSPHRASE = "fictitious passphrase of a test"


def _new_niss(n: int) -> str:
    return niss.build(dt.date(1990, 1, 1) + dt.timedelta(days=n), 11)


@pytest.fixture
def exported(full_chart: Any, tmp_path: Path) -> dict[str, list[dict[str, Any]]]:
    """The practice's plain bulk export, read back."""
    folder = tmp_path / "exported"
    folder.mkdir()
    bulk.export_practice(CONSOLE, folder, plain_reason=REASON)
    files = bulkdata.read_folder(folder)
    files["Patient"][0]["identifier"][0]["value"] = _new_niss(1)  # a patient not yet known
    return files


def _import(folder: Path, secrets: importing.Secrets | None = None) -> importing.Report:
    return fhir_import.import_bulk(CONSOLE, folder, secrets or importing.Secrets(), {})


def _entries() -> int:
    return sum(model.objects.count() for model in MODELS.values())


def test_a_file_altered_after_export_is_refused_whole(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    folder = bulkdata.write_folder(tmp_path / "in", exported)
    before = _entries(), Patient.objects.count()
    path = folder / "Condition.ndjson"
    path.write_bytes(path.read_bytes()[:-20])  # truncated
    with pytest.raises(ImportRefused, match="SHA-256 is not the manifest's"):
        _import(folder)
    (folder / "Condition.ndjson").rename(folder / "x")
    (folder / "AllergyIntolerance.ndjson").rename(folder / "Condition.ndjson")  # swapped
    (folder / "x").rename(folder / "AllergyIntolerance.ndjson")
    with pytest.raises(ImportRefused, match="SHA-256"):
        _import(folder)
    (folder / "Condition.ndjson").unlink()
    with pytest.raises(ImportRefused, match="not in the folder"):
        _import(folder)
    assert (_entries(), Patient.objects.count()) == before


def test_a_manifest_that_is_not_one_or_points_outside_is_refused(tmp_path: Path) -> None:
    folder = bulkdata.write_folder(tmp_path / "in", {"Patient": []})
    for manifest in (b"{not json", b"[]", b'{"output": []}', b'{"output": [{"type": 1}]}'):
        (folder / "manifest.json").write_bytes(manifest)
        with pytest.raises(ImportRefused, match="not a Bulk Data manifest"):
            _import(folder)
    (tmp_path / "secret.ndjson").write_text("{}\n")
    outside = {"output": [{"type": "Patient", "url": "../secret.ndjson"}],
               "extension": {"secretum": {"sha256": {}}}}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(outside))
    with pytest.raises(ImportRefused, match="not in the folder"):
        _import(folder)
    no_patients = {"output": [], "extension": {"secretum": {"sha256": {}}}}
    (folder / "manifest.json").write_text(json.dumps(no_patients))
    with pytest.raises(ImportRefused, match="no Patient file"):
        _import(folder)


def test_a_wrong_passphrase_or_no_secret_is_refused(full_chart: Any, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    bulk.export_practice(CONSOLE, folder)
    with pytest.raises(ImportRefused, match="wrong passphrase or key"):
        _import(folder, importing.Secrets(lambda: "not the passphrase"))
    with pytest.raises(ImportRefused, match="give its passphrase or --identity"):
        _import(folder)
    other = age.X25519Identity.generate()
    with pytest.raises(ImportRefused, match="wrong passphrase or key"):
        _import(folder, importing.Secrets(identity=other))


def test_an_encrypted_file_cut_short_with_its_hash_recomputed_is_refused(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    """Whoever alters a file and the manifest's SHA-256 with it still cannot make age
    authenticate it: the file is refused, and no patient is half written."""
    folder = tmp_path / "in"
    bulkdata.write_folder(folder, exported)
    for path in folder.glob("*.ndjson"):
        with (folder / (path.name + ".age")).open("wb") as out:
            age.encrypt([path.read_bytes()], out, age.ScryptRecipient(PASSPHRASE))
        path.unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    for out in manifest["output"]:
        out["url"] += ".age"
    cut = folder / "Observation.ndjson.age"
    cut.write_bytes(cut.read_bytes()[:-5])
    manifest["extension"]["secretum"]["sha256"] = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.age")
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    before = _entries(), Patient.objects.count()
    with pytest.raises(ImportRefused, match="does not decrypt whole"):
        _import(folder, importing.Secrets(lambda: PASSPHRASE))
    assert (_entries(), Patient.objects.count()) == before


def test_malformed_json_and_an_oversized_line_leave_that_patient_out(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    """Each line unread is reported with its place; the patient it sits among is left out
    whole (all or nothing), the others are imported."""
    second = json.loads(json.dumps(exported["Patient"][0]))
    second["id"] = "second"
    second["identifier"][0]["value"] = _new_niss(2)
    lines = {t: [json.dumps(r).encode() for r in rs] for t, rs in exported.items()}
    lines["Patient"].append(json.dumps(second).encode())
    lines["Condition"].insert(1, b'{"resourceType": "Condition", "subject": ')
    lines["Observation"].insert(
        0, b'{"resourceType": "Observation", "x": "' + b"a" * (1 << 20) + b'"}'
    )
    lines["Observation"].append(b"[1, 2]")
    lines["Patient"].append(b'{"resourceType": "Patient", "id": "third"}')
    folder = bulkdata.write_folder(tmp_path / "in", lines, raw=True)
    before = _entries()
    report = _import(folder)
    assert report.patients == 1 and _entries() == before  # the second: no entries
    skipped = dict(report.skipped)
    reason = skipped["Patient.ndjson line 1"]
    assert "Condition.ndjson line 2: not valid JSON" in reason
    assert "Observation.ndjson line 1: a line over 1 MiB" in reason
    assert "Observation.ndjson line 8: not a FHIR resource" in reason
    assert "Patient.name is missing" in skipped["Patient.ndjson line 3"]
    assert len(report.skipped) == 2


def test_an_unknown_resource_type_is_counted_not_imported(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    exported["Basic"] = [{"resourceType": "Basic", "subject": {"reference": "Patient/x"}}]
    exported["Flag"] = [
        {
            "resourceType": "Flag",
            "subject": {"reference": f"Patient/{exported['Patient'][0]['id']}"},
        }
    ]
    report = _import(bulkdata.write_folder(tmp_path / "in", exported))
    assert report.patients == 1 and report.unsupported == {"Flag": 1}
    assert report.skipped == [("Basic.ndjson line 1", "names no patient listed before it")]
    assert "Not imported: 1 Flag (not a kind of entry Secretum records)" in report.lines()


def test_a_resource_that_does_not_read_refuses_its_patient(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    exported["MedicationStatement"][0]["dosage"] = [{"text": "no commas"}]
    exported["Observation"][0]["valueQuantity"] = {"value": "heavy"}
    before = _entries(), Patient.objects.count()
    report = _import(bulkdata.write_folder(tmp_path / "in", exported))
    assert report.patients == 0 and (_entries(), Patient.objects.count()) == before
    ((_where, why),) = report.skipped
    assert "MedicationStatement/" in why and "is not 'dose, frequency[, duration]'" in why
    assert "is not a number" in why


def test_an_entry_the_services_refuse_refuses_its_patient_audited(
    exported: dict[str, Any], tmp_path: Path
) -> None:
    """A weight of 4000 kg reads as FHIR but is implausible (N2): refused before the gate, as a
    typed entry is; a birth date in the future is refused inside it: the patient is not
    created, and the failure is in the audit log."""
    weight = next(o for o in exported["Observation"] if o["code"]["coding"][0]["code"] == "29463-7")
    weight["valueQuantity"]["value"] = 4000
    before = Patient.objects.count()
    report = _import(bulkdata.write_folder(tmp_path / "in", exported))
    assert report.patients == 0 and Patient.objects.count() == before
    assert "not plausible" in report.skipped[0][1]
    assert not events(resource="patients.Patient", actor_name="os:tester")
    weight["valueQuantity"]["value"] = 70
    exported["Patient"][0]["birthDate"] = "2999-01-01"
    report = _import(bulkdata.write_folder(tmp_path / "again", exported))
    assert report.patients == 0 and Patient.objects.count() == before
    assert "future" in report.skipped[0][1]
    failed = events(resource="clinical.Chart", outcome="failure")
    assert len(failed) == 1 and failed[0].actor_name == "os:tester"
    assert not events(resource="patients.Patient", actor_name="os:tester")


def test_a_bundle_in_clear_or_encrypted(practitioner: Any, full_chart: Any, tmp_path: Path) -> None:
    out = io.BytesIO()
    services.export_patient(actor_for(practitioner), full_chart.uid, out, plain_reason=REASON)
    bundle = json.loads(out.getvalue())
    path = tmp_path / "patient.json"
    path.write_bytes(out.getvalue())
    assert importing.detect(path) is Format.FHIR_BUNDLE
    report = importing.importer(Format.FHIR_BUNDLE)(CONSOLE, path, importing.Secrets(), {})
    assert report.conflicts and report.patients == 0  # the same national number: left as it is
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = _new_niss(3)
    path.write_text(json.dumps(bundle))
    report = fhir_import.import_bundle(CONSOLE, path, importing.Secrets(), {})
    assert report.patients == 1 and report.entries["problem"] == 3, report.lines()
    encrypted = tmp_path / "patient.json.age"
    with encrypted.open("wb") as stream:
        done = services.export_patient(actor_for(practitioner), full_chart.uid, stream)
    assert importing.detect(encrypted) is Format.FHIR_BUNDLE
    report = fhir_import.import_bundle(
        CONSOLE, encrypted, importing.Secrets(lambda: done.passphrase or ""), {}
    )
    assert report.conflicts
    with pytest.raises(ImportRefused, match="wrong passphrase"):
        fhir_import.import_bundle(CONSOLE, encrypted, importing.Secrets(lambda: "no"), {})
    encrypted.write_bytes(encrypted.read_bytes()[:-3])
    with pytest.raises(ImportRefused, match="altered or truncated"):
        fhir_import.import_bundle(
            CONSOLE, encrypted, importing.Secrets(lambda: done.passphrase or ""), {}
        )


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"resourceType": "Patient"}', "not a FHIR Bundle with entries"),
        (b'{"resourceType": "Bundle", "entry": []}', "a Bundle of one patient"),
    ],
)
def test_a_bundle_that_is_not_one_is_refused(
    db: Any, tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(content)
    with pytest.raises(ImportRefused, match=why):
        fhir_import.import_bundle(CONSOLE, path, importing.Secrets(), {})


def test_formats_detected_and_those_not_imported_refused(tmp_path: Path) -> None:
    kmehr = tmp_path / "sumehr.xml"
    kmehr.write_text(
        '<?xml version="1.0"?>\n<kmehrmessage xmlns="http://www.ehealth.fgov.be/standards/kmehr/schema/v1"/>'
    )
    other_xml = tmp_path / "other.xml"
    other_xml.write_text("<html/>")
    empty = tmp_path / "empty"
    empty.mkdir()
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "manifest.json").write_text(
        json.dumps({"extension": {"secretum": {"format": "secretum"}}})
    )
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text("{")
    sealed_xml = tmp_path / "sumehr.xml.age"
    with sealed_xml.open("wb") as out:
        age.encrypt([b"<kmehrmessage/>"], out, age.ScryptRecipient(PASSPHRASE))
    assert importing.detect(kmehr) is Format.KMEHR
    assert importing.detect(sealed_xml) is Format.KMEHR
    assert importing.detect(other_xml) is Format.UNKNOWN
    assert importing.detect(empty) is Format.UNKNOWN
    assert importing.detect(ours) is Format.SECRETUM
    assert importing.detect(broken) is Format.FHIR_BULK
    assert importing.importer(Format.KMEHR) is importing.import_kmehr
    with pytest.raises(ImportRefused, match="Secretum's own export makes a new instance"):
        importing.importer(Format.SECRETUM)
    with pytest.raises(ImportRefused, match="not recognised"):
        importing.importer(Format.UNKNOWN)


def test_a_bundle_too_large_and_files_of_no_format(
    db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b'{"resourceType": "Bundle", "entry": []}' + b" " * 100)
    monkeypatch.setattr(fhir_import, "MAX_BUNDLE", 64)
    monkeypatch.setattr(fhir_import, "READ", 16)
    with pytest.raises(ImportRefused, match="MiB is refused"):
        fhir_import.import_bundle(CONSOLE, path, importing.Secrets(), {})
    plain = tmp_path / "plain.json"
    plain.write_text('{"resourceType": "Patient"}')
    assert importing.detect(plain) is Format.UNKNOWN
    listed = tmp_path / "listed"
    listed.mkdir()
    (listed / "manifest.json").write_text("[]")
    assert importing.detect(listed) is Format.FHIR_BULK
    for manifest in (
        {"output": {}, "extension": {"secretum": {"sha256": {}}}},
        {"output": [{"type": "Patient", "url": 1}], "extension": {"secretum": {"sha256": {}}}},
    ):
        (listed / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(ImportRefused, match="not a Bulk Data manifest"):
            _import(listed)


def test_records_altered_outside_secretum_are_exported_as_they_stand_and_reported(
    practitioner: Any, full_chart: Any, tmp_path: Path
) -> None:
    """An entry moved to another patient's record in the database, a record's seal broken:
    none reads as Secretum wrote it; each is exported as it stands, counted, and reported
    (E10)."""
    from secretum.clinical.models import Problem
    from secretum.patients import services as patients
    from tests.conftest import identity

    other = patients.register_patient(actor_for(practitioner), identity())
    Problem.objects.filter(pk=Problem.objects.first().pk).update(
        patient=Patient.objects.get(uid=other.uid)
    )
    third = patients.register_patient(actor_for(practitioner), identity())
    Patient.objects.filter(uid=third.uid).update(record_seal=b"\0" * 32)  # its seal broken
    folder = tmp_path / "out"
    folder.mkdir()
    done = bulk.export_practice(CONSOLE, folder, plain_reason=REASON)
    assert done.patients == 3 and done.altered == 3
    assert done.counts["Condition"] == 2  # the moved one read by neither
    tampered = [e for e in events(outcome="failure") if "row-altered-outside" in e.detail]
    assert {e.patient_ref for e in tampered} == {full_chart.uid, other.uid, third.uid}
