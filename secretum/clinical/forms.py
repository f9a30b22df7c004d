from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext as _

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

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                rules.clean_entry(self.kind, data)
            except ValidationError as exc:
                # An implausible observation is an error of its value field, and so on.
                self.add_error(ERROR_FIELD.get(self.kind), exc)
        return data
