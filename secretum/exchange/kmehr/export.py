"""A chart as a KMEHR SumEHR 2.0 message (issue 14; L1, L2): the summary a practice hands to the
next one, built with the standard library's ElementTree (writing XML needs no defence).

What a SumEHR holds and Secretum records: the problems (``healthcareelement``, coded ICPC-2 or
ICD-10, with their lifecycle), allergies, current medications and vaccines. Consultation notes,
vital signs and lab results are the record, not its summary: they are not part of a SumEHR (the
FHIR export carries them). Secretum knows no contact person nor the holder of the patient's
global medical record (GMD): no ``contactperson`` nor ``gmdmanager`` item is written.
"""

from __future__ import annotations

import datetime as dt
import uuid
import xml.etree.ElementTree as ET
from typing import Any

from django.utils import timezone, translation

from secretum.clinical import codes, medications
from secretum.exchange import kmehr

KINDS = ("problem", "allergy", "medication", "vaccination")
# KMEHR code tables and the versions of them this message follows.
SV = {
    "CD-STANDARD": "1.29",
    "CD-TRANSACTION": "1.10",
    "CD-ITEM": "1.11",
    "CD-LIFECYCLE": "1.9",
    "CD-HCPARTY": "1.14",
    "CD-SEX": "1.1",
    "CD-DRUG-CNK": "01-2016",
    "CD-ATC": "1.0",
    "ICPC": "2",
    "ICD": "10",
}
SYSTEMS = {codes.ICPC2: "ICPC", codes.ICD10: "ICD"}
SEXES = {"female": "female", "male": "male"}  # other, unknown: "undefined" (CD-SEX)


