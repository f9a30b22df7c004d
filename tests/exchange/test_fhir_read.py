"""FHIR resources from outside read defensively (L1, L2): each shape that cannot be read is
refused with a reason the import report prints; others' shapes that carry the same content
(a Practitioner by given and family name, a site as text, a vaccine given elsewhere) read."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from secretum.exchange import fhir, fhir_import, importing
from secretum.exchange.fhir_read import (
    Unreadable,
    div_text,
    entry,
    identity,
    note_entry,
    practitioner_name,
)
from secretum.lib import niss
from tests.exchange import bulkdata
from tests.exchange.test_bulk import CONSOLE

WHEN = "2026-01-02T10:00:00+00:00"
SUBJECT = {"reference": "Patient/p1"}
PATIENT = {"resourceType": "Patient", "id": "p1", "name": [{"family": "Zorbec", "given": ["Ila"]}]}
VITAL = {
    "resourceType": "Observation", "category": [{"coding": [{"code": "vital-signs"}]}],
    "code": {"coding": [{"system": fhir.LOINC, "code": "29463-7"}]},
    "valueQuantity": {"value": Decimal("70.0")}, "effectiveDateTime": WHEN, "subject": SUBJECT,
}  # fmt: skip
BP = {
    **VITAL,
    "code": {"coding": [{"code": "85354-9"}]},
    "component": [{"code": {"coding": [{"code": "8480-6"}]}, "valueQuantity": {"value": 120}}],
}
IMMUNIZATION = {
    "resourceType": "Immunization", "vaccineCode": {"text": "Quzvax"}, "lotNumber": "L1",
    "occurrenceDateTime": "2025-03-04", "recorded": WHEN, "primarySource": False,
    "protocolApplied": [{"doseNumberString": "booster"}], "site": {"text": "nasal"},
    "performer": [{"actor": {"display": "Centre fictif"}}], "patient": SUBJECT,
}  # fmt: skip
MEDICATION = {
    "resourceType": "MedicationStatement", "medicationCodeableConcept": {"text": "Quzpril"},
    "dosage": [{"text": "1, 2, daily, 1 month"}], "dateAsserted": WHEN,
    "informationSource": {"reference": "Practitioner/a"}, "subject": SUBJECT,
}  # fmt: skip


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out.update(changes)
    return out


@pytest.mark.parametrize(
    ("resource", "why"),
    [
        (_with(VITAL, valueQuantity={"value": True}), "is not a number"),
        (_with(VITAL, valueQuantity=[]), "is missing or not an object"),
        (_with(VITAL, effectiveDateTime="yesterday"), "is not a date and time"),
        (_with(VITAL, effectiveDateTime="2026-01-02T10:00:00"), "has no time zone"),
        (_with(VITAL, code={"coding": [{"code": "1234-5"}]}), "no vital sign Secretum records"),
        (_with(VITAL, category="vital"), "Observation.category is missing or not a list"),
        (BP, "needs its systolic and diastolic parts"),
        (_with(MEDICATION, medicationCodeableConcept={"text": ["x"]}), "not a text"),
        (_with(IMMUNIZATION, performer=[{"actor": None}]), "performer.actor is missing"),
        ({"resourceType": "Condition", "code": {"coding": [{"system": "x"}]}}, "no ICD-10"),
        ({"resourceType": "Basic"}, "not an entry Secretum records"),
    ],
)
def test_a_resource_that_cannot_be_read_says_why(resource: dict[str, Any], why: str) -> None:
    with pytest.raises(Unreadable, match=why):
        entry(resource, {})


def test_others_shapes_of_the_same_content_read() -> None:
    vaccination = entry(IMMUNIZATION, {})
    assert vaccination.values["given_by"] == "Centre fictif" and vaccination.author == ""
    assert vaccination.values["site"] == "nasal" and vaccination.values["dose"] == "booster"
    coded_site = _with(IMMUNIZATION, site={"coding": [{"code": "ZZ"}]}, primarySource=True)
    coded_site["performer"] = []
    assert entry(coded_site, {}).values["site"] == "other"
    medication = entry(MEDICATION, {"a": "Dr A"})
    assert medication.values["dose"] == "1, 2" and medication.author == "Dr A"
    assert entry(VITAL, {}).values == {"code": "weight", "value": "70"}
    assert entry(_with(VITAL, performer=[]), {}).author == ""
    by_parts = {"resourceType": "Practitioner", "name": [{"given": ["Ann"], "family": "Quz"}]}
    assert practitioner_name(by_parts) == "Ann Quz"
    assert div_text({"div": "<div><p>a &amp; b<br>c</p></div>"}, "x") == "a & b\nc"
    encounter = {
        "resourceType": "Encounter", "reasonCode": [{"text": "Visit"}], "period": {"start": WHEN},
        "participant": [{"individual": {"reference": "urn:uuid:a"}}],
    }  # fmt: skip
    note = {"section": [{"code": {"coding": [{"code": "0000-0"}]}, "text": {"div": "<div/>"}}]}
    assert note_entry(encounter, note, {"a": "Dr A"}).values == {"reason": "Visit"}


def test_a_prescription_reads_back_as_it_was_written() -> None:
    """Issue 15's medication fields (CNK, ATC, route, period, no duration) survive a round trip
    through FHIR; a code of another system and one part of posology are told apart."""
    written = {
        "drug": "Quzpril 5 mg",
        "cnk": "1234567",
        "atc": "C09AA05",
        "dose": "1 comprimé",
        "frequency": "1x/jour",
        "duration": "",
        "route": "oral",
        "start": "2026-01-05",
        "stop": "2026-04-06",  # the day after FHIR's end, the last day taken
    }
    resource = _with(
        MEDICATION,
        medicationCodeableConcept={"text": "Quzpril 5 mg", "coding": [
            {"system": fhir.CNK, "code": "1234567"}, {"system": fhir.ATC, "code": "C09AA05"},
            {"system": "http://snomed.info/sct", "code": "318860005"},
        ]},
        dosage=[{"text": "1 comprimé, 1x/jour, ", "route": {"text": "oral"}}],
        effectivePeriod={"start": "2026-01-05", "end": "2026-04-05"},
    )  # fmt: skip
    assert entry(resource, {}).values == written
    with pytest.raises(Unreadable, match="is not 'dose, frequency"):
        entry(_with(MEDICATION, dosage=[{"text": "once"}]), {})
    with pytest.raises(Unreadable, match=r"effectivePeriod\.end is not a date"):
        entry(_with(MEDICATION, effectivePeriod={"end": "soon"}), {})
    crushed = _with(MEDICATION, dosage=[{"text": "1 co, écrasé, 2x/j, "}])
    assert entry(crushed, {}).values["dose"] == "1 co, écrasé"  # a comma in the dose kept
    two = entry(_with(MEDICATION, dosage=[{"text": "1 co, 2x/j"}]), {}).values
    assert (two["dose"], two["frequency"], two["duration"]) == ("1 co", "2x/j", "")
    for value in (Decimal("1e9999999"), float("inf")):
        with pytest.raises(Unreadable, match=r"out of range|not a number"):
            entry(_with(VITAL, valueQuantity={"value": value}), {})
    with pytest.raises(Unreadable, match="out of range"):
        entry(_with(VITAL, valueQuantity={"value": Decimal("1e30")}), {})


def test_a_patient_from_outside() -> None:
    full = _with(
        PATIENT, gender="unknown", address=[{"city": "Testville"}],
        telecom=[{"system": "fax", "value": "1"}, {"system": "email", "value": "q@x.invalid"}],
        identifier=[{"system": "other", "value": "1"}, "not one"],
    )  # fmt: skip
    read = identity(full)
    assert read["sex"] == "" and read["city"] == "Testville" and "niss" not in read
    assert read["email"] == "q@x.invalid" and read["street"] == ""
    with pytest.raises(Unreadable, match="administrative gender"):
        identity(_with(PATIENT, gender="robot"))
    with pytest.raises(Unreadable, match=r"Patient.name is missing or not a list"):
        identity(_with(PATIENT, name=[]))


def test_a_bulk_folder_of_foreign_shapes(db: Any, tmp_path: Path) -> None:
    """A last line without its newline, a practitioner without a name, a national number that
    fails its check digits, a reference that names nothing, a Patient line unread: each said."""
    good = niss.build(dt.date(1970, 1, 1), 21)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    patients = [
        _with(PATIENT, identifier=[{"system": fhir.SSIN, "value": bad}]),
        _with(PATIENT, id="p2"),
    ]
    lines = {
        "Patient": [b"nope", *(json.dumps(p).encode() for p in patients)],
        "Practitioner": [b'{"resourceType": "Practitioner", "id": "a"}', b"[]"],
        "AllergyIntolerance": [
            b'{"resourceType": "AllergyIntolerance", "patient": {"reference": null}}'
        ],
    }
    folder = bulkdata.write_folder(tmp_path / "in", lines, raw=True)
    path = folder / "Patient.ndjson"
    path.write_bytes(path.read_bytes().rstrip(b"\n"))  # no newline at the end
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["extension"]["secretum"]["sha256"]["Patient.ndjson"] = hashlib.sha256(
        path.read_bytes()
    ).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    report = fhir_import.import_bulk(CONSOLE, folder, importing.Secrets(), {})
    assert report.patients == 1
    skipped = dict(report.skipped)
    assert skipped["Patient.ndjson line 1"] == "not valid JSON"
    assert "check" in skipped["Patient.ndjson line 2"].lower()
    assert skipped["AllergyIntolerance.ndjson line 1"] == "names no patient listed before it"


def test_lines_longer_than_the_limit_across_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fhir_import, "MAX_LINE", 4)
    chunks = iter([b"ab\nabcd", b"efgh", b"ij\nxy\nabcdef\n", b"last"])
    got = list(fhir_import._lines(chunks))
    assert got == [b"ab", fhir_import._TOO_LONG, b"xy", fhir_import._TOO_LONG, b"last"]
