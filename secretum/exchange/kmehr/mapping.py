"""One SumEHR item to the values of one clinical entry (issue 14), or the reason it is not
mapped: an item is mapped only when every field Secretum requires is in the message, so nothing
is invented; the others are kept in the original message attached to the patient and listed in
the import report.

Each kind has ONE function from the item to the values dict of ``rules.clean_entry``
(``medication_values`` for a medication): a field added to an entry kind is read there.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from secretum.clinical import codes, medications, rules
from secretum.exchange import kmehr
from secretum.exchange.kmehr import q
from secretum.exchange.kmehr.parse import codes_of, text

# KMEHR code tables of a problem's code, to Secretum's code systems.
SYSTEMS = {"ICPC": codes.ICPC2, "ICD": codes.ICD10}
PROBLEMS = ("healthcareelement", "problem")
ALLERGIES = ("allergy", "adr", "adversereaction")
# What Secretum has no place for (yet): kept in the original message, named in the report.
NO_PLACE = {
    "risk": gettext_lazy("a risk factor"),
    "socialrisk": gettext_lazy("a social risk factor"),
    "contactperson": gettext_lazy("a contact person"),
    "gmdmanager": gettext_lazy("the holder of the global medical record (GMD)"),
    "patientwill": gettext_lazy("a patient's will"),
    "ntbr": gettext_lazy("a do-not-resuscitate statement"),
    "treatment": gettext_lazy("a treatment"),
}
PLACEHOLDER = "—"  # a posology the message does not split into dose, frequency and duration


@dataclass(frozen=True)
class Mapped:
    kind: str  # a clinical entry kind
    values: dict[str, Any]
    note: str = ""  # what the report should say about how it was read


class NotMapped(Exception):
    """The item is kept in the original message; the message says why."""


def _lifecycle(item: ET.Element) -> str:
    element = item.find(q("lifecycle"))
    found = codes_of(element, "CD-LIFECYCLE") if element is not None else []
    return found[0] if found else ""


def _date(item: ET.Element, tag: str) -> str:
    return text(item.find(f"{q(tag)}/{q('date')}"))


def _contents(item: ET.Element) -> list[ET.Element]:
    return item.findall(q("content"))


def _content_text(item: ET.Element) -> str:
    for content in _contents(item):
        found = text(content.find(q("text")))
        if found:
            return found
    return ""


def _local(item: ET.Element, table: str) -> str:
    found = codes_of(item, f"LOCAL:{table}")
    return found[0] if found else ""


def problem_values(item: ET.Element) -> Mapped:
    lifecycle = _lifecycle(item) or "active"  # a SumEHR's problem says none: a current one
    if lifecycle not in ("active", "inactive"):  # excluded, notpresent…: not the patient's problem
        raise NotMapped(_("a problem whose lifecycle is %(value)s") % {"value": lifecycle})
    status = lifecycle
    if lifecycle == "inactive" and _local(item, kmehr.LOCAL_STATUS) == "resolved":
        status = "resolved"
    label = _content_text(item)
    for content in _contents(item):
        for table, system in SYSTEMS.items():
            for code in codes_of(content, table):
                try:
                    coded = codes.check(system, code)
                except ValidationError:  # not one the classification knows: the next code
                    continue
                if label or coded.title:
                    values = {
                        "system": system,
                        "code": coded.code,
                        "label": label,
                        "status": status,
                    }
                    return Mapped("problem", {**values, "onset": _date(item, "beginmoment")})
    raise NotMapped(
        _("a problem without an ICPC-2 or ICD-10 code Secretum can check: %(label)s")
        % {"label": label or "—"}
    )


def allergy_values(item: ET.Element) -> Mapped:
    substance = _content_text(item)
    if not substance:
        for content in _contents(item):
            name = text(content.find(f"{q('medicinalproduct')}/{q('intendedname')}"))
            if name:
                substance = name
                break
    if not substance:
        raise NotMapped(_("an allergy or adverse reaction with no substance named in text"))
    severity = _local(item, kmehr.LOCAL_SEVERITY)
    if severity not in {choice for choice, _label in rules.SEVERITIES}:
        raise NotMapped(
            _("an allergy or adverse reaction to %(substance)s with no severity Secretum reads")
            % {"substance": substance}
        )
    reaction = " ".join(text(t) for t in item.findall(q("text")))
    return Mapped("allergy", {"substance": substance, "reaction": reaction, "severity": severity})


def medication_values(item: ET.Element) -> Mapped:
    """A medication item to a medication entry (L1, L2): the product's name, its CNK code
    (``intendedcd S=CD-DRUG-CNK``), the ATC code (``content/cd S=CD-ATC``), the start and end,
    the packages (``quantity/decimal``) and the "deliver from" date (``deliverydate``); the
    strength and route from our own local codes (export.py says why), the strength taken off
    the end of the name where we wrote it; the posology, when it is our own "dose; frequency;
    duration", to those three, else whole into the dose. A value the entry's rules refuse keeps
    the item in the original message, with the rules' reason."""
    lifecycle = _lifecycle(item) or "active"
    if lifecycle != "active":
        raise NotMapped(_("a medication whose lifecycle is %(value)s") % {"value": lifecycle})
    product = None
    for content in _contents(item):
        product = content.find(q("medicinalproduct"))
        if product is not None:
            break
    name = text(product.find(q("intendedname"))) if product is not None else ""
    drug = name or _content_text(item)
    if not drug:
        raise NotMapped(_("a medication with no product named"))
    strength = _local(item, kmehr.LOCAL_STRENGTH)
    if strength and drug.endswith(f" {strength}"):
        drug = drug.removesuffix(f" {strength}")
    posology = text(item.find(f"{q('posology')}/{q('text')}"))
    parts = [p.strip() for p in posology.split(";")]
    note = ""
    if len(parts) == 3 and parts[0] and parts[1]:  # our own: a duration may be empty
        dose, frequency, duration = parts
    else:
        dose, frequency, duration = posology or PLACEHOLDER, PLACEHOLDER, PLACEHOLDER
        note = _("posology kept as written, in the dose")
    values: dict[str, Any] = {
        "drug": drug,
        "dose": dose,
        "frequency": frequency,
        "duration": duration,
        "strength": strength,
        "route": _local(item, kmehr.LOCAL_ROUTE),
        "start": _date(item, "beginmoment"),
        "not_before": text(item.find(q("deliverydate"))),
        "quantity": _packages(text(item.find(f"{q('quantity')}/{q('decimal')}"))),
    }
    if product is not None:
        cnk = [text(c) for c in product.findall(q("intendedcd")) if c.get("S") == "CD-DRUG-CNK"]
        values["cnk"] = cnk[0] if cnk else ""
    for content in _contents(item):
        atc = codes_of(content, "CD-ATC")
        if atc:
            values["atc"] = atc[0]
            break
    end = _date(item, "endmoment")
    if end:  # the last day taken, to the day after (Secretum's stop)
        try:
            values["stop"] = medications.stop_after(end)
        except ValueError:
            values["stop"] = end  # not a date: the entry's rules say so, the item is kept
    return Mapped("medication", {k: v for k, v in values.items() if v}, note)


