"""Whole records, for the people who look after the installation: verify every record against
its seals, and acknowledge an alteration once it has been examined (E10, G3, O2).

A record altered outside Secretum is shown as such and refuses every write
(patients/integrity.py). After examining it (restoring it from a backup is the other way out),
someone acknowledges it with a reason: the record as it now stands becomes the reference again,
one version past anything the audit log knows, and the acknowledgement is itself an audited
event naming the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.models import Action
from secretum.patients import integrity as records
from secretum.patients.models import Patient
from secretum.patients.services import RESOURCE

REASON_MIN, REASON_MAX = 10, 200


@dataclass(frozen=True)
class Finding:
    patient_uid: str
    problems: tuple[str, ...]  # what does not match, in words; never a value


def _problems(patient: Patient) -> Iterator[str]:
    uid = str(patient.uid)
    if not records.intact(patient):
        yield "identity or record seal"
    if not records.entries_intact(patient):
        yield "set of entries"
    for kind, entries in records.ENTRY_KINDS.items():  # clinical entries and documents
        rows = entries.model.objects.filter(patient=patient)
        broken = sum(1 for row in rows.iterator(chunk_size=100) if not entries.intact(row, uid))
        if broken:
            yield f"{broken} {kind} row(s)"
    if records.audited_version(uid) > patient.record_version:
        yield "older than the audit log's last write"


def verify_records(progress: Callable[[int, int], None] | None = None) -> tuple[int, list[Finding]]:
    """Every record checked as a chart opening checks it, and every entry row, current or not,
    and every document (D4): the number checked and the records that do not match."""
    total = Patient.objects.count()
    findings, done = [], 0
    for patient in Patient.objects.order_by("id").iterator(chunk_size=500):
        problems = tuple(_problems(patient))
        if problems:
            findings.append(Finding(str(patient.uid), problems))
        done += 1
        if progress and (done % 500 == 0 or done == total):
            progress(done, total)
    return done, findings


def acknowledge_alteration(actor: Actor, patient_uid: Any, reason: str) -> int:
    """Make the record as it now stands the reference again; the new record version."""
    reason = (reason or "").strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        raise ValidationError(
            _("Give the reason in %(min)d to %(max)d characters.")
            % {"min": REASON_MIN, "max": REASON_MAX}
        )
    with guarded(
        actor,
        Permission.CLINICAL_WRITE,
        Action.UPDATE,
        RESOURCE,
        patient_ref=patient_uid,
        resource_ref=patient_uid,
        detail={"acknowledged": "record altered outside Secretum", "reason": reason},
    ) as event:
        try:
            patient = Patient.objects.select_for_update().get(uid=patient_uid)
        except (Patient.DoesNotExist, ValidationError, ValueError):
            raise ValidationError(_("No patient has this reference.")) from None
        uid = str(patient.uid)
        for entries in records.ENTRY_KINDS.values():  # documents too
            rows = list(entries.model.objects.filter(patient=patient))
            for row in rows:
                entries.stamp(row, uid)
            entries.model.objects.bulk_update(rows, list(entries.columns), batch_size=100)
        patient.record_version = max(patient.record_version, records.audited_version(uid))
        version = records.stamp(patient, records.stored_digest(patient))
        patient.save(update_fields=["record_version", "entries_digest", "record_seal"])
        event.detail[records.VERSION_KEY] = version
        return version
