"""The one gate of the service layer: permission check, transaction and audit event together.

    with guarded(actor, Permission.CLINICAL_WRITE, Action.CREATE, "clinical.Observation",
                 patient_ref=patient.uid) as event:
        ... write ...
        event.resource_ref = obs.uid

A medical record (CLINICAL_READ, CLINICAL_WRITE on a patient) also needs a basis: a care
relationship, the practice's shared record, or a break-the-glass access running
(access/relationships.py); without one the call is refused as ``NoCareRelationship``. An
archived record (J1) is read by anyone only on an archive grant (``ArchivedRecord`` otherwise:
identity, medical record and appointments alike) and written by no one until restored.

A page that reads several parts of one record (the chart: identity, medical record, documents,
appointments) opens it in one call: ``also`` names the other permissions it needs, each checked
as the first is, the archive and the basis decided over all of them; one event names what was
read (issue 17: one patient opened, one key unwrapped, one event per page).

A denied call leaves a "denied" event; a call that fails leaves a "failure" event; a call that
succeeds leaves one "success" event committed in the same transaction as its data. A change that
turns out to change nothing (``event.unchanged()``: the same role given again) writes no event:
there is nothing to account for. Only a change may end so: a read, a search, a print, an export
or a medical record opened on a basis is always recorded (D1), and the block that asks for it
anyway fails, audited as a failure.

A read or a search reads in a transaction of its own, and its event is appended just after, in
a write transaction of a few statements; the page is shown only once that event is committed. On
SQLite that transaction is a snapshot (``lib/sqlite3``: a deferred transaction, readers never
wait for a writer, WAL), so the one write lock of the database is held for the append alone, not
for the whole reading, decrypting and checking of a chart (issue 17: under many users, every
chart open used to queue behind every other one); a read or search whose block writes anything is
refused there (RuntimeError): its write would otherwise fail now and then, whenever another
request committed first. On every engine, an event recorded during the read (a row found altered,
D1) is appended when the read ends, however it ends: a read that then fails no longer takes the
auditor's "tampered" report back with it. Inside a transaction a caller already holds, the read
and its event commit, or roll back, with the caller's work.

On a continuity copy (I5, ``SECRETUM_READ_ONLY``: ``secretum serve --read-only --from-backup``)
the gate lets only the actions of ``READS`` through, whoever asks, the system included: a write
is refused as ``ReadOnlyCopy`` and leaves a "denied" event, even when a caller reaches the
service without the read-only middleware in front of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from secretum.access import relationships
from secretum.access.actor import AccessDenied, Actor
from secretum.access.fields import FieldReader, FieldRefused
from secretum.access.policy import ARCHIVE_READS, ARCHIVE_WRITES, Permission
from secretum.access.relationships import Basis
from secretum.audit.log import deferred, record_event
from secretum.audit.models import ARCHIVED, NO_CARE, READ_ONLY, Action, Outcome
from secretum.crypto.keyring import DataKey

# The actions whose block may end with nothing changed, and then write no event (``unchanged``).
CHANGES = frozenset(
    {Action.CREATE, Action.UPDATE, Action.RETRACT, Action.DELETE, Action.ARCHIVE, Action.RESTORE}
)
# I5: the only actions the gate lets through on a continuity copy: nothing is changed, sent,
# granted or reviewed there (the copy's data are thrown away; only its audit log comes back).
READS = frozenset({Action.READ, Action.SEARCH, Action.PRINT, Action.EXPORT})
# Issue 17, D1: the actions read in a transaction of their own, their event appended after it.
SNAPSHOT_READS = frozenset({Action.READ, Action.SEARCH})
# J1: the permissions an archived record answers differently (on a grant, or not at all).
_ARCHIVED_ASKS = ARCHIVE_READS | ARCHIVE_WRITES


class NoCareRelationship(AccessDenied):
    """The role may read medical records, but not this patient's: no care relationship, no
    shared record, no break-the-glass access running. The page offers the ways in."""

    def __init__(self, patient_ref: str) -> None:
        super().__init__(NO_CARE)
        self.patient_ref = patient_ref


class ArchivedRecord(AccessDenied):
    """J1: the patient's record is in the archive. A practitioner opens it with a stated reason
    (an archive grant, for a limited time); nothing is written into it until it is restored to
    active; everyone else is refused. The patient's page says so, without naming the patient."""

    def __init__(self, patient_ref: str, *, write: bool) -> None:
        super().__init__(ARCHIVED)
        self.patient_ref = patient_ref
        self.write = write


class ReadOnlyCopy(AccessDenied):
    """I5: a write asked of a continuity copy, which serves a backup read-only."""

    def __init__(self) -> None:
        super().__init__(READ_ONLY)


@dataclass
class EventDraft:
    action: str
    resource: str
    patient_ref: str = ""
    resource_ref: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    basis: Basis | None = None  # on what basis a medical record was opened
    actor: Actor | None = None  # who acts, as the event records them
    # What this call's readers decided, by (model, field): decided once per call, never kept.
    decided: dict[tuple[str, str], bool] = field(default_factory=dict, repr=False)
    quiet: bool = False  # the block changed nothing: no "success" event (``unchanged``)

    def unchanged(self) -> None:
        """The block wrote nothing: it ends without a "success" event. Refused (RuntimeError,
        audited as the block's failure) for a call that discloses something (a read, a search, a
        print, an export, a send) or opened a medical record on a basis: those are always
        recorded (D1)."""
        if self.action not in CHANGES or self.basis is not None:
            raise RuntimeError(f"a {self.action} is always recorded")
        self.quiet = True

    def reader(self, key: DataKey) -> FieldReader:
        """What this call may decrypt of the patient whose data key this is (access/fields.py):
        medical fields only on a basis the gate found for this call."""
        if self.actor is None:
            raise RuntimeError("a reader is handed out inside a guarded call only")
        medical = self.basis is not None or self.actor.user is None
        return FieldReader(self.actor, key, medical=medical, decided=self.decided)


