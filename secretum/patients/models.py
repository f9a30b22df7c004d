"""Patients: identity and contact (administrative data, sealed)."""

from __future__ import annotations

from django.db import models

from secretum.crypto.fields import SealedField, SealedModel

IDENTITY_FIELDS = (
    "family_name", "given_name", "birth_date", "sex", "niss",
    "street", "postal_code", "city", "phone", "email", "insurer", "insurer_number",
)  # fmt: skip


class Patient(SealedModel):
    wrapped_key = models.BinaryField()  # the patient's data key, wrapped by the instance KEK
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    family_name = SealedField()
    given_name = SealedField()
    birth_date = SealedField()  # ISO 8601 date
    sex = SealedField()  # FHIR administrative gender: female, male, other, unknown
    niss = SealedField()  # 11 digits, check digits verified
    street = SealedField()
    postal_code = SealedField()
    city = SealedField()
    phone = SealedField()
    email = SealedField()
    insurer = SealedField()  # mutualité / ziekenfonds
    insurer_number = SealedField()

    # The record as a whole, authenticated under the key file (patients/integrity.py).
    record_version = models.PositiveBigIntegerField(default=0)
    entries_digest = models.BinaryField(null=True)
    record_seal = models.BinaryField(null=True)
    # J1: when the record moved to the archive (None: active). Archived after the practice's
    # ``archive_years`` without contact (patients/archive.py); out of every search and list,
    # opened only with a stated reason (access/care.py ``open_archived``). The record seal
    # covers whether it is archived (patients/integrity.py): flipping it in the database is an
    # alteration, reported, never a way out of the archive.
    archived_at = models.DateTimeField(null=True, db_index=True)

    def __str__(self) -> str:
        return f"Patient {self.uid}"  # never a name: str() may reach a log


class SearchToken(models.Model):
    """Blind index entries: HMAC tokens of name prefixes, birth date and national number."""

    class Kind(models.TextChoices):
        NAME = "name"
        BIRTH_DATE = "birth"
        NISS = "niss"

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    token = models.BinaryField(max_length=64)
    # The index generation the token was made under (crypto/indexkeys.py): a rebuild replaces a
    # patient's tokens of the older ones, and resumes from those it has not reached.
    generation = models.PositiveIntegerField(default=1)

    class Meta:
        # The patients holding a token, read from the index alone (issue 17): a name prefix is
        # held by thousands of patients at 100,000, each a lookup in the table otherwise (a
        # search's tokens 10 ms → 1 ms there, bench/README.md).
        indexes = [
            models.Index(fields=["kind", "token", "patient"], name="patients_search_holders")
        ]

    def __str__(self) -> str:
        return f"SearchToken {self.kind}"
