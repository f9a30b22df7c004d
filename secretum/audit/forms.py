"""The auditor's forms. Posted, never in a URL: a national number must not reach a log (H2)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from secretum.audit.services import ACTION_LABELS, OUTCOME_LABELS, EventFilter

_ACTIONS = [
    ("", _("any action")),
    *ACTION_LABELS.items(),
    ("login", _("logged in")),
    ("login-failed", _("failed login")),
    ("logout", _("logged out")),
]


class EventFilterForm(forms.Form):
    patient = forms.CharField(
        label=_("Patient (national number or internal reference)"), required=False, max_length=40
    )
    user = forms.CharField(label=_("User name"), required=False, max_length=150)
    since = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    action = forms.ChoiceField(label=_("Action"), required=False, choices=_ACTIONS)
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        required=False,
        choices=[("", _("any outcome")), *OUTCOME_LABELS.items()],
    )
    break_the_glass = forms.BooleanField(label=_("Break-the-glass only"), required=False)
    page = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError(_("The period ends before it starts."))
        return data

    def event_filter(self) -> EventFilter:
        d = self.cleaned_data
        return EventFilter(
            patient=d.get("patient") or "",
            user=d.get("user") or "",
            since=d.get("since"),
            until=d.get("until"),
            action=d.get("action") or "",
            break_the_glass=bool(d.get("break_the_glass")),
            outcome=d.get("outcome") or "",
        )


class ReportForm(forms.Form):
    patient = forms.CharField(
        label=_("Patient (national number or internal reference)"), max_length=40
    )
