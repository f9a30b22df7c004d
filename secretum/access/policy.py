"""Who may do what: every permission of Secretum and the roles that hold it (C1, G1).

This is the only place where roles are turned into rights. Views and services name a
permission; they never test a role themselves.
"""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _


class Role(StrEnum):
    PRACTITIONER = "practitioner"
    NURSE = "nurse"
    SECRETARY = "secretary"
    MANAGER = "manager"
    AUDITOR = "auditor"
    MAINTAINER = "maintainer"
    # K2: an outside technician's account, opened by a manager for one maintenance window.
    TECHNICIAN = "technician"


ROLE_LABELS = {
    Role.PRACTITIONER: _("Practitioner"),
    Role.NURSE: _("Nurse"),
    Role.SECRETARY: _("Secretary"),
    Role.MANAGER: _("Practice manager"),
    Role.AUDITOR: _("Auditor / DPO"),
    Role.MAINTAINER: _("IT maintainer"),
    Role.TECHNICIAN: _("Outside technician (maintenance access)"),
}

# C1: the roles that give care. They read and write a patient's medical data only within a
# basis (access.relationships): a care relationship, the shared record, a break-the-glass grant.
CARE_ROLES = frozenset({Role.PRACTITIONER, Role.NURSE})


class Permission(StrEnum):
    """``scope:resource:action``."""

    SESSION_OWN = "accounts:session:own"  # home page, own account, logout
    PATIENT_SEARCH = "patients:identity:search"
    PATIENT_IDENTITY_READ = "patients:identity:read"
    PATIENT_IDENTITY_WRITE = "patients:identity:write"
    CLINICAL_READ = "clinical:record:read"
    CLINICAL_WRITE = "clinical:record:write"
    # L1, E7: a patient's record leaves Secretum (the patient's copy, GDPR art. 15/20), encrypted
    CLINICAL_EXPORT = "clinical:record:export"
    # What a physician signs (issue 15): a letter or certificate finalised; a prescription
    # renewed or printed with the prescriber's RIZIV/INAMI number. A nurse drafts a letter,
    # records and stops the medications a patient takes; only a practitioner vouches for them.
    CLINICAL_SIGN = "clinical:record:sign"
    # M1, M3, M4: a patient's document sent by mail to a verified correspondent, encrypted.
    MAIL_SEND = "exchange:mail:send"
    # M1: the directory of correspondents (colleagues, hospitals, labs) and their verification.
    CORRESPONDENTS_MANAGE = "exchange:correspondent:manage"
    APPOINTMENT_READ = "scheduling:appointment:read"
    APPOINTMENT_WRITE = "scheduling:appointment:write"
    AUDIT_READ = "audit:log:read"
    AUDIT_EXPORT = "audit:log:export"  # FHIR AuditEvent / CSV export of the log (D2)
    USERS_MANAGE = "accounts:user:manage"  # create, disable, reset factors, end sessions
    SETTINGS_MANAGE = "accounts:settings:manage"  # idle lock, session lifetime, charter
    COMPLIANCE_READ = "compliance:register:read"  # the measures register, its signed report (L3)
    COMPLIANCE_MANAGE = "compliance:register:manage"  # declarations, evidence, access review
    BREACH_REPORT = "compliance:breach:report"  # anyone may report a suspected breach (D3)
    BREACH_READ = "compliance:breach:read"  # the breach register
    BREACH_MANAGE = "compliance:breach:manage"  # assess, notify, close
    CARE_DECLARE = "access:care:declare"  # "I take care of this patient" (C1)
    GLASS_BREAK = "access:glass:break"  # open a record in an emergency (C1)
    ACCESS_REVIEW = "access:glass:review"  # judge break-the-glass accesses (C1, C2)
    # J1: open an archived record with a reason, restore it to active.
    ARCHIVE_OPEN = "patients:archive:open"
    MAINTENANCE_LOG_READ = "maintenance:log:read"  # the maintenance log and its export (K1)
    MAINTENANCE_LOG_WRITE = "maintenance:log:write"  # record an intervention, correct one (K1)
    RETENTION_READ = "retention:record:read"  # records due for destruction, certificates (J2)
    RECORDS_DESTROY = "retention:record:destroy"  # approve a destruction (J2)
    ERASURE_REQUEST = "retention:erasure:request"  # record a GDPR art. 17 request's basis (J2)
    # A patient's data key rotated (E10): the instance's owner at the command line only, no role.
    KEYS_ROTATE = "crypto:keys:rotate"
    # The whole practice leaving or coming in (L1, L2: `secretum export` without --patient,
    # `secretum import` of FHIR): every record at once, past any care relationship, so the
    # instance's owner at the command line only, no role.
    PRACTICE_MOVE = "exchange:practice:move"


