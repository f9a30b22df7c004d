"""Retention and destruction of records (J2): erasure requests, and the certificates of records
destroyed. Neither holds a name or any medical content: a patient is named by its opaque
reference (the uid that the audit log and the print log name too)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from secretum.crypto.rows import SealedRow


class Basis(models.TextChoices):
    """The legal basis of a destruction: the end of the retention period, or a ground of GDPR
    art. 17(1) where Belgian law does not require keeping the record (art. 17(3)(b), (c))."""

    RETENTION_ENDED = (
        "retention-ended",
        _(
            "Retention period ended (law of 22 April 2019, art. 35: 30 to 50 years after the last "
            "contact)"
        ),
    )
    NO_CARE_GIVEN = (
        "art17-1a-no-care",
        _(
            "GDPR art. 17(1)(a): no care was given; the record was opened by mistake or for a "
            "person who never became a patient"
        ),
    )
    UNLAWFUL = "art17-1d-unlawful", _("GDPR art. 17(1)(d): the data were processed unlawfully")
    ORDERED = (
        "art17-1e-ordered",
        _("GDPR art. 17(1)(e): erasure ordered by a court or the Data Protection Authority"),
    )


ERASURE_BASES = tuple(b for b in Basis if b != Basis.RETENTION_ENDED)


class ErasureRequest(SealedRow, models.Model):
    """A patient's erasure request (GDPR art. 17), recorded with its legal basis by a
    practitioner who knows the patient; a manager approves the destruction (services). Sealed
    under the key file: a request planted in the database makes no record destroyable."""

    SEALED_FIELDS = ("uid", "patient_id", "basis", "recorded_by_id", "recorded_at")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    basis = models.CharField(max_length=32, choices=[(b.value, b.label) for b in ERASURE_BASES])
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now)
    row_seal = models.BinaryField(null=True, max_length=32)

    def __str__(self) -> str:
        return f"ErasureRequest {self.uid}"


class DestructionCertificate(models.Model):
    """What was destroyed, when, on what basis and who approved: its signed text (Ed25519, the
    practice's report-signing key, ``compliance.signing``) is the certificate; the columns are
    for lists. One per patient reference: two managers approving at once give one."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient_ref = models.CharField(max_length=36, unique=True)
    basis = models.CharField(max_length=32, choices=Basis.choices)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField()
    kek_version = models.PositiveIntegerField()  # the KEK version that wrapped the data key
    key_backup_expiry_days = models.PositiveSmallIntegerField()
    text = models.TextField()  # the signed certificate, UTF-8
    signature = models.TextField()  # compliance.signing's signature file

    def __str__(self) -> str:
        return f"DestructionCertificate {self.uid}"
