"""The breach register's state (D3): each suspected personal-data breach, and every change to it.

An entry is never deleted, and its changes are append-only rows. Both models came from the
compliance app: they keep its tables (``Meta.db_table``), so that moving them changed no table of
an existing installation (``migrations/0001_initial.py``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from secretum.compliance.models import AppendOnly, NoDelete


class Breach(NoDelete):
    """D3: a suspected personal-data breach. Its current state; every change also leaves a
    ``BreachUpdate``. Its free text (what happened, consequences, measures…) may name people:
    it is sealed under the instance's key as one JSON document (``narrative``)."""

    class Status(models.TextChoices):
        OPEN = "open", _("open: being assessed")
        NOTIFIED = "notified", _("authority notified")
        CLOSED = "closed", _("closed")

    class Risk(models.TextChoices):
        UNASSESSED = "unassessed", _("not assessed yet")
        UNLIKELY = "unlikely", _("unlikely to result in a risk for people (no notification)")
        RISK = "risk", _("a risk for people (notify the authority)")
        HIGH = "high", _("a high risk for people (notify the authority and inform them)")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    aware_at = models.DateTimeField()  # when the practice became aware: the 72-hour clock
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    risk = models.CharField(max_length=16, choices=Risk.choices, default=Risk.UNASSESSED)
    people_categories = models.CharField(max_length=200, blank=True)  # comma-separated codes
    people_count = models.PositiveIntegerField(null=True)
    record_categories = models.CharField(max_length=200, blank=True)
    records_count = models.PositiveIntegerField(null=True)
    narrative = models.BinaryField()
    authority_notified_at = models.DateTimeField(null=True)
    authority_reference = models.CharField(max_length=64, blank=True)
    people_informed_at = models.DateTimeField(null=True)
    closed_at = models.DateTimeField(null=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "compliance_breach"  # created by the compliance app: see the module's docstring

    def __str__(self) -> str:
        return f"Breach {self.uid}"


class BreachUpdate(AppendOnly):
    """One change to a breach entry: who, when, which fields, and (sealed) their new values."""

    class Kind(models.TextChoices):
        REPORTED = "reported", _("reported")
        ASSESSED = "assessed", _("assessed")
        NOTIFIED = "notified", _("authority notified")
        INFORMED = "informed", _("people informed")
        CLOSED = "closed", _("closed")
        NOTE = "note", _("note")

    breach = models.ForeignKey(Breach, on_delete=models.PROTECT, related_name="updates")
    at = models.DateTimeField()
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    fields = models.CharField(max_length=300, blank=True)  # names of the changed fields
    sealed = models.BinaryField(null=True)  # their new values and the note, sealed JSON

    class Meta:
        ordering = ["at", "id"]
        db_table = "compliance_breachupdate"  # created by the compliance app, as above

    def __str__(self) -> str:
        return f"BreachUpdate {self.pk}"
