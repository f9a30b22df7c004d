"""Medications and prescriptions (issue 15): product codes, routes, dates, the active list, and
the prescriber's RIZIV/INAMI number. Plain checks, no database: the rules (clinical/rules.py)
call them for every medication entry, and docs/prescriptions.md says what each field becomes in
an electronic prescription (Recip-e) once Secretum reaches the eHealth platform.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# The routes of administration a prescription names (a small set; "other" says it in the dose).
ROUTES = (
    ("oral", gettext_lazy("oral")),
    ("sublingual", gettext_lazy("sublingual")),
    ("cutaneous", gettext_lazy("cutaneous")),
    ("inhaled", gettext_lazy("inhaled")),
    ("nasal", gettext_lazy("nasal")),
    ("ocular", gettext_lazy("ocular")),
    ("rectal", gettext_lazy("rectal")),
    ("vaginal", gettext_lazy("vaginal")),
    ("subcutaneous", gettext_lazy("subcutaneous")),
    ("intramuscular", gettext_lazy("intramuscular")),
    ("intravenous", gettext_lazy("intravenous")),
    ("other", gettext_lazy("other")),
)

# CNK: the 7-digit code of a product package in Belgium (APB / SAM).
_CNK = re.compile(r"[0-9]{7}")
# WHO ATC, level 5 (chemical substance): anatomical group, therapeutic subgroup (2 digits),
# pharmacological and chemical subgroups (2 letters), substance (2 digits): C09AA05.
_ATC = re.compile(r"[ABCDGHJLMNPRSV][0-9]{2}[A-Z]{2}[0-9]{2}")
QUANTITY_MAX = 99  # packages on one prescription line; more is a typing error
# RIZIV/INAMI number of a care provider: 11 digits.
_RIZIV = re.compile(r"[0-9]{11}")


def check_cnk(text: str) -> str:
    code = text.replace(" ", "").replace("-", "")
    if not _CNK.fullmatch(code):
        raise ValidationError(_("A CNK code has exactly 7 digits, e.g. 0123456."))
    return code


def check_atc(text: str) -> str:
    code = text.replace(" ", "").upper()
    if not _ATC.fullmatch(code):
        raise ValidationError(
            _("An ATC code is a substance's code of 7 characters, e.g. C09AA05 (WHO ATC level 5).")
        )
    return code


def check_quantity(text: str) -> str:
    if not text.isdigit() or not 1 <= int(text) <= QUANTITY_MAX:
        raise ValidationError(
            _("The number of packages is a whole number from 1 to %(max)d.") % {"max": QUANTITY_MAX}
        )
    return str(int(text))


def clean_medication(out: dict[str, str | None]) -> dict[str, str | None]:
    """A medication's typed values checked together: its codes' shapes, a stop not before its
    start, a delivery date not before its start. The error names its field (the form shows it
    there)."""
    for name, check in (("cnk", check_cnk), ("atc", check_atc), ("quantity", check_quantity)):
        if out.get(name):
            try:
                out[name] = check(out[name] or "")
            except ValidationError as exc:
                raise ValidationError({name: exc.messages}) from None
    start, stop, not_before = (out.get(k) for k in ("start", "stop", "not_before"))
    # ISO 8601 dates (the rules made them so): their text order is their order in time.
    if start and stop and stop < start:
        raise ValidationError({"stop": _("The stop date cannot be before the start date.")})
    if start and not_before and not_before < start:
        raise ValidationError(
            {"not_before": _("The delivery date cannot be before the start date.")}
        )
    return out


def is_active(values: dict[str, Any], today: dt.date) -> bool:
    """Taken today or later: no stop date, or one still to come (the stop date is the first day
    without it). A medication recorded before these dates existed is active."""
    stop = values.get("stop")
    return not stop or dt.date.fromisoformat(stop) > today


def last_day(stop: str | None) -> str | None:
    """The last day a medication is taken (FHIR's period end, KMEHR's endmoment, both inclusive),
    from Secretum's stop date, the first day without it."""
    return (dt.date.fromisoformat(stop) - dt.timedelta(days=1)).isoformat() if stop else None


def stop_after(last: str) -> str:
    """Secretum's stop date from the last day taken: the day after. ValueError if no date."""
    return (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat()


def split_active(entries: Iterable[Any], today: dt.date) -> tuple[list[Any], list[Any]]:
    """The chart's active medications and the stopped ones, each in the order given."""
    active: list[Any] = []
    stopped: list[Any] = []
    for entry in entries:
        (active if is_active(entry.values, today) else stopped).append(entry)
    return active, stopped


def check_riziv(text: str) -> str:
    """A care provider's RIZIV/INAMI number: 11 digits, written with or without separators
    (1-23456-78-901). Digits 1-6 identify the provider, 7-8 are their check digits,
    97 - (digits 1-6 mod 97), and 9-11 the provider's qualification (not checked: the INAMI's
    list changes). docs/prescriptions.md says where the rule comes from."""
    number = re.sub(r"[\s./-]", "", text or "")
    if not _RIZIV.fullmatch(number):
        raise ValidationError(_("A RIZIV/INAMI number has 11 digits, e.g. 1-23456-78-901."))
    if 97 - int(number[:6]) % 97 != int(number[6:8]):
        raise ValidationError(
            _("This RIZIV/INAMI number is mistyped: its check digits do not match.")
        )
    return number


def riziv_display(number: str) -> str:
    """1-23456-78-901, the way the INAMI writes it."""
    return f"{number[0]}-{number[1:6]}-{number[6:8]}-{number[8:]}"