# J1: what an archived record refuses. Its reads need an archive grant (a practitioner's stated
# reason, access/care.py ``open_archived``); its writes are refused until it is restored to
# active, whoever asks: a new entry, an appointment, a care relationship or an emergency access
# would give an archived record a new life behind the practitioners' backs.
ARCHIVE_READS = frozenset(
    {
        Permission.PATIENT_IDENTITY_READ, Permission.CLINICAL_READ, Permission.APPOINTMENT_READ,
        Permission.CLINICAL_EXPORT,  # the patient's copy reads the whole record
        Permission.MAIL_SEND,  # a document sent reads it
    }
)  # fmt: skip
ARCHIVE_WRITES = frozenset(
    {
        Permission.PATIENT_IDENTITY_WRITE, Permission.CLINICAL_WRITE, Permission.APPOINTMENT_WRITE,
        Permission.CARE_DECLARE, Permission.GLASS_BREAK, Permission.CLINICAL_SIGN,
    }
)  # fmt: skip

_FRONT_DESK = {
    Permission.SESSION_OWN,
    Permission.PATIENT_SEARCH,
    Permission.PATIENT_IDENTITY_READ,
    Permission.PATIENT_IDENTITY_WRITE,
    Permission.APPOINTMENT_READ,
    Permission.APPOINTMENT_WRITE,
    Permission.BREACH_REPORT,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PRACTITIONER: frozenset(
        _FRONT_DESK
        | {Permission.CLINICAL_READ, Permission.CLINICAL_WRITE, Permission.CLINICAL_EXPORT}
        | {Permission.CLINICAL_SIGN}
        # M1, M3: sends a patient's document to a correspondent, keeps the directory.
        | {Permission.MAIL_SEND, Permission.CORRESPONDENTS_MANAGE}
        | {Permission.CARE_DECLARE, Permission.GLASS_BREAK, Permission.ARCHIVE_OPEN}
        # J2: who knows the patient records an erasure request's legal basis; a manager decides.
        | {Permission.ERASURE_REQUEST}
    ),
    # C1: a nurse cares within a relationship like a practitioner; breaking the glass, an
    # emergency outside any relationship, stays a practitioner's decision.
    Role.NURSE: frozenset(
        _FRONT_DESK | {Permission.CLINICAL_READ, Permission.CLINICAL_WRITE, Permission.CARE_DECLARE}
    ),
    # C1: the secretary handles identities and appointments, never medical data.
    Role.SECRETARY: frozenset(_FRONT_DESK),
    Role.MANAGER: frozenset(
        {Permission.SESSION_OWN, Permission.USERS_MANAGE, Permission.SETTINGS_MANAGE}
        | {Permission.COMPLIANCE_READ, Permission.COMPLIANCE_MANAGE, Permission.BREACH_REPORT}
        | {Permission.BREACH_READ, Permission.BREACH_MANAGE}
        | {Permission.MAINTENANCE_LOG_READ, Permission.MAINTENANCE_LOG_WRITE}
        | {Permission.RETENTION_READ, Permission.RECORDS_DESTROY}
        # M1: keeps the directory of correspondents (no patient data); never sends a document.
        | {Permission.CORRESPONDENTS_MANAGE}
    ),
    Role.AUDITOR: frozenset(
        {Permission.SESSION_OWN, Permission.AUDIT_READ, Permission.AUDIT_EXPORT}
        | {Permission.COMPLIANCE_READ, Permission.BREACH_REPORT, Permission.BREACH_READ}
        | {Permission.ACCESS_REVIEW, Permission.MAINTENANCE_LOG_READ}
        | {Permission.RETENTION_READ}  # J2: checks the destruction certificates
    ),
    # K1: the IT maintainer keeps the maintenance log; no patient data.
    Role.MAINTAINER: frozenset(
        {Permission.SESSION_OWN, Permission.BREACH_REPORT}
        | {Permission.MAINTENANCE_LOG_READ, Permission.MAINTENANCE_LOG_WRITE}
    ),
    # K2: an outside technician, for the window a manager opened: their own session and the
    # maintenance log of their intervention; no patient data, no account, no register.
    Role.TECHNICIAN: frozenset({Permission.SESSION_OWN, Permission.MAINTENANCE_LOG_WRITE}),
}


def allows(role: str | None, permission: Permission) -> bool:
    if role is None:
        return False
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False  # an unknown role holds nothing
