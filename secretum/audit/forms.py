"""The auditor's forms. Posted, never in a URL: a national number must not reach a log (H2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from secretum.audit.services import ACTION_LABELS, OUTCOME_LABELS, EventFilter
from secretum.lib.dates import add_years, shown

# N2: the days an auditor may filter on. No Secretum log predates 2000; a period may end up to a
# year ahead (the end of this month, of this year). Outside, the date is a typing error, and near
# year 1 or 9999 the search's own arithmetic (the day after "To", the start of "From" in UTC)
# would overflow.
FILTER_FIRST_DAY = dt.date(2000, 1, 1)
FILTER_YEARS_AHEAD = 1


def _within_log(day: dt.date | None) -> dt.date | None:
    if day is None:
        return None
    last = add_years(timezone.localdate(), FILTER_YEARS_AHEAD)
    if not FILTER_FIRST_DAY <= day <= last:
        raise forms.ValidationError(
            gettext("This date is outside the audit log: give a date from %(first)s to %(last)s.")
            % {"first": shown(FILTER_FIRST_DAY), "last": shown(last)}
        )
    return day


_ACTIONS = [("", _("any action")), *ACTION_LABELS.items()]


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

    def clean_since(self) -> dt.date | None:
        return _within_log(self.cleaned_data.get("since"))

    def clean_until(self) -> dt.date | None:
        return _within_log(self.cleaned_data.get("until"))

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
