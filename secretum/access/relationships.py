"""On what basis a practitioner may open a patient's medical record (C1, C2): a care
relationship, the practice's shared record, or a break-the-glass grant still running; an
archived record (J1) on an archive grant only.

Read on every call through the gate (access/guard.py), so that a relationship ended, a grant
expired or a policy changed applies to the very next request. A row that fails its seal counts
for nothing and is reported (the auditor's "tampered" alert).
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

from django.db.models import Q
from django.utils import timezone

from secretum.access.actor import Purpose
from secretum.access.models import AccessPolicy, CareRelationship, GlassBreak
from secretum.access.policy import Permission
from secretum.audit.log import record_tampered
from secretum.crypto.rows import intact, label_of
from secretum.lib.rawrows import Select, exists, value

# The permissions that open a medical record: held by role, used only within a basis.
CARE_PERMISSIONS = frozenset(
    {
        Permission.CLINICAL_READ,
        Permission.CLINICAL_WRITE,
        Permission.CLINICAL_EXPORT,
        Permission.CLINICAL_SIGN,
    }
    | {Permission.MAIL_SEND}  # M1: a patient's document sent by mail, within a basis
)


@dataclass(frozen=True)
class Basis:
    kind: str  # relationship | shared-record | break-the-glass | archive
    purpose: Purpose
    grant: str = ""  # the break-the-glass grant's uid
    until: dt.datetime | None = None  # when the grant ends
    reason: str = ""


# Read on every opening of a record: written once, not composed by the ORM each time (issue 17).
_POLICY = Select(AccessPolicy, "ORDER BY id LIMIT 1")


class _RecordReads(NamedTuple):
    patient: Any  # the patients app's model (it stands above access: named through the key)
    running: Select  # the running relationships of a patient's uid and a practitioner
    archived: str  # whether a uid's record is archived


@cache
def _record_reads() -> _RecordReads:
    """The reads of a record's opening, once every app is loaded."""
    patient = CareRelationship._meta.get_field("patient").related_model
    patients, relationships = patient._meta.db_table, CareRelationship._meta.db_table
    running = Select(
        CareRelationship,
        f"JOIN {patients} ON {patients}.id = {relationships}.patient_id "
        f"WHERE {patients}.uid = %s AND {relationships}.practitioner_id = %s "
        f"AND {relationships}.ended_at IS NULL ORDER BY {relationships}.id",
    )
    archived = f"SELECT 1 FROM {patients} WHERE uid = %s AND archived_at IS NOT NULL LIMIT 1"  # noqa: S608
    return _RecordReads(patient, running, archived)


def _patient_uid(patient_ref: Any) -> Any:
    """The patient's uid as a query parameter; ValidationError when it is none."""
    return value(_record_reads().patient, "uid", patient_ref)


def _checked(row: Any) -> bool:
    if intact(row):
        return True
    record_tampered(label_of(row), str(row.pk))
    return False


def policy() -> AccessPolicy:
    """The practice's access policy; the defaults when none was saved, or when the saved one
    was altered outside Secretum (reported)."""
    row = _POLICY.first()
    if row is None or not _checked(row):
        return AccessPolicy()
    return row


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """The same day and time ``months`` calendar months earlier (the last day of a shorter
    month)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1])
    )


def valid_ref(patient_ref: Any) -> bool:
    try:
        uuid.UUID(str(patient_ref))
    except ValueError:
        return False
    return True


def current_relationship(user: Any, patient_ref: Any, months: int | None = None) -> Any:
    """The user's running care relationship with this patient, or None."""
    since = months_before(timezone.now(), months or policy().relationship_months)
    for row in _record_reads().running.rows(
        _patient_uid(patient_ref), value(CareRelationship, "practitioner", user)
    ):
        if row.last_contact_at >= since and _checked(row):
            return row
    return None


def basis_for(user: Any, patient_ref: Any) -> Basis | None:
    """Why this user may open this patient's medical record now, or None."""
    practice = policy()
    if practice.shared_record:
        return Basis("shared-record", Purpose.CARE)
    if current_relationship(user, patient_ref, practice.relationship_months) is not None:
        return Basis("relationship", Purpose.CARE)
    return _running_grant(user, patient_ref, archive=False)


def _running_grant(user: Any, patient_ref: Any, *, archive: bool) -> Basis | None:
    """The user's latest grant still running on this patient: an archive grant (J1) or an
    emergency one (C1), never one for the other."""
    now = timezone.now()
    grants = GlassBreak.objects.filter(
        patient__uid=patient_ref, practitioner=user, started_at__lte=now, expires_at__gt=now
    )
    archived = Q(category=GlassBreak.Category.ARCHIVE)
    for grant in grants.filter(archived if archive else ~archived).order_by("-expires_at"):
        if _checked(grant):
            kind, purpose = (
                ("archive", Purpose.ARCHIVE)
                if archive
                else ("break-the-glass", Purpose.BREAK_THE_GLASS)
            )
            return Basis(kind, purpose, str(grant.uid), grant.expires_at, grant.reason)
    return None


def archived(patient_ref: Any) -> bool:
    """The patient's record is in the archive (J1). The column says so; the record seal covers it
    (patients/integrity.py), so the column cleared in the database is an alteration that the
    record's opening reports and refuses (patients/services.py ``open_patient``)."""
    return exists(_record_reads().archived, _patient_uid(patient_ref))


def archive_basis(user: Any, patient_ref: Any) -> Basis | None:
    """The archive grant this user holds on this archived record now, or None (J1)."""
    return _running_grant(user, patient_ref, archive=True)
