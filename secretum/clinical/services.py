"""All reads and writes of clinical data: practitioners only, audited, sealed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access import care
from secretum.access.actor import Actor
from secretum.access.fields import FieldReader
from secretum.access.guard import EventDraft, guarded
from secretum.access.models import CareRelationship
from secretum.access.policy import Permission
from secretum.audit.log import record_tampered
from secretum.audit.models import Action
from secretum.clinical import integrity, rules
from secretum.clinical.models import MODELS, ClinicalEntry
from secretum.crypto.fields import SealedField, uid_text
from secretum.crypto.keyring import DataKey, DecryptionError
from secretum.documents import services as documents
from secretum.lib.rawrows import AUTHOR_FIELDS, Loader, columns
from secretum.patients import integrity as records
from secretum.patients.models import Patient
from secretum.patients.services import (
    PatientIdentity,
    open_patient,
    patient_key,
    register_patient,
    report_unreadable,
    reveal_identity,
    writable_patient,
)
from secretum.scheduling import services as scheduling

CHART_LIMIT = 100  # entries of each kind on the chart page


@dataclass(frozen=True)
class Entry:
    kind: str
    uid: str
    recorded_at: dt.datetime
    author: str
    values: dict[str, str | None]
    corrected: bool  # this version replaces an earlier one
    current: bool
    retracted: bool


@dataclass(frozen=True)
class Chart:
    patient: PatientIdentity
    entries: dict[str, list[Entry]] = field(default_factory=dict)
    # The record was altered outside Secretum (patients/integrity.py): shown, never hidden.
    altered: bool = False
    # Opened in an emergency, without a care relationship: until when, and why (C1).
    emergency_until: dt.datetime | None = None
    emergency_reason: str = ""
    # The documents attached to the record (D4), listed within the chart's own read.
    documents: list[Any] = field(default_factory=list)
    # J1: an archived record, opened on an archive grant (its end and reason above).
    archived: bool = False
    # The patient's appointments, read within the chart's own read when the page asks for them
    # (``access_chart(appointments=True)``); empty otherwise.
    appointments: list[Any] = field(default_factory=list)


def _model(kind: str) -> Any:
    try:
        return MODELS[kind]
    except KeyError:
        raise Http404("No such kind of entry.") from None


@cache
def _shown(kind: str) -> tuple[str, ...]:
    """The fields of an entry of this kind that are shown."""
    return tuple(s.name for s in rules.SPECS[kind]) + rules.COMPUTED.get(kind, ())


def _reveal(kind: str, row: ClinicalEntry, reader: FieldReader) -> Entry:
    return Entry(
        kind=kind,
        uid=uid_text(row),
        recorded_at=row.recorded_at,
        author=str(row.author),
        values={n: reader.open(row, n) for n in _shown(kind)},
        corrected=getattr(row, "supersedes_id", None) is not None,
        current=row.superseded_at is None and not row.retracted,
        retracted=row.retracted,
    )


def _resource(kind: str) -> str:
    return MODELS[kind]._meta.label


def access_chart(
    actor: Actor,
    patient_uid: Any,
    *,
    export: dict[str, Any] | None = None,
    appointments: bool = False,
) -> Chart:
    """The chart, read for the page; or, with ``export`` (what leaves and how, for the audit
    event), read to leave Secretum (L1, E7): the CLINICAL_EXPORT permission on the same basis,
    one "export" event naming what left and how many entries of each kind.

    ``appointments``: the page's appointments too, in the same read (issue 17): the patient
    opened and its key unwrapped once, APPOINTMENT_READ asked by the same gate, one "read" event
    whose ``sections`` name what the page read."""
    with guarded(
        actor,
        Permission.CLINICAL_READ if export is None else Permission.CLINICAL_EXPORT,
        Action.READ if export is None else Action.EXPORT,
        "clinical.Chart",
        patient_ref=patient_uid,
        resource_ref=patient_uid,
        detail={"sections": list(_SECTIONS)} if export is None else export,
        also=(Permission.APPOINTMENT_READ,) if appointments else (),
    ) as event:
        patient, key = open_patient(patient_uid)
        reader = event.reader(key)
        identity = reveal_identity(patient, reader)
        # The chart page shows the newest of each kind; a copy that leaves holds every one.
        current = _current(patient, None if export is None else EXPORT_LIMIT)
        entries: dict[str, list[Entry]] = {}
        unreadable = False
        for kind, rows in current.items():
            entries[kind] = []
            for row in rows:
                try:
                    entries[kind].append(_reveal(kind, row, reader))
                except DecryptionError:  # moved here from another record: left out, reported
                    unreadable = True
        listed = documents.listed(patient, reader)
        altered = (
            unreadable
            or listed.altered  # a document row altered or moved here: left out of the list
            or _entries_altered(patient, current)
            # the whole record put back from an older copy (writes check it in writable_patient)
            or records.audited_version(str(patient.uid)) > patient.record_version
        )
        if altered:  # (an altered identity was reported when the record was opened)
            record_tampered("clinical.Chart", str(patient.uid), patient_ref=str(patient.uid))
        if export is not None:
            event.detail["entries"] = {kind: len(rows) for kind, rows in entries.items()}
        granted = ("break-the-glass", "archive")  # a grant's end and reason are shown (C1, J1)
        emergency = event.basis if event.basis and event.basis.kind in granted else None
        return Chart(
            identity,
            entries,
            altered or identity.altered,
            emergency.until if emergency else None,
            emergency.reason if emergency else "",
            listed.documents,
            archived=patient.archived_at is not None,
            appointments=(
                scheduling.appointments_of(patient, identity.display_name, event)
                if appointments
                else []
            ),
        )


# What a chart read for the page reads, as its event names it (the appointments add theirs).
_SECTIONS = ("identity", "entries", "documents")


# The problem list's order (issue 15): active first (a problem recorded before problems had a
# status counts as active), then inactive, then resolved; each group newest first, as read.
_PROBLEM_ORDER = {"active": 0, "inactive": 1, "resolved": 2}


def problem_list(problems: list[Entry]) -> list[Entry]:
    return sorted(problems, key=lambda e: _PROBLEM_ORDER.get(e.values.get("status") or "", 0))


@cache
def _current_query() -> tuple[str, dict[str, Loader], Loader]:
    """One query for the current entries of every kind, each with its author's names: the
    newest of each kind, as many as the chart shows (the tables' own names; the patient and
    the limit are parameters). Five querysets with their authors cost the ORM more to build than
    the database to run."""
    quote = connection.ops.quote_name
    user = get_user_model()
    author = columns(user, AUTHOR_FIELDS, "u")
    width = max(len(model._meta.concrete_fields) for model in MODELS.values())
    # The kinds have more or fewer sealed fields: the others' places hold a NULL of their type
    # (PostgreSQL would take an untyped NULL for text).
    null = f"CAST(NULL AS {SealedField().db_type(connection) or 'BLOB'})"
    parts = []
    for kind, model in MODELS.items():
        own = columns(model, alias="e")
        padding = [null] * (width - len(own))
        parts.append(
            f"SELECT * FROM (SELECT '{kind}', {', '.join(author + own + padding)} "  # noqa: S608
            f"FROM {quote(model._meta.db_table)} e JOIN {quote(user._meta.db_table)} u "
            f"ON {columns(user, ('id',), 'u')[0]} = e.author_id "
            "WHERE e.patient_id = %s AND e.superseded_at IS NULL AND e.retracted = %s "
            f"ORDER BY e.recorded_at DESC, e.id DESC LIMIT %s) AS {kind}"
        )
    loaders = {kind: Loader(model) for kind, model in MODELS.items()}
    return " UNION ALL ".join(parts), loaders, Loader(user, AUTHOR_FIELDS)


def _current(patient: Patient, limit: int | None = None) -> dict[str, list[Any]]:
    """The current entries of each kind, newest first, as many as the chart shows (one query)."""
    sql, loaders, author_of = _current_query()
    with connection.cursor() as cursor:
        cursor.execute(sql, [patient.pk, False, limit or CHART_LIMIT] * len(MODELS))
        fetched = cursor.fetchall()
    current: dict[str, list[Any]] = {kind: [] for kind in MODELS}
    authors: dict[Any, Any] = {}
    names = len(AUTHOR_FIELDS)
    for values in fetched:
        kind = values[0]
        author = authors.get(values[1])
        if author is None:
            author = authors[values[1]] = author_of(values[1 : 1 + names])
        row = loaders[kind](values[1 + names : 1 + names + loaders[kind].fields])
        row.author = author
        current[kind].append(row)
    for rows in current.values():  # the order of a union's parts is not guaranteed
        rows.sort(key=lambda row: (row.recorded_at, row.pk), reverse=True)
    return current


def _entries_altered(patient: Patient, current: dict[str, list[Any]]) -> bool:
    """The entries differ from what Secretum last wrote: one deleted, added, moved, made current
    again, un-retracted or dated back (documents among them: the set covers them, D4)."""
    uid = str(patient.uid)
    return not records.entries_intact(patient) or not all(
        integrity.intact(row, uid) for rows in current.values() for row in rows
    )


def _writable(patient_uid: Any) -> tuple[Patient, DataKey]:
    """The patient, locked for this write, whose entries are still as Secretum last wrote them:
    a new seal over an altered record would launder the alteration."""
    patient, key = writable_patient(patient_uid)
    if _entries_altered(patient, _current(patient)):
        record_tampered("clinical.Chart", str(patient.uid), patient_ref=str(patient.uid))
        raise records.altered_error()
    return patient, key


def _count_write(actor: Actor, patient: Patient, event: Any) -> None:
    """Seal the record over its entries as they now are, one version on; the audit event of the
    write names that version. A consultation refreshes the writer's care relationship (C1); one
    written in an emergency starts none (the emergency access ends when its time is up)."""
    event.detail[records.VERSION_KEY] = records.count_entries_write(patient)
    if event.basis is None or event.basis.kind != "break-the-glass":
        care.record_contact(actor.user, patient.pk, CareRelationship.Origin.CONSULTATION)


def _new_row(actor: Actor, patient: Patient, key: DataKey, model: Any, values: dict[str, Any],
             **fields: Any) -> Any:  # fmt: skip
    """One new entry row of ``model``, sealed and stamped, written by ``actor``. No gate: the
    caller's guarded block is the write's (the record counted by ``_count_write``)."""
    row = model(patient=patient, author=actor.user, **fields)
    row.seal(key, **values)
    integrity.stamp(row, str(patient.uid))
    row.save()
    return row


def _supersede_row(actor: Actor, old: Any, key: DataKey, values: dict[str, Any]) -> Any:
    """A new version of ``old`` (current, locked for this write) holding ``values``; the earlier
    one marked superseded and kept, both sealed. No gate, as ``_new_row``."""
    old.superseded_at = timezone.now()
    integrity.stamp(old, str(old.patient.uid))
    old.save(update_fields=["superseded_at", "row_seal"])
    return _new_row(actor, old.patient, key, type(old), values, supersedes=old)


def record_entry(actor: Actor, patient_uid: Any, kind: str, data: dict[str, Any]) -> Entry:
    model = _model(kind)
    values = rules.clean_entry(kind, data)
    with guarded(
        actor, Permission.CLINICAL_WRITE, Action.CREATE, _resource(kind), patient_ref=patient_uid
    ) as event:
        patient, key = _writable(patient_uid)
        row = _new_row(actor, patient, key, model, values)
        _count_write(actor, patient, event)
        event.resource_ref = str(row.uid)
        return _reveal(kind, row, event.reader(key))


def _open_entry(kind: str, uid: Any, *, write: bool = False) -> tuple[Any, DataKey]:
    model = _model(kind)
    try:
        row = model.objects.select_related("patient", "author").get(uid=uid)
    except (model.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such entry.") from None
    patient_uid = str(row.patient.uid)
    if write:
        row.patient, key = _writable(patient_uid)  # the row locked for this write
    else:
        _, key = open_patient(patient_uid)
    if not integrity.intact(row, patient_uid):
        record_tampered(_resource(kind), str(row.uid), patient_ref=patient_uid)
        if write:
            raise records.altered_error()
    return row, key


def _entry_patient_ref(kind: str, uid: Any) -> str:
    """The patient of an entry, for the audit event of a call that may yet be refused."""
    row = (
        _model(kind).objects.filter(uid=uid).values_list("patient__uid", flat=True).first()
        if _valid_uuid(uid)
        else None
    )
    return str(row or "")


def _valid_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def entry_patient(actor: Actor, kind: str, uid: Any) -> str:
    """The uid of the patient an entry belongs to (to go back to the chart), checked."""
    ref = _entry_patient_ref(kind, uid)
    if not ref or not actor.may(Permission.CLINICAL_READ):
        raise Http404("No such entry.")
    return ref


def access_entry(actor: Actor, kind: str, uid: Any) -> tuple[Entry, str]:
    """One entry and its patient's uid (to prefill a correction)."""
    with guarded(
        actor,
        Permission.CLINICAL_READ,
        Action.READ,
        _resource(kind) if kind in MODELS else "clinical",
        patient_ref=_entry_patient_ref(kind, uid),
        resource_ref=uid,
    ) as event:
        row, key = _open_entry(kind, uid)
        return _reveal(kind, row, event.reader(key)), str(row.patient.uid)


