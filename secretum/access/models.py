"""Who may open which record, beyond the role (C1, C2): care relationships, break-the-glass
grants and the practice's access policy.

Every row here grants access, so every row is sealed under the key file (crypto/rows.py): a
relationship, a grant or a policy written in the database without the key file opens nothing,
and is reported as altered.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from secretum.crypto.rows import SealedRow


class AccessPolicy(SealedRow, models.Model):
    """One row: how the practice shares its records (C1, C2). Without it, the defaults apply."""

    SEALED_FIELDS = ("shared_record", "relationship_months", "glass_hours")

    # A group practice may let every practitioner read every record of the practice.
    shared_record = models.BooleanField(default=False)
    # A care relationship ends after this long without contact.
    relationship_months = models.PositiveSmallIntegerField(
        default=18, validators=[MinValueValidator(1), MaxValueValidator(120)]
    )
    # How long a break-the-glass access lasts.
    glass_hours = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    updated_at = models.DateTimeField(auto_now=True)
    row_seal = models.BinaryField(null=True, max_length=32)

    def __str__(self) -> str:
        return "Access policy"


class CareRelationship(SealedRow, models.Model):
    """A practitioner takes care of a patient: they may read and write the medical record while
    it lasts (C1). It lasts until ended, or until ``relationship_months`` without contact."""

    class Origin(models.TextChoices):
        DECLARED = "declared"  # "I take care of this patient", or registering the patient
        CONSULTATION = "consultation"
        APPOINTMENT = "appointment"
        REFERRAL = "referral"

    SEALED_FIELDS = (
        "patient_id", "practitioner_id", "origin", "started_at", "last_contact_at", "ended_at",
    )  # fmt: skip

    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    origin = models.CharField(max_length=16, choices=Origin.choices)
    started_at = models.DateTimeField(default=timezone.now)
    last_contact_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True)
    row_seal = models.BinaryField(null=True, max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "practitioner"], name="care_once")
        ]

    def __str__(self) -> str:
        return f"CareRelationship {self.pk}"


class GlassBreak(SealedRow, models.Model):
    """An emergency access without a care relationship (C1, D2): a stated reason, a limited
    time, an alert to the auditor at once, and a review by the auditor afterwards.

    J1: the opening of an archived record is the same kind of grant, of category ``archive``: a
    reason, a limited time, the auditor told and reviewing it beside the emergency accesses. It
    opens only archived records; an emergency grant opens only active ones."""

    class Category(models.TextChoices):
        EMERGENCY = "emergency"
        REPLACEMENT = "replacement"
        OTHER = "other"
        ARCHIVE = "archive"  # J1: an archived record opened with a reason

    SEALED_FIELDS = (
        "uid", "patient_id", "practitioner_id", "category", "reason", "started_at", "expires_at",
        "reviewed_at", "reviewed_by_id", "justified", "review_comment",
    )  # fmt: skip

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.PROTECT, related_name="+")
    practitioner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    category = models.CharField(max_length=16, choices=Category.choices)
    reason = models.CharField(max_length=200)  # never clinical detail: the form says so
    started_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    reviewed_at = models.DateTimeField(null=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    justified = models.BooleanField(null=True)
    review_comment = models.CharField(max_length=500, blank=True)
    row_seal = models.BinaryField(null=True, max_length=32)

    class Meta:
        indexes = [
            models.Index(fields=["practitioner", "patient", "expires_at"], name="glass_access"),
            models.Index(fields=["reviewed_at", "started_at"], name="glass_review"),
        ]

    def __str__(self) -> str:
        return f"GlassBreak {self.uid}"
