"""The archive of patient records (J1): a patient without contact for the practice's
``archive_years`` (a practice setting, default 5, from 2 to 30) moves to the archive.

* **Last contact** is the latest of the moments Secretum already holds in clear, so that a run
  decrypts nothing: the patient's registration and the last change of their identity
  (``created_at``, ``updated_at``), their latest clinical entry and document (``recorded_at``,
  every version, retracted ones included: each was a contact; the tables
  ``integrity.ENTRY_KINDS`` names), their latest appointment not
  cancelled (``starts_at``, one booked ahead included: the patient is coming back), and the
  latest contact of any care relationship with them (``last_contact_at``: a consultation, an
  appointment, "I take care of this patient", and the restoring of the record). Reads of the
  record are no contact: an emergency access or an auditor's report keeps nothing alive.
* **The run** (``archive_due``; `secretum records archive`, once a day under `secretum serve`)
  finds the due records in one query (``NOT EXISTS`` over those tables, indexed by patient),
  then archives each under its row's lock, its last contact read again there (a consultation
  written meanwhile wins), as one audited write of the record (``archive``, its version in the
  event, the record seal now covering "archived"). A record altered outside Secretum is left as
  found and reported: a new seal would launder the alteration. A second run finds nothing.
* **Archived**: out of every search and list (patients/queries.py, the agenda), readable only
  on an archive grant (access/care.py ``open_archived``: a practitioner's reason of 10 to 200
  characters, for the practice's emergency-access hours, the auditor told and reviewing it), and
  written by no one: a new entry, document, appointment or identity change is refused until a
  practitioner restores the record to active (``restore_patient``, with a reason, audited).

The moments read are columns an attacker holding the database could set back, to have a record
archived early; the archive is then one audited restore away, and nothing is disclosed by it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import ValidationError
from django.db.models import Exists, Max, OuterRef, Q
from django.utils import timezone

from secretum.access import care
from secretum.access.actor import Actor
from secretum.access.guard import guarded
from secretum.access.models import CareRelationship
from secretum.access.policy import Permission
from secretum.accounts.services import practice_settings
from secretum.audit.log import record_tampered
from secretum.audit.models import Action, AuditEvent, Outcome
from secretum.lib.dates import add_years
from secretum.patients import integrity, queries
from secretum.patients.models import Patient
from secretum.patients.services import RESOURCE, writable_patient

RUN_KIND = "archive-run"  # the detail's "kind" of a run's own audit event
# The other tables whose rows are contacts, and the moment each holds: (app label, model, column,
# what must hold of a row that counts). The entries of the record (clinical entries, documents)
# are the tables ``integrity.ENTRY_KINDS`` names, each by its ``recorded_at``.
CONTACTS: tuple[tuple[str, str, str, Q], ...] = (
    ("scheduling", "Appointment", "starts_at", ~Q(status="cancelled")),
    ("access", "CareRelationship", "last_contact_at", Q()),
)


def _contacts() -> list[tuple[Any, str, Q]]:
    entries = [(kind.model, "recorded_at", Q()) for kind in integrity.ENTRY_KINDS.values()]
    return entries + [(apps.get_model(app, name), column, q) for app, name, column, q in CONTACTS]


def archive_years() -> int:
    """The practice's archive period, in years (J1; accounts.PracticeSettings)."""
    return int(practice_settings().archive_years)


def cutoff(years: int, now: dt.datetime | None = None) -> dt.datetime:
    """A patient whose last contact is before this moment is due for the archive."""
    return add_years(now or timezone.now(), -years)


def last_contact(patient: Any) -> dt.datetime:
    """The patient's last contact (see the module): the latest moment of the tables above."""
    moments = [patient.created_at, patient.updated_at]
    for model, column, q in _contacts():
        found = model.objects.filter(q, patient_id=patient.pk).aggregate(last=Max(column))
        moments.append(found["last"])
    return max(m for m in moments if m is not None)


def due_uids(before: dt.datetime) -> list[str]:
    """The active patients with no contact since ``before``, oldest first (one query)."""
    rows = Patient.objects.filter(
        archived_at__isnull=True, created_at__lt=before, updated_at__lt=before
    )
    for model, column, q in _contacts():
        recent = model.objects.filter(q, patient_id=OuterRef("pk"), **{f"{column}__gte": before})
        rows = rows.filter(~Exists(recent))
    return [str(uid) for uid in rows.order_by("pk").values_list("uid", flat=True)]


@dataclass
class ArchiveRun:
    """What one run did: the years applied, the records archived (uid, last contact) and the
    ones left as found (altered outside Secretum)."""

    years: int
    before: dt.datetime
    archived: list[tuple[str, dt.datetime]] = field(default_factory=list)
    altered: list[str] = field(default_factory=list)


