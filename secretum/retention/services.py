"""Retention and destruction of records (J2): every read and write, checked and audited.

A record whose retention period has ended (``contact.due``), or whose patient's erasure
request (GDPR art. 17) a practitioner recorded with its legal basis, is destroyed by a manager
after re-authentication (the pages' ``sudo``). Destruction is crypto-shredding, in one
transaction with its audit event and its signed certificate:

* the patient's data key (``Patient.wrapped_key``) is deleted: every value sealed under it, in
  the database, its documents and every old backup, no longer opens once no key file holding the
  key-encryption key that wrapped it remains (``certificates.readability``);
* the rows that name the patient are deleted too (identity, search-index tokens, entries,
  documents, appointments, care relationships, emergency accesses): nothing in clear is left
  but the opaque reference the audit log, the print log and the certificate keep.

Two managers approving at once give one destruction: the patient's row is locked first (SQLite
takes its write lock at the transaction's start), the second finds it gone; the certificate's
unique patient reference settles any other path in the database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import ForeignObjectRel, Max
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access import relationships
from secretum.access.actor import Actor
from secretum.access.guard import NoCareRelationship, guarded
from secretum.access.policy import Permission
from secretum.accounts.services import practice_settings
from secretum.audit.log import record_tampered
from secretum.audit.models import Action, AuditEvent, Outcome
from secretum.crypto import keyring, rows
from secretum.crypto.sealing import Delivery, Kind
from secretum.patients import integrity, queries
from secretum.patients.models import Patient, SearchToken
from secretum.retention import certificates, contact
from secretum.retention.models import Basis, DestructionCertificate, ErasureRequest

RESOURCE = "patients.Patient"
CERTIFICATE = "retention.DestructionCertificate"
ERASURE = "retention.ErasureRequest"
BASIS_LABELS = dict(Basis.choices)  # for the pages, which never import models
LEGAL_TEXT = "law of 22 April 2019 on the quality of healthcare practice, art. 35"


class AlreadyDestroyed(ValidationError):
    """The record was destroyed meanwhile (another manager approved it first)."""


class DatesAltered(ValidationError):
    """The record's dates in the database disagree with the audit log or its seal."""


@dataclass(frozen=True)
class DueRecord:
    """A record listed for destruction: its opaque reference, never a name."""

    ref: str
    last_contact: dt.date
    due_since: dt.date | None  # None: an erasure request, before the end of retention
    erasure_basis: str = ""  # the erasure request's basis (a Basis value)
    erasure_recorded: dt.date | None = None
    erasure_recorded_by: str = ""  # the practitioner to ask about it


@dataclass(frozen=True)
class DueList:
    records: list[DueRecord]
    retention_years: int
    key_backup_expiry_days: int


def _due_record(patient: Any, years: int, request: ErasureRequest | None = None) -> DueRecord:
    last = timezone.localdate(patient.last_contact)
    ends = contact.years_after(last, years)
    return DueRecord(
        ref=str(patient.uid),
        last_contact=last,
        due_since=ends if ends <= timezone.localdate() else None,
        erasure_basis=request.basis if request else "",
        erasure_recorded=timezone.localdate(request.recorded_at) if request else None,
        erasure_recorded_by=str(request.recorded_by) if request else "",
    )


def due_records(actor: Actor, limit: int = 500) -> DueList:
    """J2: the records whose retention ended, oldest contact first, then the erasure requests
    recorded for records still within it (a request planted in the database, which does not
    match its seal, is left out)."""
    current = practice_settings()
    years = current.retention_years
    with guarded(actor, Permission.RETENTION_READ, Action.SEARCH, RESOURCE) as event:
        found = [_due_record(p, years) for p in contact.due(years)[:limit]]
        listed = {r.ref for r in found}
        requests = ErasureRequest.objects.select_related("patient", "recorded_by")
        requests = requests.order_by("recorded_at")
        patients = {
            p.pk: p
            for p in contact.with_last_contact(
                Patient.objects.filter(pk__in=[r.patient_id for r in requests])
            )
        }
        for request in requests:
            if _intact(request) and str(request.patient.uid) not in listed:
                found.append(_due_record(patients[request.patient_id], years, request))
        event.detail["count"] = len(found)
        return DueList(found, years, current.key_backup_expiry_days)


