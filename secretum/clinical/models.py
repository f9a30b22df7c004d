"""Clinical entries (medical data, sealed, practitioners only).

Entries are never edited in place: a correction is a new row that supersedes the earlier one,
and "entered in error" retracts a row without deleting it, so every earlier version is kept.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from secretum.crypto.fields import SealedField, SealedModel
from secretum.crypto.rows import SealedRow
from secretum.patients.models import Patient


class ClinicalEntry(SealedModel):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Set when the row is made, not at save: the row seal covers it (clinical/integrity.py).
    recorded_at = models.DateTimeField(default=timezone.now, editable=False)
    supersedes = models.OneToOneField(
        "self", null=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    superseded_at = models.DateTimeField(null=True)
    retracted = models.BooleanField(default=False)
    # HMAC under the key file over the row's state and ciphertexts (clinical/integrity.py).
    row_seal = models.BinaryField(null=True)

    class Meta:
        abstract = True
        indexes = [models.Index(fields=["patient", "superseded_at"])]


class Encounter(ClinicalEntry):
    """A structured note (N2: bounded fields rather than one free text)."""

    reason = SealedField()
    subjective = SealedField()
    objective = SealedField()
    assessment = SealedField()
    plan = SealedField()

    class Meta(ClinicalEntry.Meta):
        indexes = [models.Index(fields=["patient", "superseded_at"], name="clin_enc_patient")]


class Problem(ClinicalEntry):
    code = SealedField()  # in the system below (clinical/codes.py)
    label = SealedField()
    onset = SealedField()
    # Added by migration 0004; None in a row made before: a code of no stated system, active.
    system = SealedField()  # "icd-10" or "icpc-2"
    status = SealedField()  # active, inactive, resolved

    class Meta(ClinicalEntry.Meta):
        indexes = [models.Index(fields=["patient", "superseded_at"], name="clin_prob_patient")]


class Allergy(ClinicalEntry):
    substance = SealedField()
    reaction = SealedField()
    severity = SealedField()

    class Meta(ClinicalEntry.Meta):
        indexes = [models.Index(fields=["patient", "superseded_at"], name="clin_all_patient")]


class Medication(ClinicalEntry):
    """A medication taken or prescribed (issue 15). The fields after ``duration`` were added by
    migration 0006 and are None in a row made before: a product named in words, no dates. Their
    names are plain on purpose (the KMEHR import fills them; docs/prescriptions.md maps each to
    Recip-e's prescription)."""

    drug = SealedField()  # the product's or substance's name, as written
    dose = SealedField()
    frequency = SealedField()
    duration = SealedField()
    cnk = SealedField()  # the product's 7-digit CNK code, when known
    atc = SealedField()  # the WHO ATC code (level 5, e.g. C09AA05), when known
    strength = SealedField()  # e.g. "5 mg"
    route = SealedField()  # clinical/medications.py ROUTES
    start = SealedField()  # ISO 8601 date
    stop = SealedField()  # ISO 8601 date: the first day without it (not taken from that day)
    quantity = SealedField()  # number of packages to deliver
    not_before = SealedField()  # ISO 8601 date: "to deliver from" (Recip-e: delivery from)

    class Meta(ClinicalEntry.Meta):
        indexes = [models.Index(fields=["patient", "superseded_at"], name="clin_med_patient")]


class Observation(ClinicalEntry):
    code = SealedField()  # bp, weight, height, temperature
    value = SealedField()
    unit = SealedField()

    class Meta(ClinicalEntry.Meta):
        indexes = [models.Index(fields=["patient", "superseded_at"], name="clin_obs_patient")]


class Vaccination(ClinicalEntry):
    """A vaccine given (issue 15): which vaccine and lot, when, which dose, where on the body, and
    who gave it when it was not the author (given elsewhere, recorded here)."""

    vaccine = SealedField()
    lot = SealedField()
    given_on = SealedField()  # ISO 8601 date
    dose = SealedField()  # 1…5 or "booster"
    site = SealedField()
    given_by = SealedField()

    class Meta(ClinicalEntry.Meta):
        indexes = [models.Index(fields=["patient", "superseded_at"], name="clin_vac_patient")]


class LabResult(ClinicalEntry):
    """A laboratory result (issue 15): the test (LOINC), the value and its UCUM unit, the
    reference range, the flag computed from it, and the day the sample was taken."""

    loinc = SealedField()
    test = SealedField()
    value = SealedField()
    unit = SealedField()
    low = SealedField()
    high = SealedField()
    taken_on = SealedField()  # ISO 8601 date
    flag = SealedField()  # low, high, or None (within the range, or no range)

    class Meta(ClinicalEntry.Meta):
        indexes = [models.Index(fields=["patient", "superseded_at"], name="clin_lab_patient")]


class Prescriber(SealedRow, models.Model):
    """A practitioner's RIZIV/INAMI number, printed on their prescriptions (issue 15). Sealed as
    a row under the key file (crypto/rows.py): a number changed in the database without the key
    file is refused, not printed. Not patient data: the number is public in the INAMI's
    register of care providers."""

    SEALED_FIELDS = ("user_id", "riziv")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="prescriber"
    )
    riziv = models.CharField(max_length=11)
    updated_at = models.DateTimeField(auto_now=True)
    row_seal = models.BinaryField(null=True, max_length=32)

    def __str__(self) -> str:
        return f"Prescriber {self.pk}"


# Any: django-stubs cannot type the managers of an abstract base's subclasses.
MODELS: dict[str, Any] = {
    "encounter": Encounter,
    "problem": Problem,
    "allergy": Allergy,
    "medication": Medication,
    "observation": Observation,
    "vaccination": Vaccination,
    "lab": LabResult,
}
