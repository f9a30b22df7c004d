from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from secretum.scheduling.services import DURATIONS, PractitionerChoice, check_booking_start


class AppointmentForm(forms.Form):
    practitioner = forms.TypedChoiceField(label=_("Practitioner"), coerce=int)
    day = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    time = forms.TimeField(label=_("Time"), widget=forms.TimeInput(attrs={"type": "time"}))
    duration = forms.TypedChoiceField(
        label=_("Duration (minutes)"),
        coerce=int,
        initial=15,
        choices=[(d, str(d)) for d in DURATIONS],
    )

    def __init__(self, practitioners: list[PractitionerChoice], *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["practitioner"].choices = [(p.id, p.name) for p in practitioners]  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if "day" in data and "time" in data:
            check_booking_start(self.starts_at())  # N2: from now to five years ahead
        return data

    def starts_at(self) -> dt.datetime:
        return timezone.make_aware(
            dt.datetime.combine(self.cleaned_data["day"], self.cleaned_data["time"])
        )
