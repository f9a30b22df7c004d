from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from secretum.clinical import rules

# The field a kind's cross-field check names in its error (rules.clean_entry).
ERROR_FIELD = {"observation": "value", "problem": "code", "vaccination": "given_on"}


class EntryForm(forms.Form):
    """A form for one kind of clinical entry, built from its rules (bounded fields, N2)."""

    def __init__(self, kind: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        for spec in rules.SPECS[kind]:
            field: forms.Field
            if spec.choices:
                field = forms.ChoiceField(choices=[("", "—"), *spec.choices])
            elif spec.is_date:
                field = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
            elif spec.multiline:
                field = forms.CharField(
                    max_length=spec.max_length,
                    widget=forms.Textarea(attrs={"rows": 3, "maxlength": spec.max_length}),
                )
            else:
                field = forms.CharField(max_length=spec.max_length)
            field.label = str(spec.label)
            field.required = spec.required
            self.fields[spec.name] = field
        if kind == "observation":
            self.fields["value"].help_text = "mmHg (120/80) · kg · cm · °C"
        if kind == "problem":
            self.fields["code"].widget.attrs.update(
                {
                    "list": "code-suggestions",
                    "autocomplete": "off",
                    "data-suggest-url": reverse("clinical:icd10"),
                }
            )
            self.fields["code"].help_text = _(
                "ICD-10: type a code or words of its English title to see suggestions; the title "
                "becomes the label if you leave the label empty."
            )
            self.fields["status"].initial = "active"
        if kind == "medication":
            self.fields["start"].initial = timezone.localdate()
            self.fields["cnk"].help_text = _("7 digits, on the package (optional).")
            self.fields["atc"].help_text = _("WHO ATC code of the substance, e.g. C09AA05.")
            self.fields["stop"].help_text = _("The first day without it.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                rules.clean_entry(self.kind, data)
            except ValidationError as exc:
                # An implausible observation is an error of its value field, and so on.
                self.add_error(ERROR_FIELD.get(self.kind), exc)
        return data


class PrescriberForm(forms.Form):
    """A practitioner's RIZIV/INAMI number (checked by clinical/medications.py)."""

    riziv = forms.CharField(
        label=gettext_lazy("RIZIV/INAMI number"),
        max_length=20,
        help_text=gettext_lazy("11 digits, e.g. 1-23456-78-901."),
    )
