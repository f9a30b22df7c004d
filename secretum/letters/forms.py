from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from secretum.letters import kinds
from secretum.letters.models import Letter

LANGUAGE_CHOICES = (("fr", "Français"), ("nl", "Nederlands"), ("en", "English"))


class NewLetterForm(forms.Form):
    """Which letter to start, and in which language (the letter's, not the screen's)."""

    kind = forms.ChoiceField(label=_("Kind of letter"), choices=Letter.Kind.choices)
    language = forms.ChoiceField(label=_("Language of the letter"), choices=LANGUAGE_CHOICES)


class LetterForm(forms.Form):
    """The fields of one kind of letter (N2: bounded fields, each of a stated length)."""

    def __init__(self, kind: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        for spec in kinds.FIELDS[kind]:
            field: forms.Field
            if spec.choices:
                field = forms.ChoiceField(choices=[("", "—"), *spec.choices])
            elif spec.date:
                field = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
            elif spec.multiline:
                field = forms.CharField(
                    max_length=spec.max_length,
                    widget=forms.Textarea(attrs={"rows": 4, "maxlength": spec.max_length}),
                )
            else:
                field = forms.CharField(max_length=spec.max_length)
            field.label = str(spec.label)
            field.required = False  # a draft may be incomplete; finalising checks
            if spec.medical_reason:
                field.help_text = _(
                    "Printed only on the medical adviser's copy; the employer's copy says the "
                    "reason is withheld."
                )
            self.fields[spec.name] = field

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                kinds.clean_content(self.kind, data)
            except ValidationError as exc:
                self.add_error(None, exc)
        return data