def archive_due(*, now: dt.datetime | None = None) -> ArchiveRun:
    """Archive every active record without contact for the practice's ``archive_years`` before
    ``now`` (the present; a test passes a later one); each an audited write of the system (the
    practice's rule, run by its owner's command, never by a person). Idempotent: a record
    archived, or contacted since the list, is skipped."""
    actor = Actor.system()
    years = archive_years()
    run = ArchiveRun(years, cutoff(years, now))
    for uid in due_uids(run.before):
        row = queries.by_uid(uid)
        if not integrity.intact(row) or integrity.audited_version(uid) > row.record_version:
            # Altered outside Secretum, or put back from an older copy: left as found, reported
            # here (outside the write, whose refusal would take the report back with it).
            record_tampered(RESOURCE, uid, actor=actor, patient_ref=uid)
            run.altered.append(uid)
            continue
        try:
            last = _archive_one(actor, uid, years, run.before)
        except ValidationError:  # altered since: the write refused, its failure audited
            run.altered.append(uid)
            continue
        if last is not None:
            run.archived.append((uid, last))
    # The run itself, for the register (J1: its last run, what it did): the records it listed.
    with guarded(
        actor, Permission.ARCHIVE_OPEN, Action.SEARCH, RESOURCE,
        detail={"kind": RUN_KIND, "archive_years": years, "before": run.before.isoformat()},
    ) as event:  # fmt: skip
        event.detail.update(archived=len(run.archived), altered=len(run.altered))
    return run


def last_run() -> tuple[dt.datetime, dict[str, Any]] | None:
    """When the archive last ran, and what it did (its audit event's detail), or None."""
    runs = AuditEvent.objects.filter(
        action=Action.SEARCH, resource=RESOURCE, outcome=Outcome.SUCCESS, actor__isnull=True,
        detail__contains=f'"kind":"{RUN_KIND}"',
    )  # fmt: skip
    found = runs.order_by("-seq").values_list("at", "detail").first()
    if found is None:
        return None
    return found[0], json.loads(found[1])


def _archive_one(actor: Actor, uid: str, years: int, before: dt.datetime) -> dt.datetime | None:
    with guarded(
        actor, Permission.ARCHIVE_OPEN, Action.ARCHIVE, RESOURCE, patient_ref=uid,
        resource_ref=uid, detail={"archive_years": years},
    ) as event:  # fmt: skip
        found = queries.by_uid(uid, lock=True)  # the last contact is read under this lock, once
        last = None if found is None or found.archived_at is not None else last_contact(found)
        if last is None or last >= before:
            event.unchanged()  # archived or contacted since the list: nothing to do
            return None
        patient, _key = writable_patient(uid)  # refused if altered outside Secretum
        patient.archived_at = timezone.now()
        event.detail[integrity.VERSION_KEY] = integrity.stamp(patient)
        event.detail["last_contact"] = last.date().isoformat()
        patient.save(update_fields=["archived_at", "record_version", "record_seal"])
        return last


def restore_patient(actor: Actor, uid: Any, reason: str) -> None:
    """A practitioner brings an archived record back to active, with a reason (J1): in every
    search and list again, open to its care relationships. The restoring practitioner takes care
    of the patient (a care relationship, which is also a contact: the next run leaves the record
    active for another period). The archive grants still running on it end: they opened its
    archived state, never a later one."""
    reason = care.clean_reason(reason)
    with guarded(
        actor, Permission.ARCHIVE_OPEN, Action.RESTORE, RESOURCE, patient_ref=uid,
        resource_ref=uid, detail={"reason": reason},
    ) as event:  # fmt: skip
        patient, _key = writable_patient(uid, restoring=True)
        patient.archived_at = None
        event.detail[integrity.VERSION_KEY] = integrity.stamp(patient)
        patient.save(update_fields=["archived_at", "record_version", "record_seal"])
        care.record_contact(actor.user, patient.pk, CareRelationship.Origin.DECLARED)
        event.detail["grants_ended"] = care.end_archive_grants(patient.pk)


@dataclass(frozen=True)
class ArchiveState:
    """What the archived page says of a record, without naming the patient."""

    uid: str
    archived_at: dt.datetime | None


def archive_state(uid: Any) -> ArchiveState | None:
    """The moment a record was archived, for the page that refuses it (no identity, no
    decryption: shown to whoever the gate refused, with the record's opaque reference only)."""
    found = Patient.objects.filter(uid=uid).values_list("archived_at", flat=True).first()
    return ArchiveState(str(uid), found) if found is not None else None