def record_erasure_request(actor: Actor, uid: Any, basis: str) -> ErasureRequest:
    """J2, GDPR art. 17: a practitioner records a patient's erasure request and the legal basis
    that allows it before the end of retention. It destroys nothing: a manager decides. Only a
    practitioner who takes care of the patient (a care relationship, or the practice's shared
    record; an emergency access is no such basis) records one: ``NoCareRelationship``."""
    if basis not in {b.value for b in Basis} - {Basis.RETENTION_ENDED.value}:
        raise ValidationError(_("Choose the legal basis of the erasure."))
    with guarded(
        actor, Permission.ERASURE_REQUEST, Action.CREATE, ERASURE, patient_ref=uid,
        detail={"basis": basis},
    ) as event:  # fmt: skip
        patient = _patient(uid)
        basis_now = actor.user and relationships.basis_for(actor.user, str(patient.uid))
        if not basis_now or basis_now.kind == "break-the-glass":
            raise NoCareRelationship(str(patient.uid))
        request = ErasureRequest(patient=patient, basis=basis, recorded_by=actor.user)
        request.save()
        event.resource_ref = str(request.uid)
        return request


def _intact(request: ErasureRequest) -> bool:
    """The request is as a practitioner recorded it; one planted or changed in the database
    allows nothing, and is reported to the auditor."""
    if rows.intact(request):
        return True
    record_tampered(ERASURE, str(request.uid), patient_ref=str(request.patient.uid))
    return False


def _patient(uid: Any) -> Patient:
    try:
        found = queries.by_uid(uid, lock=True)
    except (ValidationError, ValueError):
        found = None
    if found is None:
        raise Http404("No such patient.")
    return found


def _shred(patient: Patient) -> dict[str, int]:
    """Delete every row that names the patient, then the patient's row and its data key.
    Returns the count of each kind of row (model label). Rows are deleted table by table, in
    one statement each, without the ORM's collector: the database's foreign keys (deferred to
    the commit) are the check that nothing naming the patient stays behind."""
    counts: dict[str, int] = {}
    relations = [
        f
        for f in Patient._meta.get_fields(include_hidden=True)
        if isinstance(f, ForeignObjectRel) and f.related_model is not None
    ]
    for relation in relations:
        model: Any = relation.related_model
        found = model._base_manager.filter(**{relation.field.name: patient})
        count = found._raw_delete(connection.alias)
        if count:
            counts[model._meta.label] = count
    Patient.objects.filter(pk=patient.pk)._raw_delete(connection.alias)
    return counts


# The audited actions that leave a contact in the tables (contact.sources: an entry, a
# document, an appointment, a care relationship, the identity changed; a restore to active makes
# its practitioner take care of the patient). Reads, prints and exports are no contact, nor the
# archive's own events or a data key's rotation (J1, E10): none of them moves a table's date.
_CONTACTS = (Action.CREATE, Action.UPDATE, Action.RETRACT, Action.RESTORE)


def _audited_contact(ref: str) -> dt.datetime | None:
    """The latest contact the audit log holds about the patient: the hash-chained log cannot be
    backdated, where the tables' dates can be by whoever holds the database."""
    found = AuditEvent.objects.filter(
        patient_ref=ref, outcome=Outcome.SUCCESS, action__in=[a.value for a in _CONTACTS]
    )
    found = found.exclude(resource__startswith="audit.").exclude(resource__startswith="retention.")
    found = found.exclude(detail__contains='"data_key":"rotated"')
    latest: dt.datetime | None = found.aggregate(latest=Max("at"))["latest"]
    return latest


def _confirmed(patient: Patient, years: int) -> None:
    """The tables' dates say the retention ended: the audit log and the record's seal must
    agree. A record whose dates were moved back in the database is refused and reported."""
    audited = _audited_contact(str(patient.uid))
    later = audited is not None and (
        contact.years_after(timezone.localdate(audited), years) > timezone.localdate()
    )
    if later or not integrity.intact(patient):
        raise DatesAltered(
            _(
                "The dates of this record in the database do not match the audit log or its "
                "seal: it may have been altered outside Secretum, and is not destroyed. The "
                "auditor is told."
            ),
            code="altered",
        )


def _basis_of(patient: Patient, years: int) -> tuple[Basis, ErasureRequest | None, dt.date]:
    """The basis this record can be destroyed on now: its retention ended (confirmed by the
    audit log), or an intact erasure request. ValidationError otherwise."""
    last = timezone.localdate(contact.last_contact(patient.pk))
    if contact.years_after(last, years) <= timezone.localdate():
        _confirmed(patient, years)
        return Basis.RETENTION_ENDED, None, last
    requests = ErasureRequest.objects.filter(patient=patient).order_by("recorded_at")
    request = next((r for r in requests if _intact(r)), None)
    if request is None:
        raise ValidationError(
            _(
                "This record is still within its retention period (%(years)d years after the "
                "last contact, on %(day)s): Belgian law requires keeping it. Only an erasure "
                "request recorded with its legal basis allows destroying it earlier."
            )
            % {"years": years, "day": last.isoformat()},
            code="not-due",
        )
    return Basis(request.basis), request, last