def _record(actor: Actor, draft: EventDraft, outcome: Outcome) -> None:
    record_event(
        actor,
        draft.action,
        draft.resource,
        outcome=outcome,
        patient_ref=str(draft.patient_ref or ""),
        resource_ref=str(draft.resource_ref or ""),
        detail=draft.detail or None,
    )


def require(
    actor: Actor, permission: Permission, draft: EventDraft, also: Iterable[Permission] = ()
) -> Actor:
    """The role's permission (and each of ``also``), then, for a patient's medical record, a
    basis (C1): the actor as the audit event records it (its purpose is break-the-glass under a
    grant). On a continuity copy (I5), any action but a read is refused first, whatever the
    role."""
    if settings.SECRETUM_READ_ONLY and draft.action not in READS:
        draft.detail["problem"] = READ_ONLY
        _record(actor, draft, Outcome.DENIED)
        raise ReadOnlyCopy()
    needs = (permission, *also)
    lacking = next((p for p in needs if not actor.may(p)), None)
    if lacking is not None:
        _record(actor, draft, Outcome.DENIED)
        raise AccessDenied(f"{actor.role} lacks {lacking}")
    if (
        not _ARCHIVED_ASKS.isdisjoint(needs)
        and actor.user is not None  # the system: the owner's commands (J2 destroys archives)
        and relationships.valid_ref(draft.patient_ref)
        and relationships.archived(draft.patient_ref)
    ):
        return _archived(actor, frozenset(needs), draft)
    if (
        relationships.CARE_PERMISSIONS.isdisjoint(needs)
        or actor.user is None  # the system itself: the instance's owner at the command line
        or not relationships.valid_ref(draft.patient_ref)  # no such patient: the service's 404
    ):
        return actor
    draft.basis = relationships.basis_for(actor.user, draft.patient_ref)
    if draft.basis is None:
        draft.detail["problem"] = NO_CARE
        _record(actor, draft, Outcome.DENIED)
        raise NoCareRelationship(draft.patient_ref)
    if draft.basis.kind == "break-the-glass":
        draft.detail["grant"] = draft.basis.grant
        return replace(actor, purpose=draft.basis.purpose)
    if draft.basis.kind == "shared-record":  # the auditor's many-patients alert counts these
        draft.detail["basis"] = draft.basis.kind
    return actor


def _archived(actor: Actor, needs: frozenset[Permission], draft: EventDraft) -> Actor:
    """J1: an archived record is read on an archive grant only, whatever else the user holds
    (a care relationship, the shared record); it is never written until restored."""
    write = not needs.isdisjoint(ARCHIVE_WRITES)
    basis = None if write else relationships.archive_basis(actor.user, draft.patient_ref)
    if basis is None:
        draft.detail["problem"] = ARCHIVED
        _record(actor, draft, Outcome.DENIED)
        raise ArchivedRecord(draft.patient_ref, write=write)
    draft.detail["grant"] = basis.grant
    if not needs.isdisjoint(relationships.CARE_PERMISSIONS):
        draft.basis = basis  # the medical record opens on it, as on an emergency access
    return replace(actor, purpose=basis.purpose)


@contextmanager
def guarded(
    actor: Actor,
    permission: Permission,
    action: str,
    resource: str,
    *,
    patient_ref: Any = "",
    resource_ref: Any = "",
    detail: dict[str, Any] | None = None,
    also: Iterable[Permission] = (),
) -> Iterator[EventDraft]:
    draft = EventDraft(
        action, resource, str(patient_ref or ""), str(resource_ref or ""), dict(detail or {})
    )
    actor = draft.actor = require(actor, permission, draft, also)
    apart = _reads_apart(draft)
    try:
        with _snapshot() if apart else transaction.atomic():
            yield draft
            if not apart and not draft.quiet:
                _record(actor, draft, Outcome.SUCCESS)
        if apart:  # a read or a search (never quiet): its event, before anything is shown
            _record(actor, draft, Outcome.SUCCESS)
    except FieldRefused as refused:  # a service asked for a field the caller may not read
        draft.detail["problem"] = "field-class"
        draft.detail["field"] = refused.field
        _record(actor, draft, Outcome.DENIED)
        raise
    except Exception as exc:  # a refusal inside the block too (AccessDenied): D1, audited
        draft.detail["error"] = type(exc).__name__  # the kind of failure, never its content
        _record(actor, draft, Outcome.FAILURE)
        raise


def _reads_apart(draft: EventDraft) -> bool:
    """A read or a search in no caller's transaction: read apart, event after. (A test case's
    own wrapping transaction is not a caller's: Django marks it, and its ``atomic(durable=True)``
    looks past it the same way.)"""
    return draft.action in SNAPSHOT_READS and all(
        getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
    )


@contextmanager
def _snapshot() -> Iterator[None]:
    """The read in a transaction of its own: the SQLite backend's snapshot (``lib/sqlite3``: no
    write lock; refused if it wrote) where the backend offers one, else a plain one. The events
    recorded inside are appended when it ends (``audit.log.deferred``)."""
    with deferred(), getattr(connection, "snapshot", transaction.atomic)():
        yield
