"""FHIR R4 resources read back into a patient's identity and entries (L1, L2): the inverse of
``fhir.py``, for Secretum's own exports and for others' in the same shape.

Whatever is read comes from outside: each resource is read defensively, and one that cannot be
read raises ``Unreadable`` with a reason that the import report prints (never a stack trace). The
values read are checked again by the services as a typed entry is (``rules.clean_entry``).
``fhir.resources`` validates the exports in the tests; it is a test dependency and is not used
here at run time.

What FHIR carries and Secretum does not keep is left out, and what Secretum keeps and FHIR does
not carry comes back as the export wrote it: a medication's dosage is one text, "dose,
frequency, duration", split at its last two commas; a lab result has no time of recording, so
it takes the time of the import.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from secretum.clinical import codes, medications
from secretum.exchange import fhir


class Unreadable(ValueError):
    """A resource that cannot be read: the reason, in English, for the import report."""


@dataclass(frozen=True)
class ReadEntry:
    kind: str
    values: dict[str, Any]
    recorded_at: dt.datetime | None
    author: str  # the original author's name ("" when the resource names none)


# The resource types an import reads; any other is reported as skipped, never an error.
READ_TYPES = frozenset(
    {
        "Patient", "Practitioner", "Condition", "AllergyIntolerance", "MedicationStatement",
        "Observation", "Encounter", "Composition", "Immunization",
    }
)  # fmt: skip
_SYSTEMS = {uri: name for name, uri in codes.URIS.items()}
_SITES = {code: name for name, (code, _display) in fhir.SITES.items()}
_SECTIONS = {code: name for name, code, _title in fhir.NOTE_SECTIONS}
_VITALS = {loinc: name for name, (loinc, _display, _unit) in fhir.VITALS.items()}


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unreadable(f"{what} is missing or not an object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise Unreadable(f"{what} is missing or not a list")
    return value


def _text(value: Any, what: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise Unreadable(f"{what} is missing or not a text")
    return str(value)


def _when(value: Any, what: str) -> dt.datetime:
    text = _text(value, what)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise Unreadable(f"{what} is not a date and time") from None
    if when.tzinfo is None:
        raise Unreadable(f"{what} has no time zone")
    return when


def reference_id(value: Any, what: str) -> str:
    """The id a reference names: ``urn:uuid:ID`` (a Bundle) or ``Type/ID`` (bulk NDJSON)."""
    ref = _text(_obj(value, what).get("reference"), f"{what}.reference")
    return ref.removeprefix("urn:uuid:").rsplit("/", 1)[-1]


def identity(resource: dict[str, Any]) -> dict[str, Any]:
    """A Patient as the identity fields ``register_patient`` takes."""
    name = _obj(_list(resource.get("name"), "Patient.name")[0], "Patient.name")
    given = _list(name.get("given"), "Patient.name.given")
    out: dict[str, Any] = {
        "family_name": _text(name.get("family"), "Patient.name.family"),
        "given_name": " ".join(_text(g, "Patient.name.given") for g in given),
        "birth_date": _text(resource.get("birthDate"), "Patient.birthDate", required=False),
        "sex": "" if resource.get("gender") == "unknown" else resource.get("gender") or "",
    }
    if out["sex"] not in ("", "female", "male", "other"):
        raise Unreadable("Patient.gender is not a FHIR administrative gender")
    for ident in resource.get("identifier") or []:
        if isinstance(ident, dict) and ident.get("system") == fhir.SSIN:
            out["niss"] = _text(ident.get("value"), "Patient.identifier.value")
    address = (resource.get("address") or [None])[0]
    if isinstance(address, dict):
        out["street"] = " ".join(_text(x, "Patient.address.line") for x in address.get("line", []))
        out["city"] = _text(address.get("city"), "Patient.address.city", required=False)
        out["postal_code"] = _text(address.get("postalCode"), "Patient.address", required=False)
    for contact in resource.get("telecom") or []:
        if isinstance(contact, dict) and contact.get("system") in ("phone", "email"):
            out[contact["system"]] = _text(contact.get("value"), "Patient.telecom.value")
    return out


def practitioner_name(resource: dict[str, Any]) -> str:
    name = _obj(_list(resource.get("name"), "Practitioner.name")[0], "Practitioner.name")
    if name.get("text"):
        return _text(name["text"], "Practitioner.name.text")
    parts = [*(name.get("given") or []), name.get("family") or ""]
    return " ".join(_text(p, "Practitioner.name") for p in parts if p)


def _coding(concept: Any, what: str) -> dict[str, Any]:
    return _obj(_list(_obj(concept, what).get("coding"), f"{what}.coding")[0], f"{what}.coding")


def _status(concept: Any, what: str) -> str:
    return _text(_coding(concept, what).get("code"), f"{what}.code")


def _number_text(value: Any, what: str) -> str:
    """A measured value as text. Bounded: a number from outside such as 1e9999999 would be
    written out digit by digit; no clinical value needs more than 15 digits either side."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise Unreadable(f"{what} is not a number")
    try:
        number = Decimal(str(value)).normalize()
    except ArithmeticError:
        raise Unreadable(f"{what} is not a number") from None
    if not number.is_finite() or abs(number.adjusted()) > 15:
        raise Unreadable(f"{what} is out of range")
    return f"{number:f}"


