"""What a clinical entry may contain: bounded fields (N2) and plausible observations.

Used by the forms (to show errors next to the field) and by the services (so no other caller
can store what the forms would refuse).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from secretum.clinical import codes, labs, medications


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str | Promise
    max_length: int
    required: bool = True
    choices: tuple[tuple[str, str | Promise], ...] = ()
    multiline: bool = False
    is_date: bool = False


SEVERITIES = (
    ("mild", gettext_lazy("mild")),
    ("moderate", gettext_lazy("moderate")),
    ("severe", gettext_lazy("severe")),
)
OBSERVATION_CODES = (
    ("bp", gettext_lazy("Blood pressure")),
    ("weight", gettext_lazy("Weight")),
    ("height", gettext_lazy("Height")),
    ("temperature", gettext_lazy("Temperature")),
)
DOSES: tuple[tuple[str, str | Promise], ...] = (
    *((str(n), str(n)) for n in range(1, 6)),
    ("booster", gettext_lazy("booster")),
)
# A problem's lifecycle: the problem list shows the active ones first.
PROBLEM_STATUSES = (
    ("active", gettext_lazy("active")),
    ("inactive", gettext_lazy("inactive")),
    ("resolved", gettext_lazy("resolved")),
)
# Fields a kind stores beyond those typed: computed from them (rules.clean_entry).
COMPUTED = {"observation": ("unit",), "lab": ("flag",)}
SITES = (
    ("left-arm", gettext_lazy("left arm (deltoid)")),
    ("right-arm", gettext_lazy("right arm (deltoid)")),
    ("left-thigh", gettext_lazy("left thigh")),
    ("right-thigh", gettext_lazy("right thigh")),
    ("oral", gettext_lazy("by mouth")),
    ("nasal", gettext_lazy("in the nose")),
    ("other", gettext_lazy("other")),
)
UNITS = {"bp": "mmHg", "weight": "kg", "height": "cm", "temperature": "°C"}
# Plausible ranges (inclusive). Outside them the value is almost surely a typing error.
RANGES = {
    "systolic": (Decimal(50), Decimal(300)),
    "diastolic": (Decimal(20), Decimal(200)),
    "weight": (Decimal("0.3"), Decimal(400)),
    "height": (Decimal(20), Decimal(250)),
    "temperature": (Decimal(30), Decimal(45)),
}

SPECS: dict[str, tuple[FieldSpec, ...]] = {
    "encounter": (
        FieldSpec("reason", gettext_lazy("Reason for encounter"), 200),
        FieldSpec("subjective", gettext_lazy("Subjective"), 4000, False, multiline=True),
        FieldSpec("objective", gettext_lazy("Objective"), 4000, False, multiline=True),
        FieldSpec("assessment", gettext_lazy("Assessment"), 2000, False, multiline=True),
        FieldSpec("plan", gettext_lazy("Plan"), 2000, False, multiline=True),
    ),
    "problem": (
        FieldSpec("system", gettext_lazy("Code system"), 8, choices=codes.SYSTEMS),
        FieldSpec("code", gettext_lazy("Code"), 16),
        FieldSpec("label", gettext_lazy("Label"), 200, False),
        FieldSpec("onset", gettext_lazy("Onset"), 10, False, is_date=True),
        FieldSpec("status", gettext_lazy("Status"), 8, False, choices=PROBLEM_STATUSES),
    ),
    "allergy": (
        FieldSpec("substance", gettext_lazy("Substance"), 200),
        FieldSpec("reaction", gettext_lazy("Reaction"), 200, False),
        FieldSpec("severity", gettext_lazy("Severity"), 16, choices=SEVERITIES),
    ),
    # The first four are those of a medication recorded before issue 15 (still valid alone).
    "medication": (
        FieldSpec("drug", gettext_lazy("Product or substance"), 200),
        FieldSpec("dose", gettext_lazy("Dose"), 100),
        FieldSpec("frequency", gettext_lazy("Frequency"), 100),
        FieldSpec("duration", gettext_lazy("Duration"), 100, False),
        FieldSpec("cnk", gettext_lazy("CNK code"), 9, False),
        FieldSpec("atc", gettext_lazy("ATC code"), 9, False),
        FieldSpec("strength", gettext_lazy("Strength"), 40, False),
        FieldSpec("route", gettext_lazy("Route"), 16, False, choices=medications.ROUTES),
        FieldSpec("start", gettext_lazy("Start"), 10, False, is_date=True),
        FieldSpec("stop", gettext_lazy("Stop"), 10, False, is_date=True),
        FieldSpec("quantity", gettext_lazy("Number of packages"), 2, False),
        FieldSpec("not_before", gettext_lazy("Deliver from"), 10, False, is_date=True),
    ),
    "observation": (
        FieldSpec("code", gettext_lazy("Observation"), 16, choices=OBSERVATION_CODES),
        FieldSpec("value", gettext_lazy("Value"), 16),
    ),
    "lab": (
        FieldSpec("loinc", gettext_lazy("LOINC code"), 10),
        FieldSpec("test", gettext_lazy("Test"), 200, False),
        FieldSpec("value", gettext_lazy("Result"), 40),
        FieldSpec("unit", gettext_lazy("Unit (UCUM)"), 40, False),
        FieldSpec("low", gettext_lazy("Lower limit"), 16, False),
        FieldSpec("high", gettext_lazy("Upper limit"), 16, False),
        FieldSpec("taken_on", gettext_lazy("Sample taken on"), 10, is_date=True),
    ),
    "vaccination": (
        FieldSpec("vaccine", gettext_lazy("Vaccine"), 200),
        FieldSpec("lot", gettext_lazy("Lot number"), 40),
        FieldSpec("given_on", gettext_lazy("Date given"), 10, is_date=True),
        FieldSpec("dose", gettext_lazy("Dose"), 8, choices=DOSES),
        FieldSpec("site", gettext_lazy("Site"), 16, choices=SITES),
        FieldSpec("given_by", gettext_lazy("Given by (if not you)"), 200, False),
    ),
}


def _number(text: str, what: str) -> Decimal:
    value = labs.number(text)
    if value is None:
        raise ValidationError(_("%(what)s must be a number.") % {"what": what})
    return value


def _in_range(value: Decimal, key: str, what: str, unit: str) -> None:
    low, high = RANGES[key]
    if not low <= value <= high:
        raise ValidationError(
            _(
                "%(what)s of %(value)s %(unit)s is not plausible "
                "(expected %(low)s–%(high)s %(unit)s)."
            )
            % {"what": what, "value": value, "unit": unit, "low": low, "high": high}
        )


def check_observation(code: str, value: str) -> tuple[str, str]:
    """The normalised value and its unit, or a ValidationError saying what is implausible."""
    if code not in UNITS:
        raise ValidationError(_("Unknown observation type."))
    unit = UNITS[code]
    if code == "bp":
        parts = value.replace(" ", "").split("/")
        if len(parts) != 2:
            raise ValidationError(_("Blood pressure is written systolic/diastolic, e.g. 120/80."))
        systolic = _number(parts[0], _("Systolic pressure"))
        diastolic = _number(parts[1], _("Diastolic pressure"))
        _in_range(systolic, "systolic", _("A systolic pressure"), unit)
        _in_range(diastolic, "diastolic", _("A diastolic pressure"), unit)
        if systolic <= diastolic:
            raise ValidationError(_("The systolic pressure must be higher than the diastolic."))
        return f"{systolic.normalize():f}/{diastolic.normalize():f}", unit
    labels = {"weight": _("A weight"), "height": _("A height"), "temperature": _("A temperature")}
    number = _number(value, labels[code])
    _in_range(number, code, labels[code], unit)
    return f"{number.normalize():f}", unit


def clean_entry(kind: str, data: dict[str, object]) -> dict[str, str | None]:
    """Bounded, typed strings for every field of a kind, or ValidationError."""
    if kind not in SPECS:
        raise ValidationError(_("Unknown kind of entry."))
    specs = SPECS[kind]
    unknown = set(data) - {s.name for s in specs}
    if unknown:
        raise ValidationError(_("Unknown fields: %s") % ", ".join(sorted(unknown)))
    out: dict[str, str | None] = {}
    for spec in specs:
        raw = data.get(spec.name)
        if isinstance(raw, dt.date):
            raw = raw.isoformat()
        text = str(raw).strip() if raw is not None else ""
        if not text:
            if spec.required:
                raise ValidationError(_("%(field)s is required.") % {"field": spec.label})
            out[spec.name] = None
            continue
        if len(text) > spec.max_length:
            raise ValidationError(
                _("%(field)s is limited to %(n)d characters.")
                % {"field": spec.label, "n": spec.max_length}
            )
        if spec.choices and text not in {c for c, _label in spec.choices}:
            raise ValidationError(
                _("%(field)s: choose one of the options.") % {"field": spec.label}
            )
        if spec.is_date:
            try:
                text = dt.date.fromisoformat(text).isoformat()
            except ValueError:
                raise ValidationError(
                    _("%(field)s must be a date (yyyy-mm-dd).") % {"field": spec.label}
                ) from None
        out[spec.name] = text
    if kind == "observation":
        out["value"], out["unit"] = check_observation(out["code"] or "", out["value"] or "")
    if kind == "lab":
        out = labs.clean_result(out)
    if kind == "medication":
        out = medications.clean_medication(out)
    if kind == "problem":
        coded = codes.check(out["system"] or "", out["code"] or "")
        out["code"] = coded.code
        if not out["label"]:
            if not coded.title:
                raise ValidationError(_("Label is required for an ICPC-2 code."))
            out["label"] = coded.title
        out["status"] = out["status"] or "active"  # a problem is recorded active unless said
    if (
        kind == "vaccination"
        and dt.date.fromisoformat(out["given_on"] or "") > timezone.localdate()
    ):
        raise ValidationError(_("A vaccination is recorded once given: the date is in the future."))
    return out