def _add(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = text
    return child


def cd(parent: ET.Element, table: str, value: str, *, local: str = "") -> ET.Element:
    """A code: ``<cd S=TABLE SV=VERSION>``, or a local one ``<cd S="LOCAL" SL=NAME SV="1.0">``."""
    if local:
        return _add(parent, "cd", value, S="LOCAL", SL=local, SV="1.0")
    return _add(parent, "cd", value, S=table, SV=SV[table])


def _id(parent: ET.Element, value: str, table: str = "ID-KMEHR") -> None:
    _add(parent, "id", value, S=table, SV="1.0")


def _when(parent: ET.Element, at: dt.datetime) -> None:
    local = timezone.localtime(at)
    _add(parent, "date", local.date().isoformat())
    _add(parent, "time", local.time().replace(microsecond=0, tzinfo=None).isoformat())


def _moment(parent: ET.Element, tag: str, day: str | None) -> None:
    if day:
        _add(_add(parent, tag), "date", day)


def hcparty(
    parent: ET.Element, kind: str, *, name: str = "", given: str = "", family: str = ""
) -> None:
    party = _add(parent, "hcparty")
    cd(party, "CD-HCPARTY", kind)
    if family or given:
        _add(party, "firstname", given or "-")
        _add(party, "familyname", family or "-")
    else:
        _add(party, "name", name or "-")


def _text(parent: ET.Element, value: str, lang: str) -> None:
    _add(parent, "text", value, L=lang)


class _Items:
    def __init__(self, transaction: ET.Element, lang: str) -> None:
        self.transaction = transaction
        self.lang = lang
        self.count = 0

    def item(self, kind: str) -> ET.Element:
        self.count += 1
        element = _add(self.transaction, "item")
        _id(element, str(self.count))
        cd(element, "CD-ITEM", kind)
        return element

    def problem(self, v: dict[str, Any]) -> None:
        status = v.get("status") or "active"
        item = self.item("healthcareelement")
        if status == "resolved":  # KMEHR's lifecycle has no "resolved": inactive, and ours
            cd(item, "", "resolved", local=kmehr.LOCAL_STATUS)
        system = SYSTEMS.get(v.get("system") or "")
        if system:
            cd(_add(item, "content"), system, v["code"])
        _text(_add(item, "content"), v["label"], self.lang)
        _moment(item, "beginmoment", v.get("onset"))
        cd(_add(item, "lifecycle"), "CD-LIFECYCLE", "active" if status == "active" else "inactive")

    def allergy(self, v: dict[str, Any]) -> None:
        item = self.item("allergy")
        cd(item, "", v["severity"], local=kmehr.LOCAL_SEVERITY)
        _text(_add(item, "content"), v["substance"], self.lang)
        if v.get("reaction"):
            _text(item, v["reaction"], self.lang)
        cd(_add(item, "lifecycle"), "CD-LIFECYCLE", "active")

    def medication(self, v: dict[str, Any]) -> None:
        """The product, its codes, dates and posology where KMEHR has a place for them (L1, L2).

        The strength is part of the product's name for any reader ("Quzpril 5 mg", as a SAM
        product name reads) and a local code for ours, which takes it off the name again. The
        route is not a CD-DRUG-ROUTE code: that table (CBIP/BCFI, 00001 auric., 00002 derm. …)
        is published "for illustrative purposes only and subject to change", and no list of it
        was at hand to map Secretum's twelve words honestly; it is written as a local code and,
        for a human reader, in words as the instruction for the patient. The packages and the
        "deliver from" date are the prescription's quantity and deliverydate."""
        item = self.item("medication")
        if v.get("strength"):
            cd(item, "", v["strength"], local=kmehr.LOCAL_STRENGTH)
        if v.get("route"):
            cd(item, "", v["route"], local=kmehr.LOCAL_ROUTE)
        product = _add(_add(item, "content"), "medicinalproduct")
        if v.get("cnk"):
            _add(product, "intendedcd", v["cnk"], S="CD-DRUG-CNK", SV=SV["CD-DRUG-CNK"])
        _add(product, "intendedname", " ".join(filter(None, (v["drug"], v.get("strength")))))
        if v.get("atc"):  # the substance, WHO ATC level 5
            cd(_add(item, "content"), "CD-ATC", v["atc"])
        _moment(item, "beginmoment", v.get("start"))
        # KMEHR's endmoment is the last day taken; Secretum's stop, the first day without it.
        _moment(item, "endmoment", medications.last_day(v.get("stop")))
        cd(_add(item, "lifecycle"), "CD-LIFECYCLE", "active")
        if v.get("quantity"):  # the number of packages
            _add(_add(item, "quantity"), "decimal", v["quantity"])
        posology = "; ".join((v["dose"], v["frequency"], v.get("duration") or ""))
        _text(_add(item, "posology"), posology, self.lang)
        if v.get("route"):
            with translation.override(self.lang):
                route = str(dict(medications.ROUTES)[v["route"]])
            _add(item, "instructionforpatient", route, L=self.lang)
        if v.get("not_before"):
            _add(item, "deliverydate", v["not_before"])

    def vaccination(self, v: dict[str, Any]) -> None:
        item = self.item("vaccine")
        cd(item, "", v["dose"], local=kmehr.LOCAL_DOSE)
        cd(item, "", v["site"], local=kmehr.LOCAL_SITE)
        product = _add(_add(item, "content"), "medicinalproduct")
        _add(product, "intendedname", v["vaccine"])
        _moment(item, "beginmoment", v["given_on"])
        if v.get("given_by"):  # given elsewhere: who gave it, as written
            hcparty(_add(item, "author"), "orgpractice", name=v["given_by"])
        _add(item, "batch", v["lot"])


def message(
    chart: Any, at: dt.datetime, *, practice: str, author: Any, recipient: str, lang: str
) -> tuple[bytes, dict[str, int]]:
    """The SumEHR of ``chart`` as UTF-8 XML, and the number of items of each kind written.
    ``author`` is the user who vouches for it (None: the practice, from its console)."""
    # Names in no namespace and the KMEHR one declared as the default: ElementTree's own
    # default_namespace refuses the unqualified attributes (S, SV, L) KMEHR uses.
    root = ET.Element("kmehrmessage", {"xmlns": kmehr.NS})
    header = _add(root, "header")
    cd(_add(header, "standard"), "CD-STANDARD", kmehr.STANDARD)
    _id(header, f"{uuid.uuid4().hex}.{at:%Y%m%d%H%M%S}")  # unique; names no record
    _when(header, at)
    sender = _add(header, "sender")
    hcparty(sender, "orgpractice", name=practice)
    hcparty(sender, "application", name="Secretum")
    hcparty(_add(header, "recipient"), "orgpractice", name=recipient)
    folder = _add(root, "folder")
    _id(folder, "1")
    _patient(_add(folder, "patient"), chart.patient)
    transaction = _add(folder, "transaction")
    _id(transaction, "1")
    cd(transaction, "CD-TRANSACTION", kmehr.TRANSACTION)
    _when(transaction, at)
    signed = _add(transaction, "author")
    if author is not None:
        hcparty(signed, "persphysician", given=author.first_name, family=author.last_name)
    else:
        hcparty(signed, "orgpractice", name=practice)
    _add(transaction, "iscomplete", "true")
    _add(transaction, "isvalidated", "true")
    items = _Items(transaction, lang)
    written = {}
    today = timezone.localdate(at)
    for kind in KINDS:
        entries = chart.entries.get(kind, [])
        if kind == "medication":  # the summary's medication is what the patient takes now
            entries = medications.split_active(entries, today)[0]
        for entry in entries:
            getattr(items, kind)(entry.values)
        written[kind] = len(entries)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n", written


def _patient(element: ET.Element, identity: Any) -> None:
    _id(element, identity.niss, "ID-PATIENT")
    _add(element, "firstname", identity.given_name)
    _add(element, "familyname", identity.family_name)
    if identity.birth_date:
        _add(_add(element, "birthdate"), "date", identity.birth_date.isoformat())
    cd(_add(element, "sex"), "CD-SEX", SEXES.get(identity.sex, "undefined"))
