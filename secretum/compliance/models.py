"""The measures register's own state: the practice's profile, its declarations (kept with their
history), evidence documents (sealed) and records of subcontractor audits and visits (L3),
access reviews (C2), signed reports (L3) and the print log (P1, C3). The breach register (D3)
is its own app, ``secretum.breaches``, on the same bases.

Declarations and print log rows are append-only: a change is a new row, never an update in
place, and nothing here is ever deleted (the services offer no way to, and the models refuse it:
``AppendOnly``, ``NoDelete``).
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

# The longest free text the register keeps: a declaration's justification, an access review's note.
TEXT_MAX = 2000


class AppendOnlyError(Exception):
    """An attempt to change or delete a row that the register keeps as it was written."""


class _NoDeleteQuerySet(models.QuerySet[Any]):
    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model._meta.label} rows are never deleted")


class _AppendOnlyQuerySet(_NoDeleteQuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model._meta.label} rows are never changed")


class NoDelete(models.Model):
    objects: ClassVar[models.Manager[Any]] = models.Manager.from_queryset(_NoDeleteQuerySet)()

    class Meta:
        abstract = True

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self._meta.label} rows are never deleted")


class AppendOnly(NoDelete):
    objects: ClassVar[models.Manager[Any]] = models.Manager.from_queryset(_AppendOnlyQuerySet)()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{self._meta.label} rows are never changed")
        super().save(*args, **kwargs)


class Hosting(models.TextChoices):
    LOCAL = "local", _("Locally, in the practice (part 1 of the checklist)")
    CLOUD = "cloud", _("In the cloud, by a provider (part 2 of the checklist)")
    BOTH = "both", _("Both (parts 1 and 2)")


class PracticeProfile(models.Model):
    """One row: where the practice's data are hosted, hence which part of the checklist
    applies."""

    hosting = models.CharField(max_length=8, choices=Hosting.choices, default=Hosting.BOTH)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"Practice profile ({self.hosting})"


class Choice(models.TextChoices):
    ADOPTED = "adopted", _("Adopted")
    EQUIVALENT = "equivalent", _("Equivalent measure")
    NOT_NEEDED = "not-needed", _("Not needed")


class Declaration(AppendOnly):
    """One version of the practice's declaration on one measure."""

    class Change(models.TextChoices):
        DECLARED = "declared", _("declared")
        CHANGED = "changed", _("changed")
        REVIEWED = "reviewed", _("reviewed, unchanged")
        # The practice no longer makes this declaration (e.g. one that live evidence
        # contradicts): the measure is then decided by its evidence alone.
        WITHDRAWN = "withdrawn", _("withdrawn")

    measure = models.CharField(max_length=4, db_index=True)
    version = models.PositiveIntegerField()
    change = models.CharField(max_length=16, choices=Change.choices)
    choice = models.CharField(max_length=16, choices=Choice.choices)
    justification = models.TextField(max_length=TEXT_MAX, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    next_review = models.DateField()
    recorded_at = models.DateTimeField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["measure", "version"], name="one_declaration_version")
        ]

    def __str__(self) -> str:
        return f"Declaration {self.measure} v{self.version}"


class Record(models.TextChoices):
    """What an evidence document records. L3 is met only by an audit or a visit of a
    subcontractor, dated, with its report attached."""

    DOCUMENT = "document", _("A document")
    AUDIT = "audit", _("A security audit of a subcontractor")
    VISIT = "visit", _("A visit of a subcontractor")


class EvidenceDocument(AppendOnly):
    """A document attached to a measure (a contract, a certificate, a photo of the shredder), or
    the practice's record of an audit or a visit of a subcontractor, with its report (L3).

    ``sealed`` is AES-256-GCM under the instance's key-encryption key with associated data
    naming this row: the file is never on disk or in the database in clear (E10). A record's
    subcontractor and date stay in clear: the register checks them without the key."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    measure = models.CharField(max_length=4, db_index=True)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)  # of the file, for the report and its reader
    sealed = models.BinaryField()
    uploaded_at = models.DateTimeField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    record = models.CharField(max_length=16, choices=Record.choices, default=Record.DOCUMENT)
    subcontractor = models.CharField(max_length=200, blank=True)  # a company, for a record
    performed_on = models.DateField(null=True, blank=True)  # when the audit or visit took place

    def __str__(self) -> str:
        return f"EvidenceDocument {self.uid}"


class AccessReview(AppendOnly):
    """C2: the manager reviewed every account and its role."""

    reviewed_at = models.DateTimeField()
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    active_users = models.PositiveIntegerField()
    note = models.TextField(max_length=TEXT_MAX, blank=True)

    def __str__(self) -> str:
        return f"AccessReview {self.pk}"


class ReportExport(AppendOnly):
    """L3: a dated report of the register, as issued, with detached Ed25519 signatures."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    language = models.CharField(max_length=8)
    measures = models.PositiveSmallIntegerField()
    met = models.PositiveSmallIntegerField()
    key_id = models.CharField(max_length=16)
    pdf = models.BinaryField()
    pdf_signature = models.TextField()
    html = models.BinaryField()
    html_signature = models.TextField()

    def __str__(self) -> str:
        return f"ReportExport {self.uid}"


class PrintLog(AppendOnly):
    """P1, C3: one printed patient document. Its audit event names this row."""

    class Scope(models.TextChoices):
        IDENTITY = "identity", _("identity only")
        MEDICAL = "medical", _("identity and medical summary")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    printed_at = models.DateTimeField()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    role = models.CharField(max_length=32)
    patient_ref = models.CharField(max_length=36, db_index=True)
    document = models.CharField(max_length=32)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    pages = models.PositiveSmallIntegerField()

    def __str__(self) -> str:
        return f"PrintLog {self.uid}"
