from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from secretum.clinical import rules


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

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                rules.clean_entry(self.kind, data)
            except ValidationError as exc:
                # An implausible observation is an error of its value field.
                self.add_error("value" if self.kind == "observation" else None, exc)
        return data
