"""The auditor's reads of the audit log (D2): search, export, the patient access report, the
alerts. Every one of them is itself an audited event, through the gate (``access.guard``).

The log's writer (``record_event`` and its kin) is ``audit.log``, below every service; these
reads stand above patients (the report names its patient).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from secretum.access.actor import Actor, Purpose
from secretum.access.guard import guarded
from secretum.access.policy import ROLE_LABELS, Permission, Role
from secretum.audit import alerts, fhir
from secretum.audit.models import Action, AuditCheckpoint, AuditEvent, Outcome
from secretum.audit.rows import EventRow
from secretum.audit.vocabulary import (
    ACTION_LABELS,
    OUTCOME_LABELS,
    PURPOSE_LABELS,
    RESOURCE_LABELS,
)
from secretum.crypto.sealing import Delivery, Kind
from secretum.lib import niss as niss_lib
from secretum.patients.services import open_patient, patient_ref_for_niss, reveal_identity


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
class EventPage:
    rows: list[EventRow]
    total: int
    page: int
    pages: int
    patient_ref: str  # the patient the filter resolved to ("" if none, "?" if unknown)


PAGE_SIZE = 50
EXPORT_LIMIT = 1_000_000


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
        rows = [EventRow.of(e) for e in qs[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]]
        event.detail["results"] = total
        return EventPage(rows, total, page, pages, patient_ref)


@dataclass(frozen=True)
class Export:
    filename: str
    content_type: str
    lines: Iterator[str]
    count: int


def export_events(
    actor: Actor, f: EventFilter, fmt: str, *, delivery: Delivery | None = None
) -> Export:
    """The filtered log as FHIR R4 AuditEvent (NDJSON) or CSV. The export is itself an event,
    written before the first line leaves; it covers the events up to the one before it, and
    names how the file leaves (``delivery``, E7, M3: never the passphrase)."""
    if fmt not in ("ndjson", "csv"):
        raise ValueError("unknown export format")
    patient_ref = resolve_patient(f.patient)
    with guarded(
        actor,
        Permission.AUDIT_EXPORT,
        Action.EXPORT,
        "audit.AuditEvent",
        patient_ref=patient_ref if patient_ref != "?" else "",
        detail={
            "format": fmt,
            "filters": f.used(),
            **(delivery.audit_detail(Kind(fmt if fmt == "csv" else "json")) if delivery else {}),
        },
    ) as event:
        upto = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
        qs = _filtered(f, patient_ref).filter(seq__lte=upto).order_by("seq")
        count = min(qs.count(), EXPORT_LIMIT)
        event.detail.update(events=count, upto=upto)
    rows = (EventRow.of(e) for e in qs[:EXPORT_LIMIT].iterator(chunk_size=2000))
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if fmt == "ndjson":
        lines = (fhir.to_json(fhir.audit_event(r)) + "\n" for r in rows)
        return Export(f"audit-{stamp}.ndjson", "application/fhir+ndjson", lines, count)
    return Export(f"audit-{stamp}.csv", "text/csv; charset=utf-8", fhir.csv_lines(rows), count)


# --- the patient access report (GDPR art. 15) -------------------------------------------------


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
    return {
        user.pk: (user.get_full_name(), user.username)
        for user in get_user_model().objects.filter(pk__in=ids)
        if user.seal_intact()  # accounts.integrity: a row altered outside Secretum names nobody
    }


def _attribution(e: AuditEvent, people: dict[int, tuple[str, str]]) -> tuple[str, str, bool]:
    """Who did it and in which role, from what the hashed event recorded at the time (its user
    name and role), never from a table anyone could edit since: the account's full name is added
    only when its sealed row still bears the recorded user name; otherwise the line is flagged."""
    role = str(ROLE_LABELS[Role(e.role)]) if e.role in set(Role) else e.role
    if e.actor_id is None:
        return str(_("Secretum (system)")), role, False
    full, username = people.get(e.actor_id, ("", ""))
    if username != e.actor_name:
        return e.actor_name, role, True
    return (f"{full} ({username})" if full else username), role, False


def patient_access_report(
    actor: Actor, patient: str, *, printed: bool = False, delivery: Delivery | None = None
) -> AccessReport:
    """Who accessed this patient's record, what, when and why: every event naming the patient,
    oldest first. Shows the patient's name and birth date, nothing else of the record. Printed,
    the event names how the PDF leaves (``delivery``, E7, M3: never the passphrase)."""
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
        detail={
            "format": "pdf" if printed else "page",
            **(delivery.audit_detail(Kind.PDF) if printed and delivery else {}),
        },
    ) as event:
        record, key = open_patient(patient_ref)
        # The report names the patient (name, birth date) and shows nothing else of the record
        # (the auditor's reader opens nothing more: access/classification.py ALSO_READS).
        fields = ("family_name", "given_name", "birth_date")
        identity = reveal_identity(record, event.reader(key), fields)
        events = list(
            AuditEvent.objects.filter(patient_ref=patient_ref).order_by("seq")[:EXPORT_LIMIT]
        )
        people = _people({e.actor_id for e in events if e.actor_id})
        lines = []
        for e in events:
            who, role, mismatch = _attribution(e, people)
            row = EventRow.of(e)
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
                    reason=row.reason if e.outcome == Outcome.SUCCESS else "",
                    outcome=str(OUTCOME_LABELS.get(e.outcome, e.outcome))
                    + (f": {row.why_not}" if row.why_not else ""),
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
