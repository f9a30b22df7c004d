"""Letters and certificates of a patient (issue 15; P1, C3, N2): a referral letter, a sick-leave
certificate, a report, each a sealed record of the patient's file.

A draft may be edited; a finalised letter is kept as it is, never edited in place: a correction
is a new draft that supersedes it (the finalised version stays, marked superseded when its
correction is finalised), as a clinical entry is corrected. What the letter says (its recipient
and its fields, as JSON) is one sealed value, medical; its kind, language, status and dates are
administrative. The row is sealed under the key file and counted in the record's set of entries
(letters/integrity.py): a finalised letter made a draft again in the database, deleted, or
moved to another patient no longer matches.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from secretum.crypto.fields import SealedField, SealedModel
from secretum.patients.models import Patient


class Letter(SealedModel):
    class Kind(models.TextChoices):
        REFERRAL = "referral", _("Referral letter")
        SICK_LEAVE = "sick-leave", _("Sick-leave certificate")
        REPORT = "report", _("Report")

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        FINAL = "final", _("finalised")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Set when the row is made, not at save: the row seal covers it (letters/integrity.py).
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    language = models.CharField(max_length=2)  # fr, nl, en: the letter's, chosen per letter
    status = models.CharField(max_length=6, choices=Status.choices, default=Status.DRAFT)
    finalised_at = models.DateTimeField(null=True)
    # Who signed it: the practitioner who finalised it (clinical:record:sign), whoever drafted
    # it; printed as the letter's signatory (letters/pdf.py), covered by the row seal.
    finalised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    supersedes = models.OneToOneField(
        "self", null=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    superseded_at = models.DateTimeField(null=True)
    content = SealedField()  # JSON: the recipient and the kind's fields (forms.FIELDS)
    # HMAC under the key file over the row's state and ciphertext (letters/integrity.py).
    row_seal = models.BinaryField(null=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "superseded_at"], name="letter_patient")]
