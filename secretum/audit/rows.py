"""One audit event as the auditor reads it (D2): its recorded fields, its detail decoded.

The auditor's pages, the FHIR AuditEvent and CSV exports (``audit.fhir``) and the patient
access report all show events in this shape.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from secretum.access.actor import Purpose
from secretum.audit.models import AuditEvent


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

    @classmethod
    def of(cls, e: AuditEvent) -> EventRow:
        """The event as the auditor reads it; a detail that is not JSON is shown as unreadable."""
        try:
            detail = json.loads(e.detail) if e.detail else {}
        except ValueError:
            detail = {"unreadable": True}
        return cls(
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
