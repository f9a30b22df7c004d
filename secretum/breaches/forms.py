"""The breach register's forms (D3): the report that any user makes, and the manager's steps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from secretum.breaches.entries import PEOPLE_CATEGORIES, RECORD_CATEGORIES
from secretum.breaches.models import Breach
from secretum.lib.dates import check_recent

_MOMENT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
_MOMENT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"]


def _text(label: Any, limit: int = 4000, required: bool = False, rows: int = 3) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=limit,
        widget=forms.Textarea(attrs={"rows": rows, "maxlength": limit}),
    )


class MomentField(forms.DateTimeField):
    """A moment of the breach register: within the last ten years (N2), as the services check
    it too; they refuse a moment in the future with a message of their own."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None:
            check_recent(value)


def _moment(label: Any) -> forms.DateTimeField:
    return MomentField(label=label, widget=_MOMENT, input_formats=_MOMENT_FORMATS)


def now_local() -> dt.datetime:
    return timezone.localtime().replace(second=0, microsecond=0)


class BreachReportForm(forms.Form):
    aware_at = _moment(_("When did you become aware of it?"))
    what_happened = _text(
        _("What happened? (what, where, which data, what you did; no more detail than needed)"),
        required=True,
        rows=5,
    )


class BreachAssessmentForm(forms.Form):
    nature = _text(_("Nature of the breach (confidentiality, integrity, availability; how)"))
    people_categories = forms.MultipleChoiceField(
        label=_("People concerned"),
        choices=list(PEOPLE_CATEGORIES.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    people_count = forms.IntegerField(
        label=_("Approximate number of people"), required=False, min_value=0
    )
    record_categories = forms.MultipleChoiceField(
        label=_("Data concerned"),
        choices=list(RECORD_CATEGORIES.items()),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    records_count = forms.IntegerField(
        label=_("Approximate number of records"), required=False, min_value=0
    )
    consequences = _text(_("Likely consequences for the people concerned"))
    measures_taken = _text(_("Measures taken"))
    measures_proposed = _text(_("Measures proposed, including to limit the consequences"))
    contact = forms.CharField(
        label=_("Contact point for more information (data protection officer or other)"),
        max_length=300,
        required=False,
    )
    risk = forms.ChoiceField(
        label=_("Risk for the people concerned"),
        choices=Breach.Risk.choices,
        widget=forms.RadioSelect,
    )


class BreachNotifiedForm(forms.Form):
    notified_at = _moment(_("Notified on"))
    reference = forms.CharField(
        label=_("Reference given by the authority"), max_length=64, required=False
    )
    delay_reason = _text(_("Reasons for the delay (when later than 72 hours)"))


class BreachInformedForm(forms.Form):
    informed_at = _moment(_("Informed on"))
    how = _text(_("How were they informed?"), required=True, rows=2)


class BreachCloseForm(forms.Form):
    reason = _text(_("Why the entry is closed"), required=True, rows=2)


class BreachNoteForm(forms.Form):
    note = _text(_("Note"), required=True, rows=2)
