"""The measures register's forms. Choices that come from the database (owners) are given by the
view, from the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from secretum.compliance.documents import DOCUMENT_MAX_BYTES
from secretum.compliance.models import TEXT_MAX, Choice, Hosting, Record

_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _text(label: Any) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": TEXT_MAX}),
    )


class ProfileForm(forms.Form):
    hosting = forms.ChoiceField(
        label=_("Where are the practice's patient data hosted?"), choices=Hosting.choices
    )


class DeclarationForm(forms.Form):
    choice = forms.ChoiceField(
        label=_("The practice's declaration"), choices=Choice.choices, widget=forms.RadioSelect
    )
    justification = _text(
        _("Justification (required for an equivalent measure or a measure not needed)")
    )
    owner = forms.TypedChoiceField(label=_("Owner"), coerce=int)
    next_review = forms.DateField(label=_("Next review"), widget=_DATE)

    def __init__(self, *args: Any, owners: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = owners  # type: ignore[attr-defined]


class ReviewForm(forms.Form):
    next_review = forms.DateField(label=_("Next review"), widget=_DATE)


RECORD_FIELDS = ("record", "subcontractor", "performed_on")


class DocumentForm(forms.Form):
    document = forms.FileField(label=_("Evidence document (PDF, image, text; at most 10 MB)"))
    # L3 only (``records=True``): the document may be the record of an audit or a visit.
    record = forms.ChoiceField(
        label=_("What it records"),
        choices=Record.choices,
        initial=Record.DOCUMENT,
        widget=forms.RadioSelect,
    )
    subcontractor = forms.CharField(
        label=_("Subcontractor (for an audit or a visit)"), required=False, max_length=200
    )
    performed_on = forms.DateField(
        label=_("Date of the audit or visit"), required=False, widget=_DATE
    )

    def __init__(self, *args: Any, records: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not records:
            for name in RECORD_FIELDS:
                del self.fields[name]

    def clean_document(self) -> Any:
        upload = self.cleaned_data["document"]
        if upload.size > DOCUMENT_MAX_BYTES:
            raise forms.ValidationError(_("The file is larger than 10 MB."))
        return upload


class AccessReviewForm(forms.Form):
    note = _text(_("Note (what was changed, what was checked)"))
