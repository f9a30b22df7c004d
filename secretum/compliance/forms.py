"""The register's forms. Choices that come from the database (owners) are given by the view,
from the services."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from secretum.compliance.models import Breach, Choice, Hosting
from secretum.compliance.services import (
    DOCUMENT_MAX_BYTES,
    PEOPLE_CATEGORIES,
    RECORD_CATEGORIES,
    TEXT_MAX,
)
from secretum.lib.dates import check_recent

_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
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


class ProfileForm(forms.Form):
    hosting = forms.ChoiceField(
        label=_("Where are the practice's patient data hosted?"), choices=Hosting.choices
    )


class DeclarationForm(forms.Form):
    choice = forms.ChoiceField(
        label=_("The practice's declaration"), choices=Choice.choices, widget=forms.RadioSelect
    )
    justification = _text(
        _("Justification (required for an equivalent measure or a measure not needed)"),
        limit=TEXT_MAX,
    )
    owner = forms.TypedChoiceField(label=_("Owner"), coerce=int)
    next_review = forms.DateField(label=_("Next review"), widget=_DATE)

    def __init__(self, *args: Any, owners: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = owners  # type: ignore[attr-defined]


class ReviewForm(forms.Form):
    next_review = forms.DateField(label=_("Next review"), widget=_DATE)


class DocumentForm(forms.Form):
    document = forms.FileField(label=_("Evidence document (PDF, image, text; at most 10 MB)"))

    def clean_document(self) -> Any:
        upload = self.cleaned_data["document"]
        if upload.size > DOCUMENT_MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB."))
        return upload


class AccessReviewForm(forms.Form):
    note = _text(_("Note (what was changed, what was checked)"), limit=TEXT_MAX)


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
