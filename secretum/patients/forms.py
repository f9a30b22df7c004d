from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from secretum.access.care import REASON_MAX, REASON_MIN
from secretum.lib import niss as niss_lib
from secretum.patients.services import check_birth_date

SEXES = [
    ("female", _("female")),
    ("male", _("male")),
    ("other", _("other")),
    ("unknown", _("unknown")),
]


class DateInput(forms.DateInput):
    input_type = "date"


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Name, birth date or national number"),
        max_length=100,
        widget=forms.TextInput(
            attrs={
                "autofocus": True,
                "autocomplete": "off",
                "placeholder": _("e.g. Dupont, 30/07/1985, 85.07.30-033.28"),
            }
        ),
    )


class PatientForm(forms.Form):
    family_name = forms.CharField(label=_("Family name"), max_length=100)
    given_name = forms.CharField(label=_("Given name"), max_length=100)
    birth_date = forms.DateField(label=_("Birth date"), widget=DateInput)
    sex = forms.ChoiceField(label=_("Sex"), choices=SEXES)
    niss = forms.CharField(
        label=_("National number (NISS)"),
        max_length=20,
        required=False,
        help_text=_("11 digits; the check digits are verified."),
    )
    street = forms.CharField(label=_("Street and number"), max_length=200, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=10, required=False)
    city = forms.CharField(label=_("City"), max_length=100, required=False)
    phone = forms.CharField(label=_("Phone"), max_length=30, required=False)
    email = forms.EmailField(label=_("E-mail"), max_length=200, required=False)
    insurer = forms.CharField(label=_("Health insurer (mutuality)"), max_length=100, required=False)
    insurer_number = forms.CharField(label=_("Membership number"), max_length=30, required=False)

    def clean_niss(self) -> str:
        value = self.cleaned_data["niss"]
        if not value:
            return ""
        try:
            return niss_lib.clean(value)
        except niss_lib.NissError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_birth_date(self) -> dt.date:
        value: dt.date = self.cleaned_data["birth_date"]
        check_birth_date(value)  # N2: 1900 to today, the range said in the message
        return value

    @classmethod
    def initial_from(cls, identity: Any) -> dict[str, Any]:
        return {name: getattr(identity, name) for name in cls.base_fields}


class ArchiveReasonForm(forms.Form):
    """J1: why a practitioner opens an archived record, or restores it to active."""

    reason = forms.CharField(
        label=_("Reason"),
        min_length=REASON_MIN,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": REASON_MAX}),
        help_text=_(
            "%(min)d to %(max)d characters. Say why, never a medical detail: the auditor reads it."
        )
        % {"min": REASON_MIN, "max": REASON_MAX},
    )