def destroy_record(actor: Actor, uid: Any) -> DestructionCertificate:
    """J2: crypto-shred one record and keep its signed certificate. The caller (a page) has
    checked the manager's re-authentication; ``AlreadyDestroyed`` when another got there
    first, ValidationError when the record is not due and no erasure request allows it."""
    try:
        return _destroy(actor, uid)
    except DatesAltered:
        # Reported once the destruction's transaction is rolled back: the auditor's record stays.
        record_tampered(RESOURCE, str(uid), patient_ref=str(uid))
        raise


def _destroy(actor: Actor, uid: Any) -> DestructionCertificate:
    current = practice_settings()
    years, expiry = current.retention_years, current.key_backup_expiry_days
    with guarded(
        actor, Permission.RECORDS_DESTROY, Action.DELETE, RESOURCE, patient_ref=uid,
        resource_ref=uid,
    ) as event:  # fmt: skip
        if actor.user is None:  # the command line lists; a manager in person decides
            raise ValidationError(_("A destruction is approved by a practice manager."))
        try:
            patient = _patient(uid)
        except Http404:
            if DestructionCertificate.objects.filter(patient_ref=str(uid)).exists():
                raise AlreadyDestroyed(_("This record has already been destroyed.")) from None
            raise
        basis, request, last = _basis_of(patient, years)
        ref, kek_version = str(patient.uid), keyring.kek_version_of(patient.wrapped_key)
        counts = _shred(patient)
        certificate = DestructionCertificate(
            patient_ref=ref, basis=basis, approved_by=actor.user, approved_at=timezone.now(),
            kek_version=kek_version, key_backup_expiry_days=expiry,
        )  # fmt: skip
        certificates.sign(certificate, _lines(certificate, counts, years, last, request))
        certificate.save()
        event.resource_ref = ref
        event.detail.update(
            basis=basis.value, certificate=str(certificate.uid), kek_version=kek_version,
            rows={label: n for label, n in counts.items() if label != SearchToken._meta.label},
        )  # fmt: skip
        return certificate


def _lines(
    certificate: DestructionCertificate,
    counts: dict[str, int],
    years: int,
    last: dt.date,
    request: ErasureRequest | None,
) -> list[tuple[str, str]]:
    user = certificate.approved_by
    removed = ", ".join(f"{label} {n}" for label, n in sorted(counts.items())) or "none"
    lines = [
        ("certificate", str(certificate.uid)),
        ("instance", keyring.key_fingerprint()[:32]),
        ("patient-ref", certificate.patient_ref),
        ("basis", str(certificate.basis)),
        ("legal-basis", str(Basis(certificate.basis).label)),
        ("retention", f"{years} years after the last contact ({LEGAL_TEXT})"),
        ("last-contact", last.isoformat()),
    ]
    if request is not None:
        lines.append(
            (
                "erasure-request",
                f"{request.uid} recorded by {request.recorded_by.get_username()} on "
                f"{certificates.utc(request.recorded_at)}",
            )
        )
    return [
        *lines,
        ("approved-by", f"{user.get_username()} ({user.get_full_name() or '-'})"),
        ("approved-at", certificates.utc(certificate.approved_at)),
        ("destroyed", f"data key of the patient (wrapped under KEK version "
                      f"{certificate.kek_version}); identity row; rows: {removed}"),
        ("kek-version", str(certificate.kek_version)),
        ("key-store-backups-expire-after-days", str(certificate.key_backup_expiry_days)),
        ("no-copy-readable-after", f"{certificate.key_backup_expiry_days} days after KEK "
                                   f"version {certificate.kek_version} is retired by a key "
                                   "rotation (secretum keys rotate)"),
    ]  # fmt: skip


def certificates_list(actor: Actor) -> list[tuple[DestructionCertificate, Any]]:
    """J2: every destruction certificate, newest first, with when no copy remains readable."""
    with guarded(actor, Permission.RETENTION_READ, Action.SEARCH, CERTIFICATE):
        found = DestructionCertificate.objects.select_related("approved_by")
        return [(c, certificates.readability(c)) for c in found.order_by("-approved_at")]


def access_certificate(
    actor: Actor, uid: Any, *, delivery: Delivery | None = None
) -> tuple[DestructionCertificate, Any, Any]:
    """One certificate, its signature checked, and when no copy remains readable. Downloaded,
    the read event names how its text leaves (``delivery``, E7, M3: never the passphrase)."""
    detail = {"file": "certificate", **delivery.audit_detail(Kind.TEXT)} if delivery else None
    with guarded(
        actor, Permission.RETENTION_READ, Action.READ, CERTIFICATE, resource_ref=uid, detail=detail
    ):
        try:
            found = DestructionCertificate.objects.get(uid=uid)
        except (DestructionCertificate.DoesNotExist, ValidationError):
            raise Http404("No such certificate.") from None
        return found, certificates.verify(found), certificates.readability(found)
