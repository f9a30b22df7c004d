"""The one gate of the service layer: permission check, transaction and audit event together.

    with guarded(actor, Permission.CLINICAL_WRITE, Action.CREATE, "clinical.Observation",
                 patient_ref=patient.uid) as event:
        ... write ...
        event.resource_ref = obs.uid

A denied call leaves a "denied" event; a call that fails leaves a "failure" event; a call that
succeeds leaves one "success" event committed in the same transaction as its data.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from secretum.access.actor import AccessDenied, Actor
from secretum.access.policy import Permission
from secretum.audit.models import Outcome
from secretum.audit.services import record_event


@dataclass
class EventDraft:
    action: str
    resource: str
    patient_ref: str = ""
    resource_ref: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


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


def require(actor: Actor, permission: Permission, draft: EventDraft) -> None:
    if not actor.may(permission):
        _record(actor, draft, Outcome.DENIED)
        raise AccessDenied(f"{actor.role} lacks {permission}")


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
) -> Iterator[EventDraft]:
    draft = EventDraft(
        action, resource, str(patient_ref or ""), str(resource_ref or ""), dict(detail or {})
    )
    require(actor, permission, draft)
    try:
        with transaction.atomic():
            yield draft
            _record(actor, draft, Outcome.SUCCESS)
    except Exception as exc:  # a refusal inside the block too (AccessDenied): D1, audited
        draft.detail["error"] = type(exc).__name__  # the kind of failure, never its content
        _record(actor, draft, Outcome.FAILURE)
        raise