def correct_entry(actor: Actor, kind: str, uid: Any, data: dict[str, Any]) -> tuple[Entry, str]:
    """A new version that supersedes the current one (the earlier version is kept), and the
    patient's uid."""
    values = rules.clean_entry(kind, data)
    with guarded(
        actor,
        Permission.CLINICAL_WRITE,
        Action.UPDATE,
        _resource(kind),
        patient_ref=_entry_patient_ref(kind, uid),
        resource_ref=uid,
    ) as event:
        old, key = _open_entry(kind, uid, write=True)
        if old.superseded_at is not None or old.retracted:
            raise ValidationError(_("Only the current version of an entry can be corrected."))
        new = _supersede_row(actor, old, key, values)
        _count_write(actor, old.patient, event)
        event.detail["new_version"] = str(new.uid)
        return _reveal(kind, new, event.reader(key)), str(old.patient.uid)


def retract_entry(actor: Actor, kind: str, uid: Any) -> str:
    """Mark an entry as entered in error (the row and its history stay); the patient's uid."""
    with guarded(
        actor,
        Permission.CLINICAL_WRITE,
        Action.RETRACT,
        _resource(kind),
        patient_ref=_entry_patient_ref(kind, uid),
        resource_ref=uid,
    ) as event:
        row, _key = _open_entry(kind, uid, write=True)
        if row.superseded_at is not None or row.retracted:
            raise ValidationError(_("Only the current version of an entry can be retracted."))
        row.retracted = True
        integrity.stamp(row, str(row.patient.uid))
        row.save(update_fields=["retracted", "row_seal"])
        _count_write(actor, row.patient, event)
        return str(row.patient.uid)


