"""A KMEHR message from another package, read defensively (issue 14): a size cap before any
parsing, defusedxml with no DTD at all (so no entity, internal or external: no XXE, no "billion
laughs"), the KMEHR namespace checked, one patient and one SumEHR transaction. Every refusal is
a ValidationError that says what is wrong, in the reader's language."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from secretum.exchange import kmehr
from secretum.exchange.kmehr import q
from secretum.lib import niss as niss_lib

NAME_MAX = 200
SEXES = {"female": "female", "male": "male", "undefined": "unknown", "changed": "other"}


@dataclass(frozen=True)
class Identity:
    niss: str
    given_name: str
    family_name: str
    birth_date: dt.date | None
    sex: str  # Secretum's words: female, male, other, unknown; "" when the message says none


@dataclass(frozen=True)
class Message:
    sender: str  # the sending practice or person, as the header names it
    standard: str
    identity: Identity
    items: list[ET.Element]  # the SumEHR transaction's items, in order
    # What is not an item of the SumEHR transaction: other transactions, headings, free texts.
    other: list[str] = field(default_factory=list)


def local(element: ET.Element) -> str:
    """An element's name without its namespace."""
    return element.tag.rsplit("}", 1)[-1]


def text(element: ET.Element | None) -> str:
    """The element's text with its white space made single, at most NAME_MAX characters for a
    name, or "" (printable characters only: a name is shown and logged)."""
    if element is None:
        return ""
    value = " ".join("".join(element.itertext()).split())
    return "".join(c for c in value if c.isprintable())


def codes_of(element: ET.Element, table: str) -> list[str]:
    """The values of the element's own ``cd`` children in this table (S), or for a local
    table (``LOCAL:NAME``) in that one (SL)."""
    found = []
    for code in element.findall(q("cd")):
        s, sl = code.get("S", ""), code.get("SL", "")
        if (s == table) or (table.startswith("LOCAL:") and s == "LOCAL" and sl == table[6:]):
            found.append(text(code))
    return found


def _refuse(message: str) -> ValidationError:
    return ValidationError(message, code="kmehr")


def check_size(data: bytes) -> None:
    """Refused before anything reads it: empty, or larger than SECRETUM_KMEHR_MAX_BYTES."""
    limit = settings.SECRETUM_KMEHR_MAX_BYTES
    if not data:
        raise _refuse(_("The file is empty."))
    if len(data) > limit:
        raise _refuse(
            _("This KMEHR message is larger than %(size)s: it was not read.")
            % {"size": filesizeformat(limit)}
        )


def _root(data: bytes) -> ET.Element:
    check_size(data)
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise _refuse(
            _(
                "This message declares a DTD or entities, which a KMEHR message never needs and "
                "which could read files or exhaust the server: it was refused."
            )
        ) from None
    except (ET.ParseError, ValueError) as exc:
        raise _refuse(
            _("This file is not well-formed XML (%(error)s): it was not read.") % {"error": exc}
        ) from None
    if root.tag != q("kmehrmessage"):
        raise _refuse(
            _("This is not a KMEHR message: its root element is not kmehrmessage in %(ns)s.")
            % {"ns": kmehr.NS}
        )
    return root


def _identity(patient: ET.Element | None) -> Identity:
    if patient is None:
        raise _refuse(_("The message names no patient."))
    inss = [text(e) for e in patient.findall(q("id")) if e.get("S") in ("ID-PATIENT", "INSS")]
    if not inss:
        raise _refuse(_("The message gives no national number (INSS) for its patient."))
    try:
        number = niss_lib.clean(inss[0])
    except niss_lib.NissError as exc:
        raise _refuse(
            _("The patient's national number (INSS): %(error)s") % {"error": exc}
        ) from None
    given = " ".join(text(e) for e in patient.findall(q("firstname")))
    family = text(patient.find(q("familyname")))
    if not given or not family:
        raise _refuse(_("The message gives no first name or family name for its patient."))
    birth = None
    born = text(patient.find(f"{q('birthdate')}/{q('date')}"))
    if born:
        try:
            birth = dt.date.fromisoformat(born)
        except ValueError:
            raise _refuse(
                _("The patient's birth date is not a date: %(value)s") % {"value": born}
            ) from None
    sex = patient.find(q("sex"))
    sexes = codes_of(sex, "CD-SEX") if sex is not None else []
    return Identity(
        number, given[:NAME_MAX], family[:NAME_MAX], birth, SEXES.get(sexes[0], "") if sexes else ""
    )


def _sender(header: ET.Element | None) -> str:
    if header is None:
        raise _refuse(_("The message has no header."))
    names = []
    for party in header.findall(f"{q('sender')}/{q('hcparty')}"):
        if "application" in codes_of(party, "CD-HCPARTY"):
            continue  # the software, not who sent it
        name = text(party.find(q("name"))) or " ".join(
            filter(None, (text(party.find(q("firstname"))), text(party.find(q("familyname")))))
        )
        if name:
            names.append(name)
    return (", ".join(names) or _("an unnamed sender"))[:NAME_MAX]


def read(data: bytes) -> Message:
    """The message's sender, patient and SumEHR items, or ValidationError."""
    root = _root(data)
    header = root.find(q("header"))
    sender = _sender(header)
    standard = text(header.find(f"{q('standard')}/{q('cd')}")) if header is not None else ""
    folders = root.findall(q("folder"))
    if len(folders) != 1:
        raise _refuse(
            _("A SumEHR concerns one patient: this message has %(n)d folders.")
            % {"n": len(folders)}
        )
    folder = folders[0]
    identity = _identity(folder.find(q("patient")))
    sumehr = None
    other = []
    for transaction in folder.findall(q("transaction")):
        kinds = codes_of(transaction, "CD-TRANSACTION")
        if kmehr.TRANSACTION in kinds and sumehr is None:
            sumehr = transaction
        else:
            other.append(_("a transaction %(kind)s") % {"kind": ", ".join(kinds) or "?"})
    if sumehr is None:
        raise _refuse(_("This KMEHR message holds no SumEHR transaction (CD-TRANSACTION sumehr)."))
    known = {
        "id",
        "cd",
        "date",
        "time",
        "author",
        "iscomplete",
        "isvalidated",
        "recorddatetime",
        "item",
        "version",
    }
    items = []
    for child in sumehr:
        name = local(child)
        if name == "item":
            items.append(child)
        elif name not in known:
            other.append(_("a part %(name)s of the SumEHR") % {"name": name})
    return Message(sender, standard, identity, items, other)
