"""Every field of every Secretum model, classified in one place (C1, E10).

Authorisation reads it (which role may see which class) and encryption reads it (identity and
medical fields must be sealed). A test fails when a model field is missing here, or when an
identity or medical field is not a sealed binary field.
"""

from __future__ import annotations

from enum import StrEnum

from secretum.access.policy import Permission


class DataClass(StrEnum):
    PUBLIC = "public"  # nothing personal: enumerations, flags
    ADMINISTRATIVE = "administrative"  # ids, dates, links, statuses: readable by front desk
    IDENTITY = "identity"  # who the patient is and how to reach them: sealed
    MEDICAL = "medical"  # anything about health: sealed, practitioners only
    SECRET = "secret"  # noqa: S105  (a class name, not a password)  keys, hashes, blind indexes: never shown to anyone


SEALED_CLASSES = frozenset({DataClass.IDENTITY, DataClass.MEDICAL})

# Which permission lets a reader see a class of data.
READ_PERMISSION: dict[DataClass, Permission | None] = {
    DataClass.PUBLIC: None,
    DataClass.ADMINISTRATIVE: Permission.PATIENT_IDENTITY_READ,
    DataClass.IDENTITY: Permission.PATIENT_IDENTITY_READ,
    DataClass.MEDICAL: Permission.CLINICAL_READ,
    DataClass.SECRET: None,  # no permission reveals a secret
}

A, I, M, S, P = (
    DataClass.ADMINISTRATIVE,
    DataClass.IDENTITY,
    DataClass.MEDICAL,
    DataClass.SECRET,
    DataClass.PUBLIC,
)

_CLINICAL_BASE = {
    "id": A, "uid": A, "patient": A, "author": A, "recorded_at": A,
    "supersedes": A, "superseded_at": A, "retracted": A,
}  # fmt: skip

FIELDS: dict[str, dict[str, DataClass]] = {
    "accounts.User": {
        "id": A, "password": S, "last_login": A, "is_superuser": A, "username": A,
        "first_name": A, "last_name": A, "email": A, "is_staff": A, "is_active": A,
        "date_joined": A, "role": A, "groups": A, "user_permissions": A,
        "preferred_language": P,
    },
    "patients.Patient": {
        "id": A, "uid": A, "wrapped_key": S, "created_at": A, "updated_at": A,
        "family_name": I, "given_name": I, "birth_date": I, "sex": I, "niss": I,
        "street": I, "postal_code": I, "city": I, "phone": I, "email": I,
        "insurer": I, "insurer_number": I,
    },
    "patients.SearchToken": {"id": A, "patient": A, "kind": P, "token": S},
    "clinical.Encounter": {
        **_CLINICAL_BASE,
        "reason": M, "subjective": M, "objective": M, "assessment": M, "plan": M,
    },
    "clinical.Problem": {**_CLINICAL_BASE, "code": M, "label": M, "onset": M},
    "clinical.Allergy": {**_CLINICAL_BASE, "substance": M, "reaction": M, "severity": M},
    "clinical.Medication": {
        **_CLINICAL_BASE, "drug": M, "dose": M, "frequency": M, "duration": M,
    },
    "clinical.Observation": {**_CLINICAL_BASE, "code": M, "value": M, "unit": M},
    "scheduling.Appointment": {
        "id": A, "uid": A, "patient": A, "practitioner": A, "starts_at": A,
        "duration_minutes": A, "status": A, "booked_by": A, "created_at": A,
    },
    "audit.AuditEvent": {
        "id": A, "seq": A, "at": A, "actor": A, "actor_name": A, "role": A,
        "patient_ref": A, "action": A, "resource": A, "resource_ref": A, "purpose": A,
        "outcome": A, "source": A, "request_id": A, "detail": A, "prev_hash": S, "hash": S,
    },
}  # fmt: skip


def data_class(model_label: str, field: str) -> DataClass:
    try:
        return FIELDS[model_label][field]
    except KeyError:
        # Deny by default: an unclassified field is treated as a secret.
        return DataClass.SECRET
