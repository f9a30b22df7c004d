"""One patient's chart as a FHIR R4 Bundle (L1, L2; GDPR art. 15/20): plain dictionaries in the
shape of https://hl7.org/fhir/R4/, written out as JSON piece by piece.

Why a ``collection`` Bundle, not a ``document``: a FHIR document is one attested composition
(a discharge letter, a SumEHR) whose Composition comes first and whose author vouches for the
whole; the patient's copy is the record's entries as they stand, each with its own author, so a
collection. Why a Composition per consultation note: the note is structured (reason, then S, O,
A, P); a Composition keeps each part in its own LOINC-coded section, where a DocumentReference
would carry it as an opaque attachment and a ClinicalImpression has no place for S, O and P.

The Patient follows the HL7 Belgium ``be-patient`` profile (the national number under the SSIN
naming system). Other resources claim no profile: the Belgian ones ask for codes Secretum does
not record (a CNK for a medicine, SNOMED CT for an allergen), and a claimed profile the resource
does not meet would mislead. Codes are given where Secretum knows them (LOINC and UCUM for vital
signs); a problem's code is given a system only when its shape says which (see
``problem_coding``), else as text.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.utils import timezone

from secretum.clinical import codes, labs, medications

BE_PATIENT = "https://www.ehealth.fgov.be/standards/fhir/core/StructureDefinition/be-patient"
SSIN = "https://www.ehealth.fgov.be/standards/fhir/core/NamingSystem/ssin"
LOINC = "http://loinc.org"
# Medications (issue 15). CNK: the HL7 Belgium medication guide's preferred identifier of its
# NamingSystem be-ns-cnk-codes (hl7.fhir.be.medication); ATC: WHO's own URI, as HL7 lists it.
CNK = "https://www.ehealth.fgov.be/standards/fhir/medication/NamingSystem/cnk-codes"
ATC = "http://www.whocc.no/atc"
UCUM = "http://unitsofmeasure.org"
ICD10 = codes.URIS[codes.ICD10]
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ACT_SITE = "http://terminology.hl7.org/CodeSystem/v3-ActSite"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
XHTML = "http://www.w3.org/1999/xhtml"
# Practitioners are named by the author's name alone: a stable id from it, in a namespace of ours.
_AUTHORS = uuid.UUID("6f1c7a52-2f43-4d0e-9a57-7c1f4f0c3e11")

# Vital signs (FHIR R4 vital signs profile): LOINC code, display, UCUM unit.
VITALS = {
    "weight": ("29463-7", "Body weight", "kg"),
    "height": ("8302-2", "Body height", "cm"),
    "temperature": ("8310-5", "Body temperature", "Cel"),
}
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
BP_PARTS = (("8480-6", "Systolic blood pressure"), ("8462-4", "Diastolic blood pressure"))
# The note's parts, as LOINC document sections.
NOTE_SECTIONS = (
    ("subjective", "61150-9", "Subjective"),
    ("objective", "61149-1", "Objective"),
    ("assessment", "51848-0", "Assessment note"),
    ("plan", "18776-5", "Plan of care note"),
)
SITES = {
    "left-arm": ("LA", "left arm"),
    "right-arm": ("RA", "right arm"),
    "left-thigh": ("LT", "left thigh"),
    "right-thigh": ("RT", "right thigh"),
}
# A problem names its code system (clinical/codes.py). One recorded before problems had one:
# ICD-10 uses every letter of the alphabet, ICPC-2's chapters only these, so a letter and two
# digits in an ICPC-2 chapter (K86) is both an ICPC-2 and an ICD-10 code and stays text; a
# subdivided code (E11.9) or a letter that is no ICPC-2 chapter (I10) can only be ICD-10.
ICPC2_CHAPTERS = frozenset("ABDFHKLNPRSTUWXYZ")
_ICD10 = re.compile(r"[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?")


def problem_coding(code: str, system: str | None = None) -> dict[str, str] | None:
    """The coding of a problem's code in the system it names, or, for a problem that names none,
    when its shape says which system it is in; else None."""
    code = code.strip().upper()
    if system in codes.URIS:
        return {"system": codes.URIS[system], "code": code}
    if not _ICD10.fullmatch(code):
        return None
    if "." in code or code[0] not in ICPC2_CHAPTERS:
        return {"system": ICD10, "code": code}
    return None


def _ref(resource: dict[str, Any]) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource['id']}"}


def _when(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds")


def _number(text: str) -> int | float:
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


def _div(text: str) -> dict[str, str]:
    lines = "<br/>".join(html.escape(line, quote=False) for line in text.splitlines())
    return {"status": "generated", "div": f'<div xmlns="{XHTML}"><p>{lines}</p></div>'}


def patient(identity: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": identity.uid,
        "meta": {"profile": [BE_PATIENT]},
        "name": [
            {"use": "official", "family": identity.family_name, "given": [identity.given_name]}
        ],
        "gender": identity.sex or "unknown",
    }
    if identity.niss:
        resource["identifier"] = [{"use": "official", "system": SSIN, "value": identity.niss}]
    if identity.birth_date:
        resource["birthDate"] = identity.birth_date.isoformat()
    if identity.street or identity.postal_code or identity.city:
        address: dict[str, Any] = {"use": "home", "country": "BE"}
        if identity.street:
            address["line"] = [identity.street]
        if identity.city:
            address["city"] = identity.city
        if identity.postal_code:
            address["postalCode"] = identity.postal_code
        resource["address"] = [address]
    telecom = [
        {"system": system, "value": value}
        for system, value in (("phone", identity.phone), ("email", identity.email))
        if value
    ]
    if telecom:
        resource["telecom"] = telecom
    return resource


def practitioner(name: str) -> dict[str, Any]:
    return {
        "resourceType": "Practitioner",
        "id": str(uuid.uuid5(_AUTHORS, name)),
        "name": [{"text": name}],
    }


class _Builder:
    def __init__(self, chart: Any) -> None:
        self.patient = patient(chart.patient)
        self.subject = _ref(self.patient)
        self.authors: dict[str, dict[str, Any]] = {}

    def author(self, entry: Any) -> dict[str, str]:
        if entry.author not in self.authors:
            self.authors[entry.author] = practitioner(entry.author)
        return _ref(self.authors[entry.author])

    def problem(self, e: Any) -> dict[str, Any]:
        v = e.values
        code: dict[str, Any] = {"text": f"{v['code']} {v['label']}".strip()}
        coding = problem_coding(v["code"] or "", v.get("system"))
        if coding:
            code["coding"] = [{**coding, "display": v["label"]}]
        resource = {
            "resourceType": "Condition",
            # active, inactive, resolved: FHIR's own codes; one recorded before: active.
            "clinicalStatus": {
                "coding": [{"system": CONDITION_CLINICAL, "code": v.get("status") or "active"}]
            },
            "category": [{"coding": [{"system": CONDITION_CATEGORY, "code": "problem-list-item"}]}],
            "code": code,
            "subject": self.subject,
            "recordedDate": _when(e.recorded_at),
            "recorder": self.author(e),
        }
        if v.get("onset"):
            resource["onsetDateTime"] = v["onset"]
        return resource

    def allergy(self, e: Any) -> dict[str, Any]:
        v = e.values
        resource: dict[str, Any] = {
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
            "code": {"text": v["substance"]},
            "patient": self.subject,
            "recordedDate": _when(e.recorded_at),
            "recorder": self.author(e),
        }
        if v.get("reaction"):
            resource["reaction"] = [
                {"manifestation": [{"text": v["reaction"]}], "severity": v["severity"]}
            ]
        else:  # a severity belongs to a reaction; none was written: kept as a note
            resource["note"] = [{"text": f"Severity: {v['severity']}"}]
        return resource

    def medication(self, e: Any) -> dict[str, Any]:
        """A medication: its product in words, coded by CNK and ATC when known; "active" while
        taken, "completed" once its stop date is past; the period from its start to its stop;
        the posology in words, and its route. A row recorded before these fields existed has
        the product and the posology only."""
        v = e.values
        coding = [
            {"system": system, "code": v[name]}
            for name, system in (("cnk", CNK), ("atc", ATC))
            if v.get(name)
        ]
        product: dict[str, Any] = {"text": " ".join(x for x in (v["drug"], v.get("strength")) if x)}
        if coding:
            product["coding"] = coding
        # Always three parts, the duration perhaps empty: the import splits at the last two.
        dosage: dict[str, Any] = {
            "text": ", ".join((v["dose"], v["frequency"], v.get("duration") or ""))
        }
        if v.get("route"):
            dosage["route"] = {"text": v["route"]}
        resource: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "status": "active" if medications.is_active(v, timezone.localdate()) else "completed",
            "medicationCodeableConcept": product,
            "subject": self.subject,
            "dateAsserted": _when(e.recorded_at),
            "informationSource": self.author(e),
            "dosage": [dosage],
        }
        # FHIR's period end is the last day taken; Secretum's stop, the first day without it.
        period = {"start": v.get("start"), "end": medications.last_day(v.get("stop"))}
        period = {k: day for k, day in period.items() if day}
        if period:
            resource["effectivePeriod"] = period
        return resource

    def observation(self, e: Any) -> dict[str, Any]:
        v = e.values
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "vital-signs"}]}],
            "subject": self.subject,
            "effectiveDateTime": _when(e.recorded_at),
            "performer": [self.author(e)],
        }
        if v["code"] == "bp":
            resource["code"] = _loinc(*BP_PANEL)
            resource["component"] = [
                {"code": _loinc(*part), "valueQuantity": _quantity(value, "mm[Hg]", "mmHg")}
                for part, value in zip(BP_PARTS, v["value"].split("/"), strict=True)
            ]
        else:
            loinc, display, unit = VITALS[v["code"]]
            resource["code"] = _loinc(loinc, display)
            resource["valueQuantity"] = _quantity(v["value"], unit, v.get("unit") or unit)
        return resource

    def lab(self, e: Any) -> dict[str, Any]:
        """A lab result: LOINC-coded, its value a UCUM quantity when it is a number (else text),
        its reference range, its flag (HL7 v3 interpretation H or L). No performer: the
        laboratory is not recorded, and the practitioner who typed it in did not perform it."""
        v = e.values
        unit = v.get("unit") or ""
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "status": "final",
            "category": [{"coding": [{"system": OBSERVATION_CATEGORY, "code": "laboratory"}]}],
            "code": _loinc(v["loinc"], v["test"]),
            "subject": self.subject,
            "effectiveDateTime": v["taken_on"],
        }

        def quantity(text: str) -> dict[str, Any]:
            return _quantity(text, unit, unit) if unit else {"value": _number(text)}

        if labs.number(v["value"]) is None:
            resource["valueString"] = v["value"]
        else:
            resource["valueQuantity"] = quantity(v["value"])
        limits = {bound: quantity(v[bound]) for bound in ("low", "high") if v.get(bound)}
        if limits:
            resource["referenceRange"] = [limits]
        if v.get("flag") in ("low", "high"):
            flag = {"low": "L", "high": "H"}[v["flag"]]
            resource["interpretation"] = [{"coding": [{"system": INTERPRETATION, "code": flag}]}]
        return resource

    def encounter(self, e: Any) -> list[dict[str, Any]]:
        v = e.values
        encounter = {
            "resourceType": "Encounter",
            "id": e.uid,
            "status": "finished",
            "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
            "subject": self.subject,
            "participant": [{"individual": self.author(e)}],
            "period": {"start": _when(e.recorded_at)},
            "reasonCode": [{"text": v["reason"]}],
        }
        sections = [
            {"title": title, "code": _loinc(code, title), "text": _div(v[name])}
            for name, code, title in NOTE_SECTIONS
            if v.get(name)
        ]
        note: dict[str, Any] = {
            "resourceType": "Composition",
            "id": str(uuid.uuid5(uuid.UUID(e.uid), "note")),
            "status": "final",
            "type": _loinc("11506-3", "Progress note"),
            "subject": self.subject,
            "encounter": _ref(encounter),
            "date": _when(e.recorded_at),
            "author": [self.author(e)],
            "title": f"Consultation note: {v['reason']}",
        }
        if sections:
            note["section"] = sections
        return [encounter, note]

    def vaccination(self, e: Any) -> dict[str, Any]:
        v = e.values
        resource: dict[str, Any] = {
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": {"text": v["vaccine"]},
            "patient": self.subject,
            "occurrenceDateTime": v["given_on"],
            "recorded": _when(e.recorded_at),
            "primarySource": not v.get("given_by"),
            "lotNumber": v["lot"],
            "protocolApplied": [
                {"doseNumberPositiveInt": int(v["dose"])}
                if (v["dose"] or "").isdigit()
                else {"doseNumberString": v["dose"]}
            ],
        }
        if v.get("given_by"):  # given elsewhere: by whom, as written; recorded by the author
            resource["performer"] = [{"actor": {"display": v["given_by"]}}]
        else:
            resource["performer"] = [{"actor": self.author(e)}]
        site = SITES.get(v["site"] or "")
        resource["site"] = (
            {"coding": [{"system": ACT_SITE, "code": site[0], "display": site[1]}]}
            if site
            else {"text": v["site"]}
        )
        return resource


def _loinc(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display}


def _quantity(value: str, code: str, unit: str) -> dict[str, Any]:
    return {"value": _number(value), "unit": unit, "system": UCUM, "code": code}


def resources(chart: Any) -> list[dict[str, Any]]:
    """Every resource of the bundle: the patient, the current entries of each kind, then the
    practitioners who wrote them."""
    build = _Builder(chart)
    out = [build.patient]
    for kind, entries in chart.entries.items():
        for entry in entries:
            made = getattr(build, kind)(entry)
            for resource in made if isinstance(made, list) else [made]:
                resource.setdefault("id", entry.uid)
                out.append(resource)
    return out + list(build.authors.values())


def bundle_json(chart: Any, at: dt.datetime) -> Iterator[bytes]:
    """The Bundle as UTF-8 JSON, one entry at a time."""
    head = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": _when(at),
    }
    yield json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "entry": ['
    for n, resource in enumerate(resources(chart)):
        entry = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
        yield (b", " if n else b"") + json.dumps(entry, ensure_ascii=False).encode()
    yield b"]}\n"
