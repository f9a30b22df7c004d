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
    "supersedes": A, "superseded_at": A, "retracted": A, "row_seal": S,
}  # fmt: skip

FIELDS: dict[str, dict[str, DataClass]] = {
    "accounts.User": {
        "id": A, "password": S, "last_login": A, "is_superuser": A, "username": A,
        "first_name": A, "last_name": A, "email": A, "is_staff": A, "is_active": A,
        "date_joined": A, "role": A, "groups": A, "user_permissions": A,
        "preferred_language": P, "must_change_password": A, "password_changed_at": A,
        "must_enrol_factor": A, "failed_logins": A, "locked_until": A, "last_lockout_at": A,
        "role_starts_at": A, "role_ends_at": A, "enabled_at": A, "disabled_at": A,
        "disabled_reason": A, "row_seal": S,
    },
    "accounts.PracticeSettings": {
        "id": P, "idle_timeout_minutes": P, "session_lifetime_hours": P,
        "password_renewal_days": P, "inactive_days": P, "archive_years": P, "retention_years": P,
        "key_backup_expiry_days": P, "updated_at": P, "row_seal": S,
    },
    "accounts.PasswordHistory": {"id": A, "user": A, "password": S, "created_at": A},
    "accounts.EnrolmentToken": {
        "id": A, "user": A, "token_hash": S, "purpose": A, "created_by": A, "created_at": A,
        "expires_at": A, "used_at": A,
    },
    "accounts.Factor": {
        "id": A, "user": A, "kind": P, "name": A, "confirmed": A, "created_at": A,
        "last_used_at": A, "totp_secret": S, "totp_last_step": S, "credential_id": S,
        "public_key": S, "sign_count": S, "is_demo": P, "row_seal": S,
    },
    "accounts.RecoveryCode": {"id": A, "user": A, "code_hash": S, "created_at": A, "used_at": A},
    "accounts.Charter": {
        "id": P, "version": P, "text_fr": P, "text_nl": P, "text_en": P, "published_at": P,
        "published_by": A,
    },
    "accounts.CharterAcceptance": {
        "id": A, "user": A, "charter": A, "accepted_at": A, "source": A,
    },
    "accounts.LoginThrottle": {"id": A, "key": S, "failures": A, "last_failure_at": A},
    "accounts.UserSession": {
        "id": A, "user": A, "device": A, "source": A, "started_at": A,
        "last_activity_at": A, "ended_at": A, "end_reason": A,
    },
    # Keyed digest of the session identifier; the data sealed under the key file (B1, O2).
    "accounts.SessionData": {"session_key": S, "session_data": S, "expire_date": A, "record": A},
    "accounts.ExternalIdentity": {
        "id": A, "user": A, "issuer": A, "subject_digest": S, "created_at": A, "last_used_at": A,
    },
    "patients.Patient": {
        "id": A, "uid": A, "wrapped_key": S, "created_at": A, "updated_at": A,
        "family_name": I, "given_name": I, "birth_date": I, "sex": I, "niss": I,
        "street": I, "postal_code": I, "city": I, "phone": I, "email": I,
        "insurer": I, "insurer_number": I,
        "record_version": A, "entries_digest": S, "record_seal": S, "archived_at": A,
    },
    "patients.SearchToken": {"id": A, "patient": A, "kind": P, "token": S, "generation": P},
    "clinical.Encounter": {
        **_CLINICAL_BASE,
        "reason": M, "subjective": M, "objective": M, "assessment": M, "plan": M,
    },
    "clinical.Problem": {
        **_CLINICAL_BASE, "code": M, "label": M, "onset": M, "system": M, "status": M,
    },
    "clinical.Allergy": {**_CLINICAL_BASE, "substance": M, "reaction": M, "severity": M},
    "clinical.Medication": {
        **_CLINICAL_BASE, "drug": M, "dose": M, "frequency": M, "duration": M, "cnk": M, "atc": M,
        "strength": M, "route": M, "start": M, "stop": M, "quantity": M, "not_before": M,
    },
    # A practitioner's RIZIV/INAMI number (issue 15): public in the INAMI's register, sealed as a
    # row so that what prints on a prescription is what the practitioner set.
    "clinical.Prescriber": {"id": A, "user": A, "riziv": A, "updated_at": A, "row_seal": S},
    "clinical.Observation": {**_CLINICAL_BASE, "code": M, "value": M, "unit": M},
    "clinical.LabResult": {
        **_CLINICAL_BASE,
        "loinc": M, "test": M, "value": M, "unit": M, "low": M, "high": M, "taken_on": M, "flag": M,
    },
    "clinical.Vaccination": {
        **_CLINICAL_BASE,
        "vaccine": M, "lot": M, "given_on": M, "dose": M, "site": M, "given_by": M,
    },
    # Documents attached to a patient (D4): the name and the content sealed, medical; the type,
    # the size and the scanner's verdict administrative (E2).
    "documents.Document": {
        "id": A, "uid": A, "patient": A, "author": A, "recorded_at": A, "content_type": A,
        "size": A, "status": A, "source": P, "signature": A, "title": M, "content": M,
        "content_sha256": S, "row_seal": S,
    },
    # Letters and certificates (issue 15): what a letter says sealed, medical (a referral's
    # history, a certificate's reason); its kind, language, status and dates administrative.
    "letters.Letter": {
        "id": A, "uid": A, "patient": A, "author": A, "recorded_at": A, "kind": A, "language": P,
        "status": A, "finalised_at": A, "finalised_by": A, "supersedes": A, "superseded_at": A,
        "content": M, "row_seal": S,
    },
    # The scan intake's unfiled tray (D4): sealed under the key file until filed to a patient.
    "documents.UnfiledDocument": {
        "id": A, "uid": A, "received_at": A, "content_type": A, "size": A, "status": A,
        "signature": A, "title": M, "content": M,
    },
    # The directory of correspondents (M1): a professional's name and address in clear, as a
    # user's own are; their public keys; the one-time code as a hash only. What the transport
    # delivered (M4): when, to whom, the encryption and the TLS session; never a patient.
    "mail.Correspondent": {
        "id": A, "uid": A, "name": A, "kind": P, "email": A, "certificate": A,
        "age_recipient": A, "created_at": A, "created_by": A, "verified_at": A, "code_hash": S,
        "code_sent_at": A, "code_attempts": A,
    },
    "mail.Delivery": {
        "id": A, "at": A, "correspondent": A, "purpose": P, "encryption": P, "transport": P,
        "server": A, "tls_version": P, "cipher": P,
    },
    # Who may open which record (access): links and dates, a reason that never holds a medical
    # detail (the form says so), seals.
    "access.AccessPolicy": {
        "id": A, "shared_record": P, "relationship_months": P, "glass_hours": P,
        "updated_at": A, "row_seal": S,
    },
    "access.CareRelationship": {
        "id": A, "patient": A, "practitioner": A, "origin": P, "started_at": A,
        "last_contact_at": A, "ended_at": A, "row_seal": S,
    },
    "access.GlassBreak": {
        "id": A, "uid": A, "patient": A, "practitioner": A, "category": P, "reason": A,
        "started_at": A, "expires_at": A, "reviewed_at": A, "reviewed_by": A, "justified": A,
        "review_comment": A, "row_seal": S,
    },
    # The fingerprint of the key file: names it without revealing it (crypto/keyring.py).
    "crypto.KeyFingerprint": {
        "id": A, "scheme": P, "fingerprint": P, "origin": P, "recorded_at": A,
    },
    # The serving nodes of the installation (E10, O2): where each runs, the key file it reads
    # and that file's KEK versions; never a key (crypto/nodes.py).
    "crypto.ServingNode": {
        "id": A, "name": A, "host": A, "key_file": A, "kek_versions": P, "started_at": A,
        "seen_at": A,
    },
    # The key file's recovery material (O2, I2): ids, scheme and dates; never a key or a share.
    "crypto.RecoveryMaterial": {
        "id": A, "material": P, "scheme": P, "instance": P, "made_at": A, "made_by": A,
        "tested_at": A, "tested_by": A,
    },
    # Backups made and restore drills (I1, I3): where, when, how big, and the signed manifest's
    # counts and hashes; never a row of the data.
    "backup.BackupRecord": {
        "id": A, "kind": P, "ok": P, "at": A, "scheduled": P, "path": A, "size": A,
        "message": A, "manifest": A,
    },
    "scheduling.Appointment": {
        "id": A, "uid": A, "patient": A, "practitioner": A, "starts_at": A,
        "duration_minutes": A, "status": A, "booked_by": A, "created_at": A,
    },
    "audit.AuditEvent": {
        "id": A, "seq": A, "at": A, "actor": A, "actor_name": A, "role": A,
        "patient_ref": A, "action": A, "resource": A, "resource_ref": A, "purpose": A,
        "outcome": A, "source": A, "request_id": A, "detail": A, "on_behalf_of": A,
        "leaf_hash": P, "mac": S,
    },
    "audit.AuditCheckpoint": {
        "id": A, "tree_size": A, "root_hash": P, "signed_at": A, "key_id": P, "signature": P,
        "frontier": P,
    },
    # The measures register (compliance): no patient data, except a print log's opaque patient
    # reference. Evidence documents are sealed under the key file (keyring.seal_secret) and
    # readable through the register's permissions only.
    "compliance.PracticeProfile": {"id": P, "hosting": P, "updated_at": A, "updated_by": A},
    "compliance.Declaration": {
        "id": A, "measure": P, "version": A, "change": A, "choice": A, "justification": A,
        "owner": A, "next_review": A, "recorded_at": A, "recorded_by": A,
    },
    "compliance.EvidenceDocument": {
        "id": A, "uid": A, "measure": P, "name": A, "content_type": A, "size": A, "sha256": A,
        "sealed": A, "uploaded_at": A, "uploaded_by": A, "record": A, "subcontractor": A,
        "performed_on": A,
    },
    "compliance.AccessReview": {
        "id": A, "reviewed_at": A, "reviewed_by": A, "active_users": A, "note": A,
    },
    "compliance.ReportExport": {
        "id": A, "uid": A, "created_at": A, "created_by": A, "language": P, "measures": A,
        "met": A, "key_id": P, "pdf": A, "pdf_signature": P, "html": A, "html_signature": P,
    },
    "compliance.PrintLog": {
        "id": A, "uid": A, "printed_at": A, "user": A, "role": A, "patient_ref": A,
        "document": A, "scope": A, "pages": A,
    },
    # The breach register (breaches): its narratives and the values of its updates are sealed
    # under the key file (keyring.seal_secret) and readable through the breach permissions only.
    "breaches.Breach": {
        "id": A, "uid": A, "aware_at": A, "recorded_at": A, "recorded_by": A, "status": A,
        "risk": A, "people_categories": A, "people_count": A, "record_categories": A,
        "records_count": A, "narrative": A, "authority_notified_at": A,
        "authority_reference": A, "people_informed_at": A, "closed_at": A, "updated_at": A,
    },
    "breaches.BreachUpdate": {
        "id": A, "breach": A, "at": A, "by": A, "kind": A, "fields": A, "sealed": A,
    },
    # The maintenance log (K1): dates, flags and links to the practice's users in clear; the
    # names and the text sealed under the key file (keyring.seal_secret), readable through the
    # maintenance permissions only. No patient data by design, but its text may name one.
    "maintenance.MaintenanceEntry": {
        "id": A, "uid": A, "intervened_at": A, "recorded_at": A, "recorded_by": A, "origin": P,
        "outside": A, "supervisor": A, "on_workstation": A, "consent": A, "corrects": A,
        "sealed": A,
    },
    # An outside technician's maintenance window (K2): dates and links in clear (the register
    # counts them); the technician's name, company, the purpose, the equipment sealed (the
    # purpose may name a patient), readable through the users permission only.
    "maintenance.MaintenanceWindow": {
        "id": A, "uid": A, "account": A, "opened_at": A, "opened_by": A, "supervisor": A,
        "starts_at": A, "ends_at": A, "sealed": A, "opening_entry": A, "closed_at": A,
        "closed_by": A, "closing": P, "closing_entry": A,
    },
    # Retention and destruction (J2): an erasure request's legal basis, and the certificate of a
    # destroyed record, which names the patient by its opaque reference only (no identity, no
    # medical content); its signed text and signature are what a third party checks.
    "retention.ErasureRequest": {
        "id": A, "uid": A, "patient": A, "basis": A, "recorded_by": A, "recorded_at": A,
        "row_seal": S,
    },
    "retention.DestructionCertificate": {
        "id": A, "uid": A, "patient_ref": A, "basis": A, "approved_by": A, "approved_at": A,
        "kek_version": P, "key_backup_expiry_days": P, "text": A, "signature": P,
    },
}  # fmt: skip


def data_class(model_label: str, field: str) -> DataClass:
    try:
        return FIELDS[model_label][field]
    except KeyError:
        # Deny by default: an unclassified field is treated as a secret.
        return DataClass.SECRET


# What a permission reads beyond its classes: the auditor names the patient of an access report
# (D2) by name and birth date, and reads nothing else of the identity.
ALSO_READS: dict[Permission, frozenset[tuple[str, str]]] = {
    Permission.AUDIT_READ: frozenset(
        ("patients.Patient", name) for name in ("family_name", "given_name", "birth_date")
    ),
}
