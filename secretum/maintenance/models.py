"""The maintenance log, the practice's « main courante » (K1): one row per intervention.

Rows are append-only: never changed nor deleted. The model refuses it (``AppendOnly``, as the
measures register's rows), and so does the database, whoever asks (triggers, ``db.py``). A
mistake is put right by a new entry that names the one it corrects (``corrects``; at most one
correction per entry, the database says so).

In clear: the dates, the flags and the links to the practice's users, which the register's
evidence counts without the key file (K1, E3, K2). Sealed under the instance's key file: the
people's names and the free text, which may name a colleague or a patient ("restored Dr Martin's
letters to Mrs X from the backup"): one JSON document, ``sealed`` (``services.TEXT_FIELDS``).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from secretum.compliance.models import AppendOnly, NoDelete


class MaintenanceEntry(AppendOnly):
    """K1: one intervention on the practice's equipment. E3: on a user's workstation, only with
    that user's consent beforehand. K2: by an outside company, supervised by one of the
    practice's users."""

    class Origin(models.TextChoices):
        FORM = "form", _("recorded in the log")
        CONSOLE = "console", _("console session on the server")
        WINDOW = "window", _("maintenance access of an outside technician")  # K2, windows.py

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    intervened_at = models.DateTimeField(db_index=True)  # when the intervention took place
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )  # None: Secretum itself (a console session, recorded by the `secretum` command)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.FORM)
    outside = models.BooleanField()  # by someone from an outside company (K2)
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    on_workstation = models.BooleanField()  # on a user's workstation (E3)
    consent = models.BooleanField()  # that user consented beforehand (E3)
    corrects = models.OneToOneField(
        "self", null=True, on_delete=models.PROTECT, related_name="corrected_by"
    )
    sealed = models.BinaryField()  # the names and the text, sealed JSON

    class Meta:
        ordering = ["-intervened_at", "-id"]
        verbose_name_plural = "maintenance entries"

    def __str__(self) -> str:
        return f"MaintenanceEntry {self.uid}"


class MaintenanceWindow(NoDelete):
    """K2: a time-limited maintenance access for an outside technician, opened by a practice
    manager after re-authentication, with a stated purpose and a supervisor of the practice.

    Each window has an account of its own, made for it and never reused (``account``): its role,
    ``Role.TECHNICIAN``, applies from ``starts_at`` until ``ends_at`` (the account's sealed role
    dates, which ``access.actor.role_of`` reads at every request), at most
    ``accounts.models.TECHNICIAN_HOURS``. Closing it (at its end, by ``secretum maintenance
    close-expired``; or before, by a manager) disables the account and ends its sessions. Opening
    and closing each append an entry to the maintenance log (K1, E3: its flags say whether it is
    on a user's workstation and whether that user consented). A window is never deleted.

    In clear: the dates, the links to the practice's users and to the log's entries, which the
    register's evidence counts without the key file. Sealed under the key file, as the log's
    entries: the technician's name, their company, the purpose, the equipment and the name of
    the user who consented (``windows.TEXT_LIMITS``).
    """

    class Closing(models.TextChoices):
        EXPIRED = "expired", _("at the end of the window")
        MANAGER = "manager", _("by a manager, before its end")
        ALTERED = "altered", _("its account was altered outside Secretum")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    account = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    opened_at = models.DateTimeField()
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(db_index=True)
    sealed = models.BinaryField()  # the names and the text, sealed JSON
    opening_entry = models.OneToOneField(
        MaintenanceEntry, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, db_index=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )  # None: Secretum itself, at the window's end
    closing = models.CharField(max_length=16, choices=Closing.choices, blank=True)
    closing_entry = models.OneToOneField(
        MaintenanceEntry, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="maintenance_window_ends_after_it_starts",
            )
        ]

    def __str__(self) -> str:
        return f"MaintenanceWindow {self.uid}"