def _quantity(value: Any, what: str) -> str:
    return _number_text(_obj(value, what).get("value"), f"{what}.value")


def problem(r: dict[str, Any]) -> dict[str, Any]:
    coding = _coding(r.get("code"), "Condition.code")
    system = _SYSTEMS.get(coding.get("system") or "")
    if system is None:
        raise Unreadable("Condition.code names no ICD-10 or ICPC-2 code")
    values = {
        "system": system,
        "code": _text(coding.get("code"), "Condition.code"),
        "label": _text(coding.get("display"), "Condition.code.display", required=False),
        "status": _status(r.get("clinicalStatus"), "Condition.clinicalStatus"),
    }
    if r.get("onsetDateTime"):
        values["onset"] = _text(r["onsetDateTime"], "Condition.onsetDateTime")[:10]
    return values


def allergy(r: dict[str, Any]) -> dict[str, Any]:
    values = {"substance": _text(_obj(r.get("code"), "code").get("text"), "Allergy.code.text")}
    if r.get("reaction"):
        reaction = _obj(_list(r["reaction"], "AllergyIntolerance.reaction")[0], "reaction")
        manifest = _obj(_list(reaction.get("manifestation"), "manifestation")[0], "manifestation")
        values["reaction"] = _text(manifest.get("text"), "reaction.manifestation.text")
        values["severity"] = _text(reaction.get("severity"), "reaction.severity")
        return values
    for note in r.get("note") or []:
        text = _text(_obj(note, "note").get("text"), "AllergyIntolerance.note")
        if text.startswith("Severity: "):
            values["severity"] = text.removeprefix("Severity: ")
    return values


# The product's codes a MedicationStatement may carry, to the medication's fields (fhir.py).
_PRODUCT_CODES = {fhir.CNK: "cnk", fhir.ATC: "atc"}


def medication(r: dict[str, Any]) -> dict[str, Any]:
    """A medication as exchange/fhir.py writes it: the product in words (its strength within
    them), its CNK and ATC codes, the posology "dose, frequency[, duration]", the route, the
    period from start to stop. A code of another system is left out (the product's words stay)."""
    product = _obj(r.get("medicationCodeableConcept"), "medication")
    values: dict[str, Any] = {"drug": _text(product.get("text"), "drug")}
    for coding in product.get("coding") or []:
        found = _obj(coding, "medication.coding")
        name = _PRODUCT_CODES.get(str(found.get("system")))
        if name:
            values[name] = _text(found.get("code"), f"medication.coding {name}")
    dosage = _obj(_list(r.get("dosage"), "MedicationStatement.dosage")[0], "dosage")
    parts = _text(dosage.get("text"), "MedicationStatement.dosage.text").rsplit(", ", 2)
    if len(parts) < 2:
        raise Unreadable("MedicationStatement.dosage.text is not 'dose, frequency[, duration]'")
    values.update(dose=parts[0], frequency=parts[1], duration=parts[2] if len(parts) == 3 else "")
    if dosage.get("route") is not None:
        values["route"] = _text(_obj(dosage["route"], "dosage.route").get("text"), "route")
    if r.get("effectivePeriod") is not None:
        period = _obj(r["effectivePeriod"], "MedicationStatement.effectivePeriod")
        if period.get("start") is not None:
            values["start"] = _text(period["start"], "effectivePeriod.start")
        if period.get("end") is not None:  # the last day taken: Secretum stops the day after
            end = _text(period["end"], "effectivePeriod.end")
            try:
                values["stop"] = medications.stop_after(end[:10])
            except ValueError:
                raise Unreadable("MedicationStatement.effectivePeriod.end is not a date") from None
    return values


def _category(r: dict[str, Any]) -> str:
    return _status(_list(r.get("category"), "Observation.category")[0], "Observation.category")


