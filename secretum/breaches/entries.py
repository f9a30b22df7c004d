"""A breach entry as it is read (D3): the frozen value objects that the pages, the drafts and the
reminders receive, and the vocabulary they share: the 72-hour deadline of GDPR art. 33(1), the
categories of people and of data concerned, and the names of the entry's fields.

Plain values: no database, no key. ``services`` opens the sealed rows into these.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext_lazy

from secretum.breaches.models import Breach

BREACH_HOURS = 72  # GDPR art. 33(1)

PEOPLE_CATEGORIES = {
    "patients": gettext_lazy("patients"),
    "staff": gettext_lazy("staff of the practice"),
    "others": gettext_lazy("other people (relatives, correspondents)"),
}
RECORD_CATEGORIES = {
    "identity": gettext_lazy("identity and contact details"),
    "national-number": gettext_lazy("national register numbers"),
    "health": gettext_lazy("health data"),
    "insurance": gettext_lazy("health insurance and billing data"),
    "credentials": gettext_lazy("passwords or access codes"),
    "other": gettext_lazy("other data"),
}
# The keys of an entry's sealed narrative.
NARRATIVE_FIELDS = (
    "what_happened",  # as first reported
    "nature",  # GDPR art. 33(3)(a)
    "consequences",  # art. 33(3)(c)
    "measures_taken",  # art. 33(3)(d)
    "measures_proposed",
    "contact",  # art. 33(3)(b): the DPO or another contact point
    "delay_reason",  # art. 33(1): reasons for a notification after 72 hours
    "informed_how",  # art. 34: how the people were told
    "close_reason",
)
FIELD_LABELS = {
    "what_happened": gettext_lazy("what happened"),
    "aware_at": gettext_lazy("aware since"),
    "nature": gettext_lazy("nature"),
    "consequences": gettext_lazy("likely consequences"),
    "measures_taken": gettext_lazy("measures taken"),
    "measures_proposed": gettext_lazy("measures proposed"),
    "contact": gettext_lazy("contact point"),
    "delay_reason": gettext_lazy("reasons for the delay"),
    "informed_how": gettext_lazy("how the people were informed"),
    "close_reason": gettext_lazy("why the entry is closed"),
    "risk": gettext_lazy("risk"),
    "people_categories": gettext_lazy("people concerned"),
    "people_count": gettext_lazy("number of people"),
    "record_categories": gettext_lazy("data concerned"),
    "records_count": gettext_lazy("number of records"),
    "authority_notified_at": gettext_lazy("authority notified on"),
    "authority_reference": gettext_lazy("reference"),
    "people_informed_at": gettext_lazy("people informed on"),
    "note": gettext_lazy("note"),
}
# What the guided assessment records, in the order its update row names them.
ASSESSED_FIELDS = (
    "nature", "consequences", "measures_taken", "measures_proposed", "contact", "risk",
    "people_categories", "people_count", "record_categories", "records_count",
)  # fmt: skip


@dataclass(frozen=True)
class BreachUpdateView:
    at: dt.datetime
    by: str
    kind: str
    kind_label: str
    fields: tuple[str, ...]
    values: dict[str, Any]

    @property
    def labelled(self) -> list[tuple[str, Any]]:
        """The new values, each with its field's name in the reader's language."""
        return [(str(FIELD_LABELS.get(k, k)), v) for k, v in self.values.items()]


@dataclass(frozen=True)
class BreachView:
    uid: str
    aware_at: dt.datetime
    recorded_at: dt.datetime
    recorded_by: str
    status: str
    status_label: str
    risk: str
    risk_label: str
    people_categories: tuple[str, ...]
    people_count: int | None
    record_categories: tuple[str, ...]
    records_count: int | None
    narrative: dict[str, str]
    authority_notified_at: dt.datetime | None
    authority_reference: str
    people_informed_at: dt.datetime | None
    closed_at: dt.datetime | None
    history: list[BreachUpdateView] = field(default_factory=list)

    @property
    def deadline(self) -> dt.datetime:
        return self.aware_at + dt.timedelta(hours=BREACH_HOURS)

    @property
    def hours_left(self) -> int:
        """Whole hours left before the deadline (negative: past it)."""
        left = (self.deadline - timezone.now()).total_seconds() / 3600
        return int(left) if left >= 0 else -int(-left + 0.999)

    @property
    def hours_late(self) -> int:
        return max(0, -self.hours_left)

    @property
    def clock_running(self) -> bool:
        return self.status == Breach.Status.OPEN

    @property
    def overdue(self) -> bool:
        return self.clock_running and self.hours_left < 0

    @property
    def notification_needed(self) -> bool:
        return self.risk in (Breach.Risk.RISK, Breach.Risk.HIGH)

    @property
    def letter_needed(self) -> bool:
        return self.risk == Breach.Risk.HIGH

    @property
    def late_notification(self) -> bool:
        at = self.authority_notified_at
        return at is not None and at > self.deadline

    @property
    def people_labels(self) -> list[str]:
        return [str(PEOPLE_CATEGORIES.get(c, c)) for c in self.people_categories]

    @property
    def record_labels(self) -> list[str]:
        return [str(RECORD_CATEGORIES.get(c, c)) for c in self.record_categories]

    @property
    def title(self) -> str:
        text = self.narrative.get("what_happened", "")
        return text if len(text) <= 80 else text[:79] + "…"