def entry_history(actor: Actor, kind: str, uid: Any) -> tuple[list[Entry], str]:
    """Every version of an entry, newest first, and the patient's uid."""
    with guarded(
        actor,
        Permission.CLINICAL_READ,
        Action.READ,
        _resource(kind) if kind in MODELS else "clinical",
        patient_ref=_entry_patient_ref(kind, uid),
        resource_ref=uid,
        detail={"view": "history"},
    ) as event:
        first, key = _open_entry(kind, uid)
        reader = event.reader(key)
        patient_uid = str(first.patient.uid)
        row: ClinicalEntry | None = first
        # Walk forward to the newest version, then back through every earlier one.
        while row is not None and hasattr(row, "superseded_by"):
            row = row.superseded_by
        versions = []
        while row is not None:
            versions.append(_reveal(kind, row, reader))
            row = row.supersedes
        return versions, patient_uid


# --- the whole practice: a bulk export, an import (L1, L2) -----------------------------------

# A bulk export reads every current entry, not the chart page's newest hundred of each kind.
EXPORT_LIMIT = 1_000_000


def practice_size() -> int:
    return Patient.objects.count()


def practice_charts(event: EventDraft, batch: int = 200) -> Iterator[Chart]:
    """Every patient's chart, ``batch`` patients read at a time, inside the caller's one guarded
    practice export (CLINICAL_EXPORT, one "export" event): no patient row is locked (a long read
    would hold every lock until it ends), archived records included (J1: the practice's copy is
    the whole record; the chart says ``archived``). A chart altered outside Secretum is reported
    as the chart page reports it, and read as it stands."""
    last = 0
    while True:
        rows = list(Patient.objects.filter(pk__gt=last).order_by("pk")[:batch])
        if not rows:
            return
        for patient in rows:
            last = patient.pk
            key = patient_key(patient)
            if not records.intact(patient):
                report_unreadable(patient)
            reader = event.reader(key)
            identity = reveal_identity(patient, reader)
            current = _current(patient, EXPORT_LIMIT)
            entries: dict[str, list[Entry]] = {kind: [] for kind in current}
            unreadable = False
            for kind, found in current.items():
                for row in found:
                    try:
                        entries[kind].append(_reveal(kind, row, reader))
                    except DecryptionError:  # moved here from another record: left out
                        unreadable = True
            altered = unreadable or _entries_altered(patient, current) or identity.altered
            if altered:
                record_tampered("clinical.Chart", str(patient.uid), patient_ref=str(patient.uid))
            yield Chart(identity, entries, altered, archived=patient.archived_at is not None)