def observation(r: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A vital sign (kind "observation") or a lab result (kind "lab")."""
    code = _coding(r.get("code"), "Observation.code")
    loinc = _text(code.get("code"), "Observation.code")
    if _category(r) == "laboratory":
        return "lab", _lab(r, loinc, code)
    if loinc == fhir.BP_PANEL[0]:
        parts = {
            _coding(_obj(c, "component").get("code"), "component.code").get("code"): c
            for c in _list(r.get("component"), "Observation.component")
        }
        try:
            pair = [parts[code] for code, _display in fhir.BP_PARTS]
        except KeyError:
            raise Unreadable("a blood pressure needs its systolic and diastolic parts") from None
        value = "/".join(_quantity(p.get("valueQuantity"), "component") for p in pair)
        return "observation", {"code": "bp", "value": value}
    if loinc not in _VITALS:
        raise Unreadable(f"Observation.code {loinc} is no vital sign Secretum records")
    value = _quantity(r.get("valueQuantity"), "Observation.valueQuantity")
    return "observation", {"code": _VITALS[loinc], "value": value}


def _lab(r: dict[str, Any], loinc: str, code: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "loinc": loinc,
        "test": _text(code.get("display"), "Observation.code.display", required=False),
        "taken_on": _text(r.get("effectiveDateTime"), "Observation.effectiveDateTime")[:10],
    }
    if "valueString" in r:
        values["value"] = _text(r["valueString"], "Observation.valueString")
    else:
        quantity = _obj(r.get("valueQuantity"), "Observation.valueQuantity")
        values["value"] = _quantity(quantity, "Observation.valueQuantity")
        values["unit"] = quantity.get("code")
    for limits in r.get("referenceRange") or []:
        for bound in ("low", "high"):
            if bound in _obj(limits, "referenceRange"):
                values[bound] = _quantity(limits[bound], f"referenceRange.{bound}")
    return values


def vaccination(r: dict[str, Any]) -> dict[str, Any]:
    protocol = _obj(_list(r.get("protocolApplied"), "protocolApplied")[0], "protocolApplied")
    dose = protocol.get("doseNumberPositiveInt", protocol.get("doseNumberString"))
    site = _obj(r.get("site"), "Immunization.site")
    values = {
        "vaccine": _text(_obj(r.get("vaccineCode"), "vaccineCode").get("text"), "vaccineCode"),
        "lot": _text(r.get("lotNumber"), "Immunization.lotNumber"),
        "given_on": _text(r.get("occurrenceDateTime"), "Immunization.occurrenceDateTime")[:10],
        "dose": _text(dose, "Immunization.protocolApplied.doseNumber"),
        "site": _SITES.get(site["coding"][0].get("code"), "other")
        if site.get("coding")
        else _text(site.get("text"), "Immunization.site.text"),
    }
    if r.get("primarySource") is False:
        actor = _obj(_list(r.get("performer"), "performer")[0], "performer").get("actor")
        values["given_by"] = _text(_obj(actor, "performer.actor").get("display"), "given by")
    return values


_BREAK = re.compile(r"<br\s*/?>")
_TAG = re.compile(r"<[^>]*>")


def div_text(value: Any, what: str) -> str:
    """The text of a narrative's XHTML: lines at each ``<br/>``, tags left out, entities read."""
    div = _text(_obj(value, what).get("div"), f"{what}.div")
    return "\n".join(html.unescape(_TAG.sub("", line)) for line in _BREAK.split(div))


def encounter(r: dict[str, Any], note: dict[str, Any] | None) -> dict[str, Any]:
    reason = _obj(_list(r.get("reasonCode"), "Encounter.reasonCode")[0], "reasonCode")
    values = {"reason": _text(reason.get("text"), "Encounter.reasonCode.text")}
    for section in (note or {}).get("section") or []:
        code = _coding(_obj(section, "section").get("code"), "Composition.section.code")
        name = _SECTIONS.get(code.get("code") or "")
        if name:
            values[name] = div_text(section.get("text"), "Composition.section.text")
    return values


# Where each resource type keeps its time of recording and its author's reference.
_RECORDED = {
    "Condition": ("recordedDate", "recorder"),
    "AllergyIntolerance": ("recordedDate", "recorder"),
    "MedicationStatement": ("dateAsserted", "informationSource"),
    "Observation": ("effectiveDateTime", "performer"),
    "Immunization": ("recorded", "performer"),
}


def entry(r: dict[str, Any], authors: dict[str, str]) -> ReadEntry:
    """One resource (not an Encounter or a Composition: see ``note_entry``) as an entry;
    ``authors``: the practitioners' names by id."""
    kind_of = {
        "Condition": ("problem", problem),
        "AllergyIntolerance": ("allergy", allergy),
        "MedicationStatement": ("medication", medication),
        "Immunization": ("vaccination", vaccination),
    }
    rtype = r.get("resourceType")
    if rtype == "Observation":
        kind, values = observation(r)
    elif rtype in kind_of:
        kind, read = kind_of[rtype]
        values = read(r)
    else:
        raise Unreadable(f"resourceType {rtype!r} is not an entry Secretum records")
    when_key, author_key = _RECORDED[rtype]
    recorded = None if kind == "lab" else _when(r.get(when_key), f"{rtype}.{when_key}")
    author = r.get(author_key)
    if rtype == "Immunization":
        author = (r.get("performer") or [{}])[0].get("actor") if r.get("primarySource") else None
    elif isinstance(author, list):
        author = author[0] if author else None
    name = authors.get(reference_id(author, f"{rtype}.{author_key}"), "") if author else ""
    return ReadEntry(kind, values, recorded, name)


def note_entry(
    r: dict[str, Any], note: dict[str, Any] | None, authors: dict[str, str]
) -> ReadEntry:
    """A consultation: the Encounter and the Composition of its note."""
    participant = _obj(_list(r.get("participant"), "Encounter.participant")[0], "participant")
    author = authors.get(reference_id(participant.get("individual"), "participant"), "")
    when = _when(_obj(r.get("period"), "Encounter.period").get("start"), "Encounter.period")
    return ReadEntry("encounter", encounter(r, note), when, author)
