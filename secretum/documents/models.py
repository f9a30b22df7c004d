"""Documents attached to a patient (D4): scans and letters received, sealed under the patient's
data key (E10), scanned for viruses before they are kept (E2).

The content's associated data names the row, its status and its type as well as the field, so a
quarantined document marked clean in the database, or given another type, no longer opens. The
row is sealed under the key file and counted in the record's set of entries
(documents/integrity.py), so one deleted, copied or put back is detected.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from secretum.crypto.fields import SealedField, SealedModel, uid_text
from secretum.patients.models import Patient


class Document(SealedModel):
    class Status(models.TextChoices):
        CLEAN = "clean", _("scanned, clean")
        # E2: refused, kept sealed for the auditor's examination, never served.
        QUARANTINED = "quarantined", _("quarantined (virus found)")

    class Source(models.TextChoices):
        UPLOAD = "upload", _("uploaded")
        INTAKE = "intake", _("scan intake folder")
        # A message imported from another package, kept as received (exchange/kmehr).
        IMPORT = "import", _("imported message")

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    # Null when the system attached it (the scan intake, run by the instance's owner).
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CLEAN)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.UPLOAD)
    signature = models.CharField(max_length=200, blank=True)  # what the scanner found
    title = SealedField()  # the file's name as received: may say what it is about
    content = SealedField()
    # SHA-256 of the content ciphertext, and HMAC under the key file over the row's state and
    # ciphertexts (documents/integrity.py): a list checks the seal without reading contents.
    content_sha256 = models.BinaryField(null=True)
    row_seal = models.BinaryField(null=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "status"], name="doc_patient_status")]

    def content_aad(self) -> str:
        return f"{self._meta.label}.content:{uid_text(self)}:{self.status}:{self.content_type}"

    def aad_of(self, field: str) -> str:
        return self.content_aad() if field == "content" else super().aad_of(field)


class UnfiledDocument(SealedModel):
    """A file of the scan intake (D4) whose name named no patient: sealed under the key file
    (``keyring.seal_secret``) until someone files it; scanned like any upload (E2)."""

    received_at = models.DateTimeField(default=timezone.now, editable=False)
    content_type = models.CharField(max_length=40)
    size = models.PositiveIntegerField()
    status = models.CharField(
        max_length=12, choices=Document.Status.choices, default=Document.Status.CLEAN
    )
    signature = models.CharField(max_length=200, blank=True)
    title = SealedField()
    content = SealedField()

    def content_aad(self) -> str:
        return f"{self._meta.label}.content:{uid_text(self)}:{self.status}:{self.content_type}"