def _packages(decimal: str) -> str:
    """A KMEHR decimal ("2", "2.0") as Secretum's whole number of packages, else as written
    (the entry's rules refuse what is not a whole number from 1 to 99)."""
    try:
        number = float(decimal)
    except ValueError:
        return decimal
    return str(int(number)) if number.is_integer() else decimal


def vaccination_values(item: ET.Element, sender: str) -> Mapped:
    name = ""
    for content in _contents(item):
        name = text(content.find(f"{q('medicinalproduct')}/{q('intendedname')}"))
        if name:
            break
    vaccine = name or _content_text(item)
    given_on = _date(item, "beginmoment")
    lot = text(item.find(q("batch")))
    dose = _local(item, kmehr.LOCAL_DOSE)
    site = _local(item, kmehr.LOCAL_SITE)
    if not (vaccine and given_on and lot and dose and site):
        raise NotMapped(
            _("a vaccine %(name)s without its date, lot, dose number or site")
            % {"name": vaccine or "—"}
        )
    party = item.find(f"{q('author')}/{q('hcparty')}")
    given_by = text(party.find(q("name"))) if party is not None else ""
    return Mapped(
        "vaccination",
        {"vaccine": vaccine, "lot": lot, "given_on": given_on, "dose": dose, "site": site,
         "given_by": given_by or sender},
    )  # fmt: skip


def map_item(item: ET.Element, sender: str) -> Mapped:
    """The entry this item becomes, or NotMapped saying what it is."""
    kinds = codes_of(item, "CD-ITEM")
    kind = kinds[0] if kinds else ""
    if kind in PROBLEMS:
        return problem_values(item)
    if kind in ALLERGIES:
        return allergy_values(item)
    if kind == "medication":
        return medication_values(item)
    if kind == "vaccine":
        return vaccination_values(item, sender)
    if kind in NO_PLACE:
        raise NotMapped(str(NO_PLACE[kind]))
    raise NotMapped(_("an item of a kind Secretum does not read: %(kind)s") % {"kind": kind or "?"})