@dataclass(frozen=True)
class ImportedEntry:
    """An entry read from another system: its kind, its values (checked here as a typed one is),
    when it was recorded there, and the account named after its author there."""

    kind: str
    values: dict[str, Any]
    recorded_at: dt.datetime | None
    author: Any


def import_record(
    actor: Actor, identity: dict[str, Any], entries: list[ImportedEntry], detail: dict[str, Any]
) -> str:
    """A new patient and their entries, all or nothing (L1, L2): the patient is registered as
    ``register_patient`` does (its own audit event), then every entry is written under the
    account named after its original author, with the date it was recorded at the source (the
    audit event says when it was imported, and by whom); one "create" event counts them. Any
    entry refused (``rules.clean_entry``) refuses the whole patient: nothing is kept of them.
    The instance's owner's, at the console (``PRACTICE_MOVE``): no role imports records."""
    cleaned = [(e, rules.clean_entry(e.kind, e.values)) for e in entries]
    with guarded(
        actor, Permission.PRACTICE_MOVE, Action.CREATE, "clinical.Chart", detail=detail
    ) as event:
        uid = register_patient(actor, identity).uid
        event.patient_ref = event.resource_ref = uid
        patient, key = writable_patient(uid)
        rows: dict[Any, list[Any]] = {}
        for entry, values in cleaned:
            model = _model(entry.kind)
            row = model(patient=patient, author=entry.author)
            if entry.recorded_at is not None:
                row.recorded_at = entry.recorded_at
            row.seal(key, **values)  # the seal binds the row's uid, made with it, not its pk
            integrity.stamp(row, uid)
            rows.setdefault(model, []).append(row)
        for model, made in rows.items():  # one INSERT a kind: a practice is many patients
            model.objects.bulk_create(made)
        event.detail[records.VERSION_KEY] = records.count_entries_write(patient)
        counts: dict[str, int] = {}
        for entry in entries:
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
        event.detail["entries"] = counts
        return uid
