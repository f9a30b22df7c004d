"""The patient's record as FHIR R4 (L1, L2): every resource valid for the R4B models of
``fhir.resources`` (R4B keeps R4's resources as they were; the package's default is R5), the
Patient after HL7 Belgium's be-patient, vital signs in LOINC and UCUM."""

from __future__ import annotations

import io
import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from secretum.exchange import fhir, services
from tests.conftest import actor_for


def _plain(practitioner: Any, patient: Any) -> dict[str, Any]:
    out = io.BytesIO()
    services.export_patient(
        actor_for(practitioner), patient.uid, out, plain_reason="Fictitious: test of the shape."
    )
    return json.loads(out.getvalue())


def _by_type(bundle: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        found.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    return found


def test_every_resource_is_valid_r4(practitioner: Any, full_chart: Any) -> None:
    bundle = _plain(practitioner, full_chart)
    Bundle.model_validate(bundle)  # the whole, and each resource by its own model
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
        assert entry["fullUrl"] == f"urn:uuid:{entry['resource']['id']}"
    kinds = _by_type(bundle)
    assert {k: len(v) for k, v in kinds.items()} == {
        "Patient": 1, "Condition": 3, "AllergyIntolerance": 2, "MedicationStatement": 1,
        "Observation": 6, "Encounter": 1, "Composition": 1, "Immunization": 2, "Practitioner": 1,
    }  # fmt: skip
    assert bundle["type"] == "collection"
    urls = {e["fullUrl"] for e in bundle["entry"]}
    for resource in (r for rs in kinds.values() for r in rs):  # every reference resolves
        for key in ("subject", "patient", "recorder", "informationSource", "encounter"):
            if key in resource:
                assert resource[key]["reference"] in urls, (resource["resourceType"], key)


def test_the_patient_follows_be_patient(practitioner: Any, full_chart: Any) -> None:
    (patient,) = _by_type(_plain(practitioner, full_chart))["Patient"]
    assert patient["meta"]["profile"] == [fhir.BE_PATIENT]
    assert patient["identifier"] == [
        {"use": "official", "system": fhir.SSIN, "value": full_chart.niss}
    ]
    assert patient["name"][0]["family"] == full_chart.family_name
    assert patient["gender"] == "female"
    assert patient["birthDate"] == full_chart.birth_date.isoformat()
    assert patient["address"][0]["postalCode"] == "1000"
    assert {t["system"] for t in patient["telecom"]} == {"phone", "email"}


def test_vital_signs_in_loinc_and_ucum(practitioner: Any, full_chart: Any) -> None:
    found = {
        o["code"]["coding"][0]["code"]: o
        for o in _by_type(_plain(practitioner, full_chart))["Observation"]
        if o["category"][0]["coding"][0]["code"] == "vital-signs"
    }
    assert len(found) == 4
    bp = found["85354-9"]
    parts = [(c["code"]["coding"][0]["code"], c["valueQuantity"]) for c in bp["component"]]
    assert [(code, q["value"], q["code"]) for code, q in parts] == [
        ("8480-6", 135, "mm[Hg]"),
        ("8462-4", 85, "mm[Hg]"),
    ]
    assert found["29463-7"]["valueQuantity"] == {
        "value": 71.5, "unit": "kg", "system": fhir.UCUM, "code": "kg"
    }  # fmt: skip
    assert found["8302-2"]["valueQuantity"]["code"] == "cm"
    assert found["8310-5"]["valueQuantity"]["code"] == "Cel"
    assert all(o["category"][0]["coding"][0]["code"] == "vital-signs" for o in found.values())


def test_problem_codes_in_the_system_they_name_with_their_lifecycle(
    practitioner: Any, full_chart: Any
) -> None:
    conditions = {
        c["code"]["text"]: c for c in _by_type(_plain(practitioner, full_chart))["Condition"]
    }
    hypertension = conditions["K86 Fictitious hypertension"]
    assert hypertension["code"]["coding"][0]["system"] == "http://hl7.org/fhir/sid/icpc-2"
    assert hypertension["onsetDateTime"] == "2020-02-03"
    assert conditions["E11.9 Fictitious diabetes"]["code"]["coding"][0]["system"] == fhir.ICD10
    status = conditions["R74 Fictitious infection"]["clinicalStatus"]["coding"][0]["code"]
    assert status == "resolved"
    assert hypertension["clinicalStatus"]["coding"][0]["code"] == "active"
    # A problem recorded before problems named their system: by its shape, or text only.
    # K86 is ICPC-2 (hypertension) and ICD-10 (pancreas) alike: no system, honestly.
    assert fhir.problem_coding("I10") == {"system": fhir.ICD10, "code": "I10"}
    assert fhir.problem_coding("K86") is None and fhir.problem_coding("zz") is None


def test_lab_results_are_laboratory_observations_with_units_ranges_and_flags(
    practitioner: Any, full_chart: Any
) -> None:
    labs = [
        o
        for o in _by_type(_plain(practitioner, full_chart))["Observation"]
        if o["category"][0]["coding"][0]["code"] == "laboratory"
    ]
    by_code = {o["code"]["coding"][0]["code"]: o for o in labs}
    glucose, virus = by_code["2345-7"], by_code["94500-6"]
    assert glucose["valueQuantity"] == {
        "value": 126, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL",
    }  # fmt: skip
    assert glucose["referenceRange"][0]["high"]["value"] == 110
    assert glucose["interpretation"][0]["coding"][0]["code"] == "H"
    assert glucose["effectiveDateTime"] == "2026-03-02"
    assert virus["valueString"] == "negative" and "interpretation" not in virus


def test_note_vaccinations_and_authors(practitioner: Any, full_chart: Any) -> None:
    kinds = _by_type(_plain(practitioner, full_chart))
    (note,) = kinds["Composition"]
    (encounter,) = kinds["Encounter"]
    assert note["encounter"]["reference"] == f"urn:uuid:{encounter['id']}"
    sections = {s["code"]["coding"][0]["code"]: s["text"]["div"] for s in note["section"]}
    assert set(sections) == {"61150-9", "51848-0", "18776-5"}  # no objective written
    assert "Feels &lt;well&gt;<br/>sleeps badly" in sections["61150-9"]  # escaped, lines kept
    shots = {i["lotNumber"]: i for i in kinds["Immunization"]}
    assert shots["QZ-4411"]["protocolApplied"] == [{"doseNumberPositiveInt": 2}]
    assert shots["QZ-4411"]["site"]["coding"][0]["code"] == "RA"
    assert shots["QZ-4411"]["occurrenceDateTime"] == "2026-10-07"
    assert shots["QB-1"]["protocolApplied"] == [{"doseNumberString": "booster"}]
    assert shots["QB-1"]["performer"] == [{"actor": {"display": "Centre de vaccination fictif"}}]
    assert shots["QB-1"]["primarySource"] is False
    (author,) = kinds["Practitioner"]
    assert author["name"][0]["text"] == str(practitioner)
