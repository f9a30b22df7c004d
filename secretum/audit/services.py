"""Writing the audit log (D1, D2), and the auditor's reads of it.

Every service that touches patient data calls :func:`record_event` inside its own transaction,
so the data change and its audit event commit or roll back together. Appending is cheap: one
lock, one read of the last sequence number, one SHA-256 and one BLAKE2s MAC, one INSERT. The Merkle
tree over the events is computed only when a checkpoint is signed (``audit.checkpoints``) or the
log verified (``audit.verify``).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from secretum.access.actor import Actor, Purpose
from secretum.access.policy import Permission
from secretum.audit import entries
from secretum.audit.models import TAMPERED, Action, AuditEvent, Outcome

# Any 64-bit constant: one lock that serialises appends on PostgreSQL, across every process.
_PG_APPEND_LOCK = 0x5EC7E7A1
_PG_LOCK_AND_LAST = (
    f"SELECT pg_advisory_xact_lock({_PG_APPEND_LOCK}); "  # noqa: S608  (a constant of ours)
    "SELECT MAX(seq) FROM audit_auditevent"
)


_INSERT_FIELDS: list[Field[Any, Any]] = [
    f
    for name in ("seq", "at", "actor", *entries.FIELDS[3:], "leaf_hash", "mac")
    if isinstance(f := AuditEvent._meta.get_field(name), Field)
]
_INSERT_SQL = (  # the model's own table and columns; values are parameters
    f"INSERT INTO {AuditEvent._meta.db_table} "  # noqa: S608
    f"({', '.join(str(f.column) for f in _INSERT_FIELDS)}) "
    f"VALUES ({', '.join(['%s'] * len(_INSERT_FIELDS))})"
)


# The refusals and failures recorded during this request (their call and the row they made),
# while `refusals_survive` watches: a view's transaction may still roll them back.
_WATCHED: ContextVar[list[tuple[tuple[Any, ...], dict[str, Any], int, str]] | None] = ContextVar(
    "secretum_audit_watched", default=None
)


@contextmanager
def refusals_survive() -> Iterator[None]:
    """Around a whole request (D1): every "denied" or "failure" event recorded inside is still in
    the log afterwards. An event written inside a transaction that then rolled back (a view that
    wraps its services in one, the failure that made it roll back) is appended again, once the
    request is over and no transaction is open. Costs nothing when nothing was refused."""
    token = _WATCHED.set([])
    try:
        yield
    finally:
        watched = _WATCHED.get() or []
        _WATCHED.reset(token)
        for args, kwargs, pk, leaf_hash in watched:
            if not AuditEvent.objects.filter(pk=pk, leaf_hash=leaf_hash).exists():
                record_event(*args, **kwargs)


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_event(
    actor: Actor,
    action: Action | str,
    resource: str,
    *,
    outcome: Outcome | str = Outcome.SUCCESS,
    patient_ref: str = "",
    resource_ref: str = "",
    detail: dict[str, Any] | None = None,
    on_behalf_of: str = "",
    purpose: str | None = None,
) -> AuditEvent | None:
    """Append one event. Joins the caller's transaction, or opens its own.

    ``detail`` holds kinds, counts and field names, never a clinical value, a query's text or a
    secret. A break-the-glass access carries its reason in ``detail["reason"]``.
    """
    if settings.SECRETUM_BENCHMARK_BASELINE:
        return None
    clean = entries.clean
    user = actor.user
    event = AuditEvent(
        actor=user if user is not None and user.pk else None,
        actor_name=clean(actor.name)[:150],
        role=clean(actor.role or "")[:32],
        on_behalf_of=clean(on_behalf_of)[:150],
        patient_ref=clean(str(patient_ref))[:36],
        action=clean(str(action))[:16],
        resource=clean(resource)[:64],
        resource_ref=clean(str(resource_ref))[:36],
        purpose=clean(str(actor.purpose if purpose is None else purpose))[:16],
        outcome=clean(str(outcome))[:16],
        source=clean(actor.source)[:64],
        request_id=clean(actor.request_id)[:36],
        # JSON escapes control characters, so the detail never holds the entry separator.
        detail=_canonical(detail).decode() if detail else "",
    )
    key = entries.mac_key()
    ops = connection.ops
    # No savepoint: the event joins the caller's transaction outright (on PostgreSQL a savepoint
    # costs two more round trips), and if it cannot be written, neither is the caller's work.
    with transaction.atomic(savepoint=False), connection.cursor() as cur:
        # On SQLite the IMMEDIATE transaction already holds the only write lock; on PostgreSQL
        # an advisory lock does. Either way no other process can take the same sequence number:
        # one log, no fork, no gap. Plain SQL keeps the append well under a millisecond; on
        # PostgreSQL the lock and the read go in one round trip, as two statements (each takes
        # its own snapshot, so the read sees every append committed before the lock).
        if connection.vendor == "postgresql":
            cur.execute(_PG_LOCK_AND_LAST)
            cur.nextset()
        else:
            cur.execute("SELECT MAX(seq) FROM audit_auditevent")
        event.seq = (cur.fetchone()[0] or 0) + 1
        event.at = timezone.now()
        entries.seal(event, key)
        params = [getattr(event, f.attname) for f in _INSERT_FIELDS]
        params[1] = ops.adapt_datetimefield_value(event.at)
        if connection.vendor == "postgresql":
            cur.execute(_INSERT_SQL + " RETURNING id", params)
            event.pk = cur.fetchone()[0]
        else:
            cur.execute(_INSERT_SQL, params)
            event.pk = cur.lastrowid
        event._state.adding = False
    watched = _WATCHED.get()
    if watched is not None and event.outcome != Outcome.SUCCESS:
        watched.append(
            (
                (actor, action, resource),
                {
                    "outcome": outcome,
                    "patient_ref": patient_ref,
                    "resource_ref": resource_ref,
                    "detail": detail,
                    "on_behalf_of": on_behalf_of,
                    "purpose": purpose,
                },
                event.pk,
                event.leaf_hash,
            )
        )
    return event


def record_integrity_failure(check: str, problem: str) -> None:
    """A security event the auditor sees as an alert, not only a line in a server log: the
    signer refused to sign, or verification failed. Never raises (the log may be unwritable)."""
    try:
        record_event(
            Actor.system(Purpose.MAINTENANCE),
            Action.READ,
            "audit.Log",
            outcome=Outcome.FAILURE,
            detail={"check": check, "problem": problem[:300]},
        )
    except Exception:  # noqa: S110  (the caller reports the problem itself)
        pass


def record_tampered(
    resource: str, ref: str, *, actor: Actor | None = None, patient_ref: str = ""
) -> None:
    """A row or record that failed its seal or its authentication (altered or moved outside
    Secretum) and was refused: the auditor's "tampered" alert reads these. Never raises: the
    refusal matters more than its record."""
    try:
        record_event(
            actor or Actor.system(Purpose.MAINTENANCE),
            Action.READ,
            resource,
            outcome=Outcome.FAILURE,
            patient_ref=patient_ref,
            resource_ref=ref,
            detail={"problem": TAMPERED},
        )
    except Exception:  # noqa: S110  (the caller refuses the row all the same)
        pass


# --- the auditor's reads (D2): every one of them is itself an audited event -----------------


@dataclass(frozen=True)
class EventFilter:
    """What the auditor looks for. ``patient`` is a national number or an internal reference."""

    patient: str = ""
    user: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    action: str = ""
    break_the_glass: bool = False
    outcome: str = ""

    def used(self) -> list[str]:
        """The names of the filters in use (never their values: a national number stays out)."""
        names = ("patient", "user", "since", "until", "action", "break_the_glass", "outcome")
        return [n for n in names if getattr(self, n)]


@dataclass(frozen=True)
class EventRow:
    seq: int
    at: dt.datetime
    actor_name: str
    role: str
    on_behalf_of: str
    patient_ref: str
    action: str
    resource: str
    resource_ref: str
    purpose: str
    outcome: str
    source: str
    request_id: str
    detail: dict[str, Any]
    leaf_hash: str

    @property
    def break_the_glass(self) -> bool:
        return self.purpose == Purpose.BREAK_THE_GLASS

    @property
    def reason(self) -> str:
        return str(self.detail.get("reason", ""))


@dataclass(frozen=True)
class EventPage:
    rows: list[EventRow]
    total: int
    page: int
    pages: int
    patient_ref: str  # the patient the filter resolved to ("" if none, "?" if unknown)


PAGE_SIZE = 50
EXPORT_LIMIT = 1_000_000


def _row(e: AuditEvent) -> EventRow:
    try:
        detail = json.loads(e.detail) if e.detail else {}
    except ValueError:
        detail = {"unreadable": True}
    return EventRow(
        e.seq,
        e.at,
        e.actor_name,
        e.role,
        e.on_behalf_of,
        e.patient_ref,
        e.action,
        e.resource,
        e.resource_ref,
        e.purpose,
        e.outcome,
        e.source,
        e.request_id,
        detail if isinstance(detail, dict) else {"value": detail},
        e.leaf_hash,
    )


def resolve_patient(value: str) -> str:
    """A national number or an internal reference to the patient's internal reference; "" for
    no value, "?" when no patient matches. Reveals nothing else about the patient."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        pass
    from secretum.lib import niss as niss_lib
    from secretum.patients.services import patient_ref_for_niss

    try:
        number = niss_lib.clean(value)
    except niss_lib.NissError:
        return "?"
    return patient_ref_for_niss(number) or "?"


