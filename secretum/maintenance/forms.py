"""The maintenance log's forms (K1, E3, K2): an intervention, and its correction; a maintenance
window for an outside technician (K2). The services check the same rules and say why an entry or
a window is refused; the form shows their sentences."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, cast

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from secretum.lib.dates import check_recent
from secretum.maintenance.entries import TEXT_LIMITS, EntryView, Intervention
from secretum.maintenance.windows import TEXT_LIMITS as WINDOW_LIMITS
from secretum.maintenance.windows import WindowRequest

_MOMENT = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
_MOMENT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"]
YES, NO = "yes", "no"


class MomentField(forms.DateTimeField):
    """When the intervention took place: within the last ten years (N2)."""

    def validate(self, value: Any) -> None:
        super().validate(value)
        if value is not None:
            check_recent(value)


def _line(label: Any, name: str, required: bool = True, **kwargs: Any) -> forms.CharField:
    return forms.CharField(label=label, max_length=TEXT_LIMITS[name], required=required, **kwargs)


def _text(label: Any, name: str, rows: int) -> forms.CharField:
    limit = TEXT_LIMITS[name]
    return forms.CharField(
        label=label,
        max_length=limit,
        widget=forms.Textarea(attrs={"rows": rows, "maxlength": limit}),
    )


def _who_where_consent(data: dict[str, Any]) -> dict[str, Any]:
    """What an intervention and a maintenance window say alike, as the services take it: the
    company (K2), the equipment, the supervisor (K2), and whether the workstation's user
    consented beforehand (E3)."""
    return {
        "company": data["company"],
        "equipment": data["equipment"],
        "supervisor_id": data["supervisor"],
        "on_workstation": not data["not_workstation"],
        "consent": data["consent"] == YES,
        "consent_by": data["consent_by"],
    }


def now_local() -> dt.datetime:
    return timezone.localtime().replace(second=0, microsecond=0)


class InterventionForm(forms.Form):
    intervened_at = MomentField(label=_("When"), widget=_MOMENT, input_formats=_MOMENT_FORMATS)
    intervener = _line(_("Who intervened (name)"), "intervener")
    company = _line(
        _("Their company"),
        "company",
        required=False,
        help_text=_("Leave empty for someone of the practice."),
    )
    supervisor = forms.TypedChoiceField(
        label=_("Supervised by"),
        coerce=int,
        empty_value=None,
        required=False,
        help_text=_("Someone of the practice: required for an outside company (K2)."),
    )
    equipment = _line(
        _("On which equipment"),
        "equipment",
        help_text=_("For example: reception computer, Dr Martin's laptop, the server, the router."),
    )
    not_workstation = forms.BooleanField(
        label=_("Not on a user's workstation (the server, the network…)"), required=False
    )
    consent = forms.ChoiceField(
        label=_("Did the user of the workstation consent beforehand?"),
        choices=[(YES, _("Yes")), (NO, _("No"))],
        widget=forms.RadioSelect,
        help_text=_("An intervention on a workstation without its user's consent is refused (E3)."),
    )
    consent_by = _line(_("Name of the user who consented"), "consent_by", required=False)
    what = _text(_("What was done"), "what", rows=4)

    def __init__(self, *args: Any, people: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["supervisor"]).choices = [("", "—"), *people]

    def intervention(self) -> Intervention:
        data = self.cleaned_data
        return Intervention(
            intervened_at=data["intervened_at"],
            intervener=data["intervener"],
            what=data["what"],
            **_who_where_consent(data),
        )

    @staticmethod
    def initial_from(entry: EntryView) -> dict[str, Any]:
        """The fields of an entry, to correct it."""
        return {
            "intervened_at": timezone.localtime(entry.intervened_at).replace(second=0),
            "intervener": entry.intervener,
            "company": entry.company,
            "supervisor": entry.supervisor_id,
            "equipment": entry.equipment,
            "not_workstation": not entry.on_workstation,
            "consent": YES if entry.consent else NO,
            "consent_by": entry.consent_by,
            "what": entry.what,
        }


class CorrectionForm(InterventionForm):
    reason = forms.CharField(
        label=_("Why this correction"),
        max_length=TEXT_LIMITS["correction_reason"],
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": TEXT_LIMITS["correction_reason"]}),
    )


# K2: "2:00", "8" or "0:45": hours, and minutes after a colon.
_DURATION = re.compile(r"\s*(\d{1,2})(?::([0-5]\d))?\s*")


class WindowForm(forms.Form):
    """K2: a maintenance window for an outside technician; the service checks the same rules (at
    most 8 hours, a purpose, a supervisor, E3) and says why a window is refused."""

    technician = forms.CharField(
        label=_("Technician's name"), max_length=WINDOW_LIMITS["technician"]
    )
    company = _line(_("Their company"), "company")
    purpose = forms.CharField(
        label=_("Purpose of the intervention"),
        max_length=WINDOW_LIMITS["purpose"],
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": WINDOW_LIMITS["purpose"]}),
    )
    equipment = InterventionForm.base_fields["equipment"]
    supervisor = forms.TypedChoiceField(
        label=_("Supervised by"),
        coerce=int,
        help_text=_("Someone of the practice, present or reachable during the window (K2)."),
    )
    starts_at = MomentField(
        label=_("From"),
        widget=_MOMENT,
        input_formats=_MOMENT_FORMATS,
        required=False,
        help_text=_("Empty: now."),
    )
    duration = forms.CharField(
        label=_("For (hours:minutes)"),
        max_length=8,
        initial="2:00",
        help_text=_("At most 8:00. The account holds nothing from the end on."),
    )
    not_workstation = InterventionForm.base_fields["not_workstation"]
    consent = InterventionForm.base_fields["consent"]
    consent_by = InterventionForm.base_fields["consent_by"]

    def __init__(self, *args: Any, people: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.TypedChoiceField, self.fields["supervisor"]).choices = [("", "—"), *people]

    def clean_duration(self) -> dt.timedelta:
        found = _DURATION.fullmatch(self.cleaned_data["duration"])
        if found is None:
            raise forms.ValidationError(
                _("Give the duration in hours and minutes, such as 2:00 (at most 8:00).")
            )
        return dt.timedelta(hours=int(found.group(1)), minutes=int(found.group(2) or 0))

    def window(self) -> WindowRequest:
        data = self.cleaned_data
        return WindowRequest(
            technician=data["technician"],
            purpose=data["purpose"],
            duration=data["duration"],
            starts_at=data["starts_at"],
            **_who_where_consent(data),
        )
