"""Writing the audit log (D1, D2): the one append, below every service.

Every service that touches patient data calls :func:`record_event` inside its own transaction,
so the data change and its audit event commit or roll back together. Appending is cheap: one
lock, one read of the last sequence number, one SHA-256 and one BLAKE2s MAC, one INSERT. The Merkle
tree over the events is computed only when a checkpoint is signed (``audit.checkpoints``) or the
log verified (``audit.verify``).

This module stands below every service, the gate (``access.guard``) included: it imports only
the audit log's own modules and the vocabulary of who acts and why (``access.actor``). The
auditor's reads of the log are in ``audit.services``, above patients.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Field
from django.utils import timezone

from secretum.access.actor import Actor, Purpose
from secretum.audit import entries, heads
from secretum.audit.models import TAMPERED, Action, AuditEvent, Outcome

# Any 64-bit constant: one lock that serialises appends on PostgreSQL, across every process.
_PG_APPEND_LOCK = 0x5EC7E7A1
# The vocabulary's words, once: ``Action.values`` builds a list of every choice, labels and all,
# at each call: 38 µs, a seventh of an append on SQLite on this machine (issue 17).
_ACTIONS = frozenset(Action.values)
_PG_LOCK_AND_LAST = (
    f"SELECT pg_advisory_xact_lock({_PG_APPEND_LOCK}); "  # noqa: S608  (a constant of ours)
    "SELECT MAX(seq) FROM audit_auditevent"
)


_INSERT_FIELDS: list[Field[Any, Any]] = [
    f
    for name in ("seq", "at", "actor", *entries.TEXT_FIELDS, "leaf_hash", "mac")
    if isinstance(f := AuditEvent._meta.get_field(name), Field)
]
# How long each text field may be: the model's columns say it (the detail has no limit).
_LIMITS = {f.name: f.max_length for f in _INSERT_FIELDS if f.name in entries.TEXT_FIELDS}
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


# The events recorded while a read is in its snapshot (``deferred``), appended when it ends.
_DEFERRED: ContextVar[list[tuple[tuple[Any, ...], dict[str, Any]]] | None] = ContextVar(
    "secretum_audit_deferred", default=None
)


@contextmanager
def deferred() -> Iterator[None]:
    """Around a read in a transaction of its own (``access.guard``): an event recorded inside (a
    row found altered, a refusal) is appended when the block ends, however it ends, in a
    transaction of its own, before the read's own event. The read cannot write it itself: on
    SQLite its snapshot may be older than the log's last event, and on every engine its failure
    would take the event back with it (D1)."""
    queued: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    token = _DEFERRED.set(queued)
    try:
        yield
    finally:
        _DEFERRED.reset(token)
        if queued:
            with transaction.atomic():
                for args, kwargs in queued:
                    record_event(*args, **kwargs)


# Events this process appended: the command line signs a checkpoint at its end if any (D2).
_written = [0]


def events_written() -> int:
    return _written[0]


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
    if action not in _ACTIONS:  # one vocabulary (D1): a new word is added to Action first
        raise ValueError(f"unknown audit action {action!r}")
    if settings.SECRETUM_BENCHMARK_BASELINE:
        return None
    call = (
        (actor, action, resource),
        {
            "outcome": outcome,
            "patient_ref": patient_ref,
            "resource_ref": resource_ref,
            "detail": detail,
            "on_behalf_of": on_behalf_of,
            "purpose": purpose,
        },
    )
    queue = _DEFERRED.get()
    if queue is not None:  # inside a read's snapshot: appended when it ends (``deferred``)
        queue.append(call)
        return None
    clean = entries.clean
    user = actor.user
    texts = {
        "actor_name": actor.name,
        "role": actor.role or "",
        "on_behalf_of": on_behalf_of,
        "patient_ref": patient_ref,
        "action": action,
        "resource": resource,
        "resource_ref": resource_ref,
        "purpose": actor.purpose if purpose is None else purpose,
        "outcome": outcome,
        "source": actor.source,
        "request_id": actor.request_id,
    }
    event = AuditEvent(
        actor=user if user is not None and user.pk else None,
        **{name: clean(str(value))[: _LIMITS[name]] for name, value in texts.items()},
        # JSON escapes control characters, so the detail never holds the entry separator.
        detail=_canonical(detail).decode() if detail else "",
    )
    _append(event)
    watched = _WATCHED.get()
    if watched is not None and event.outcome != Outcome.SUCCESS:
        watched.append((*call, event.pk, event.leaf_hash))
    return event


def _append(event: AuditEvent, at: dt.datetime | None = None) -> None:
    """Number, seal and insert one event whose fields are final, at the end of the log."""
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
        event.at = at or timezone.now()
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
        # D2: once this transaction commits, the tree head reaches the witness.
        transaction.on_commit(partial(heads.committed, event.seq, bytes.fromhex(event.leaf_hash)))
    _written[0] += 1


def append_merged(
    texts: dict[str, str], at: dt.datetime, actor_id: int | None, detail: dict[str, Any]
) -> AuditEvent:
    """I5: an event recorded on a continuity copy (``backup.continuity``), appended to this log
    with its own time, actor, role, action, resource, outcome and source as the copy recorded
    them; ``detail`` says which copy and which of its events it was. The caller's transaction
    holds the merge's own event too: all or nothing."""
    if texts.get("action") not in _ACTIONS:
        raise ValueError(f"unknown audit action {texts.get('action')!r}")
    event = AuditEvent(
        actor_id=actor_id,
        **{
            name: entries.clean(str(texts.get(name, "")))[:limit]
            for name, limit in _LIMITS.items()
            if name != "detail"
        },
        detail=_canonical(detail).decode(),
    )
    _append(event, at)
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