def _filtered(f: EventFilter, patient_ref: str) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.all()
    if patient_ref:
        qs = qs.filter(patient_ref=patient_ref)
    if f.user:
        qs = qs.filter(actor_name=f.user.strip())
    if f.since:
        qs = qs.filter(at__gte=_day_start(f.since))
    if f.until:
        qs = qs.filter(at__lt=_day_start(f.until + dt.timedelta(days=1)))
    if f.action:
        qs = qs.filter(action=f.action)
    if f.break_the_glass:
        qs = qs.filter(purpose=Purpose.BREAK_THE_GLASS)
    if f.outcome:
        qs = qs.filter(outcome=f.outcome)
    return qs


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def search_events(actor: Actor, f: EventFilter, *, page: int = 1) -> EventPage:
    """One page of the log, newest first, as the auditor filtered it."""
    from secretum.access.guard import guarded  # guard imports record_event from here

    patient_ref = resolve_patient(f.patient)
    with guarded(
        actor,
        Permission.AUDIT_READ,
        Action.SEARCH,
        "audit.AuditEvent",
        patient_ref=patient_ref if patient_ref != "?" else "",
        detail={"kind": "audit-log", "filters": f.used()},
    ) as event:
        qs = _filtered(f, patient_ref).order_by("-seq")
        total = qs.count()
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(1, page), pages)
        rows = [_row(e) for e in qs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
        event.detail["results"] = total
        return EventPage(rows, total, page, pages, patient_ref)


@dataclass(frozen=True)
class Export:
    filename: str
    content_type: str
    lines: Iterator[str]
    count: int


def export_events(actor: Actor, f: EventFilter, fmt: str) -> Export:
    """The filtered log as FHIR R4 AuditEvent (NDJSON) or CSV. The export is itself an event,
    written before the first line leaves; it covers the events up to the one before it."""
    from secretum.audit import fhir

    if fmt not in ("ndjson", "csv"):
        raise ValueError("unknown export format")
    from secretum.access.guard import guarded  # guard imports record_event from here

    patient_ref = resolve_patient(f.patient)
    with guarded(
        actor,
        Permission.AUDIT_EXPORT,
        Action.EXPORT,
        "audit.AuditEvent",
        patient_ref=patient_ref if patient_ref != "?" else "",
        detail={"format": fmt, "filters": f.used()},
    ) as event:
        upto = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        qs = _filtered(f, patient_ref).filter(seq__lte=upto).order_by("seq")
        count = min(qs.count(), EXPORT_LIMIT)
        event.detail.update(events=count, upto=upto)
    rows = (_row(e) for e in qs[:EXPORT_LIMIT].iterator(chunk_size=2000))
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if fmt == "ndjson":
        lines = (fhir.to_json(fhir.audit_event(r)) + "\n" for r in rows)
        return Export(f"audit-{stamp}.ndjson", "application/fhir+ndjson", lines, count)
    return Export(f"audit-{stamp}.csv", "text/csv; charset=utf-8", fhir.csv_lines(rows), count)


# --- the patient access report (GDPR art. 15) -------------------------------------------------

RESOURCE_LABELS = {
    "patients.Patient": _("identity and contact details"),
    "clinical.Chart": _("chart (identity and medical record)"),
    "clinical.Encounter": _("consultation note"),
    "clinical.Problem": _("problem / diagnosis"),
    "clinical.Allergy": _("allergy"),
    "clinical.Medication": _("medication"),
    "clinical.Observation": _("observation"),
    "scheduling.Appointment": _("appointments"),
    "audit.AuditEvent": _("audit log"),
    "audit.AccessReport": _("access report"),
}
ACTION_LABELS = {
    "read": _("viewed"),
    "search": _("listed"),
    "create": _("created"),
    "update": _("changed"),
    "delete": _("marked as entered in error"),
    "print": _("printed"),
    "export": _("exported"),
    "send": _("sent"),
    "break-the-glass": _("opened in an emergency (break the glass)"),
    "review": _("reviewed"),
}
PURPOSE_LABELS = {
    "care": _("care"),
    "break-the-glass": _("emergency access (break the glass)"),
    "administration": _("administration"),
    "maintenance": _("maintenance"),
}
OUTCOME_LABELS = {
    "success": _("done"),
    "denied": _("refused"),
    "failure": _("failed"),
}


@dataclass(frozen=True)
class ReportLine:
    seq: int
    at: dt.datetime
    who: str
    role: str
    what: str
    why: str
    reason: str
    outcome: str
    outcome_code: str
    # The account's name today differs from the one the hashed event recorded (or its row was
    # altered outside Secretum): the line shows what was recorded (D2).
    mismatch: bool = False


@dataclass(frozen=True)
class AccessReport:
    patient_ref: str
    patient_name: str
    birth_date: dt.date | None
    lines: list[ReportLine]
    generated_at: dt.datetime
    checkpoint_size: int  # events covered by the latest signed checkpoint
    checkpoint_at: dt.datetime | None


def _people(ids: set[int]) -> dict[int, tuple[str, str]]:
    """For each account: (full name, user name), only when its row is as Secretum wrote it."""
    from django.contrib.auth import get_user_model

    return {
        user.pk: (user.get_full_name(), user.username)
        for user in get_user_model().objects.filter(pk__in=ids)
        if user.seal_intact()  # accounts.integrity: a row altered outside Secretum names nobody
    }


def _attribution(e: AuditEvent, people: dict[int, tuple[str, str]]) -> tuple[str, str, bool]:
    """Who did it and in which role, from what the hashed event recorded at the time (its user
    name and role), never from a table anyone could edit since: the account's full name is added
    only when its sealed row still bears the recorded user name; otherwise the line is flagged."""
    from secretum.access.policy import ROLE_LABELS, Role

    role = str(ROLE_LABELS[Role(e.role)]) if e.role in set(Role) else e.role
    if e.actor_id is None:
        return str(_("Secretum (system)")), role, False
    full, username = people.get(e.actor_id, ("", ""))
    if username != e.actor_name:
        return e.actor_name, role, True
    return (f"{full} ({username})" if full else username), role, False


def patient_access_report(actor: Actor, patient: str, *, printed: bool = False) -> AccessReport:
    """Who accessed this patient's record, what, when and why: every event naming the patient,
    oldest first. Shows the patient's name and birth date, nothing else of the record."""
    from django.http import Http404

    from secretum.access.guard import guarded  # guard imports record_event from here
    from secretum.audit.models import AuditCheckpoint
    from secretum.patients.services import open_patient, reveal_identity

    patient_ref = resolve_patient(patient)
    if patient_ref in ("", "?"):
        raise Http404("No such patient.")
    with guarded(
        actor,
        Permission.AUDIT_READ,
        Action.PRINT if printed else Action.READ,
        "audit.AccessReport",
        patient_ref=patient_ref,
        resource_ref=patient_ref,
        detail={"format": "pdf" if printed else "page"},
    ):
        record, key = open_patient(patient_ref)
        # The report names the patient (name, birth date) and shows nothing else of the record.
        identity = reveal_identity(record, key, ("family_name", "given_name", "birth_date"))
        events = list(
            AuditEvent.objects.filter(patient_ref=patient_ref).order_by("seq")[:EXPORT_LIMIT]
        )
        people = _people({e.actor_id for e in events if e.actor_id})
        lines = []
        for e in events:
            who, role, mismatch = _attribution(e, people)
            row = _row(e)
            lines.append(
                ReportLine(
                    seq=e.seq,
                    at=e.at,
                    who=who,
                    role=role,
                    mismatch=mismatch,
                    what=f"{ACTION_LABELS.get(e.action, e.action)} · "
                    f"{RESOURCE_LABELS.get(e.resource, e.resource)}",
                    why=str(PURPOSE_LABELS.get(e.purpose, e.purpose)),
                    reason=row.reason,
                    outcome=str(OUTCOME_LABELS.get(e.outcome, e.outcome)),
                    outcome_code=e.outcome,
                )
            )
        latest = AuditCheckpoint.objects.order_by("-tree_size").first()
        return AccessReport(
            patient_ref=patient_ref,
            patient_name=identity.display_name,
            birth_date=identity.birth_date,
            lines=lines,
            generated_at=timezone.now(),
            checkpoint_size=latest.tree_size if latest else 0,
            checkpoint_at=latest.signed_at if latest else None,
        )
    raise Http404("No such patient.")  # pragma: no cover  (guarded re-raises)


def access_alerts(actor: Actor, *, days: int = 30) -> list[Any]:
    """Unusual patterns and break-the-glass events of the last ``days`` days, for the auditor."""
    from secretum.access.guard import guarded  # guard imports record_event from here
    from secretum.audit import alerts

    with guarded(
        actor,
        Permission.AUDIT_READ,
        Action.SEARCH,
        "audit.Alert",
        detail={"kind": "alerts", "days": days},
    ) as event:
        found = alerts.detect(timezone.now() - dt.timedelta(days=days))
        event.detail["results"] = len(found)
        return found
