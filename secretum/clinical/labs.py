"""Lab results (issue 15): LOINC-coded, UCUM units checked and converted, reference ranges, flags.

A result names its test by its LOINC code (checked by its form and its check digit, the Luhn
"mod 10" of LOINC's own users' guide; the LOINC table itself, 100,000 rows, is not shipped) and
by a name: the common tests of a general practice below carry theirs in French, Dutch and
English, and the unit a Belgian laboratory usually reports them in. The unit is UCUM, parsed by
``ucumvert`` into a ``pint`` quantity: a unit no laboratory could mean ("mgg/xx") is refused, and
results of one test reported in two units (mg/dL and g/L) are converted to one for the trend.
A result outside its reference range is flagged low or high, in words on the chart, not by
colour alone.

The unit registry takes about a second to build: it is made once per process, on the first
result checked or drawn, never at start.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# LOINC code → (name, the unit laboratories usually report it in).
COMMON: dict[str, tuple[str | Promise, str]] = {
    "2345-7": (gettext_lazy("Glucose"), "mg/dL"),
    "4548-4": (gettext_lazy("HbA1c"), "%"),
    "718-7": (gettext_lazy("Haemoglobin"), "g/dL"),
    "6690-2": (gettext_lazy("Leukocytes"), "10*3/uL"),
    "777-3": (gettext_lazy("Platelets"), "10*3/uL"),
    "2160-0": (gettext_lazy("Creatinine"), "mg/dL"),
    "33914-3": (gettext_lazy("eGFR"), "mL/min/{1.73_m2}"),
    "2951-2": (gettext_lazy("Sodium"), "mmol/L"),
    "2823-3": (gettext_lazy("Potassium"), "mmol/L"),
    "2093-3": (gettext_lazy("Total cholesterol"), "mg/dL"),
    "2085-9": (gettext_lazy("HDL cholesterol"), "mg/dL"),
    "13457-7": (gettext_lazy("LDL cholesterol (calculated)"), "mg/dL"),
    "2571-8": (gettext_lazy("Triglycerides"), "mg/dL"),
    "1742-6": (gettext_lazy("ALT"), "U/L"),
    "3016-3": (gettext_lazy("TSH"), "m[IU]/L"),
    "1988-5": (gettext_lazy("CRP"), "mg/L"),
}
FLAGS = (("low", gettext_lazy("low")), ("high", gettext_lazy("high")))
_LOINC = re.compile(r"([0-9]{1,7})-([0-9])")


def loinc_check_digit(number: str) -> int:
    """The check digit of a LOINC code's number (Luhn, "mod 10")."""
    total = 0
    for place, digit in enumerate(reversed(number)):
        value = int(digit) * (2 if place % 2 == 0 else 1)
        total += value // 10 + value % 10
    return (10 - total % 10) % 10


def check_loinc(code: str) -> str:
    text = (code or "").strip()
    found = _LOINC.fullmatch(text)
    if not found or loinc_check_digit(found.group(1)) != int(found.group(2)):
        raise ValidationError(
            _("%(code)s is not a LOINC code (digits, a hyphen and the check digit, e.g. 2345-7).")
            % {"code": text or "—"}
        )
    return text


@cache
def _registry() -> Any:
    from ucumvert import PintUcumRegistry  # made on first use (the module's docstring)

    return PintUcumRegistry()


def unit_of(text: str) -> Any:
    """The pint unit of a UCUM unit, or a ValidationError naming it."""
    try:
        return _registry().from_ucum(text)
    except Exception:  # ucumvert's parse errors and pint's undefined units alike
        raise ValidationError(
            _("%(unit)s is not a UCUM unit (e.g. mg/dL, mmol/L, 10*3/uL, %%).") % {"unit": text}
        ) from None


def convert(value: Decimal, unit: str, to: str) -> Decimal | None:
    """A value in another unit of the same kind (mg/dL → g/L), or None if they differ in kind."""
    if unit == to:
        return value
    try:
        quantity = (float(value) * unit_of(unit)).to(unit_of(to))
    except Exception:  # pint's DimensionalityError, or a unit refused since
        return None
    return Decimal(str(round(quantity.magnitude, 6)))


def latest_results(results: Iterable[Any]) -> list[Any]:
    """The latest result of each test (by the day its sample was taken, then as recorded), by
    the test's name: what the chart shows first (clinical.services.Entry)."""
    latest: dict[str, Any] = {}
    for entry in results:
        key = entry.values.get("loinc") or ""
        when = (entry.values.get("taken_on") or "", entry.recorded_at)
        held = latest.get(key)
        if held is None or when > (held.values.get("taken_on") or "", held.recorded_at):
            latest[key] = entry
    return sorted(latest.values(), key=lambda entry: str(entry.values.get("test") or "").lower())


def number(text: str | None) -> Decimal | None:
    """A decimal written with a point or a comma, or None."""
    try:
        value = Decimal((text or "").replace(",", ".").strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _limit(data: dict[str, str | None], name: str, what: str) -> Decimal | None:
    if not data[name]:
        return None
    value = number(data[name])
    if value is None:
        raise ValidationError(_("%(what)s must be a number.") % {"what": what})
    data[name] = f"{value.normalize():f}"
    return value


def clean_result(data: dict[str, str | None]) -> dict[str, str | None]:
    """A lab result's fields checked and completed: the test's name and usual unit from the
    common tests, a numeric value normalised, the flag computed from the range."""
    loinc = data["loinc"] = check_loinc(data["loinc"] or "")
    name, usual = COMMON.get(loinc, ("", ""))
    data["test"] = data["test"] or (str(name) if name else None)
    if not data["test"]:
        raise ValidationError(_("Name the test: its LOINC code is not among the common ones."))
    data["unit"] = (data["unit"] or usual or "").strip() or None
    if data["unit"]:
        unit_of(data["unit"])
    taken = dt.date.fromisoformat(data["taken_on"] or "")
    if taken > timezone.localdate():
        raise ValidationError(
            _("A result is recorded once the sample is taken: the date is in the future.")
        )
    value = number(data["value"])
    low = _limit(data, "low", _("The lower limit"))
    high = _limit(data, "high", _("The upper limit"))
    if low is not None and high is not None and low >= high:
        raise ValidationError(_("The lower limit must be below the upper limit."))
    data["flag"] = None
    if value is not None:
        data["value"] = f"{value.normalize():f}"
        if low is not None and value < low:
            data["flag"] = "low"
        elif high is not None and value > high:
            data["flag"] = "high"
    elif low is not None or high is not None:
        raise ValidationError(_("A reference range needs a numeric value."))
    return data
