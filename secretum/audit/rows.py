"""One audit event as the auditor reads it (D2): its recorded fields, its detail decoded.

The auditor's pages, the FHIR AuditEvent and CSV exports (``audit.fhir``) and the patient
access report all show events in this shape.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, fields
from typing import Any

from django.utils.translation import gettext_lazy as _

from secretum.access.actor import Purpose
from secretum.audit.models import NO_CARE, READ_ONLY, TAMPERED, AuditEvent, Outcome

# Why a call was refused or failed, as the auditor reads it (C1, D1): the detail's "problem"
# (the service's gate), else its "reason" (the page's gate, a login), else the kind of error.
WHY_LABELS = {
    NO_CARE: _("no care relationship with this patient"),
    TAMPERED: _("a row altered outside Secretum"),
    "field-class": _("a field of a class this role may not read"),
    "role": _("the role lacks the permission"),
    "no-role": _("no role at this date"),
    "no-permission-declared": _("the page declares no permission"),
    "session-ended": _("the session had ended"),
    "session-locked": _("the session was locked"),
    "wrong-password": _("wrong password"),
    "unknown-account": _("unknown account"),
    "throttled": _("too many attempts: throttled"),
    "locked": _("account locked out"),
    "disabled": _("account disabled"),
    "invalid-or-expired-link": _("invalid or expired link"),
    READ_ONLY: _("a read-only continuity copy: nothing can be changed there"),
}


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
    def from_continuity_copy(self) -> bool:
        """I5: recorded on a continuity copy while the server was down, merged back since."""
        return isinstance(self.detail.get("continuity"), dict)

    @property
    def reason(self) -> str:
        return str(self.detail.get("reason", ""))

    @property
    def why_not(self) -> str:
        """Why a refused or failed call was refused ("" for a success), in the reader's
        language where Secretum knows the word, else as recorded."""
        if self.outcome == Outcome.SUCCESS:
            return ""
        for key in ("problem", "reason", "error"):
            found = self.detail.get(key)
            if found:
                return str(WHY_LABELS.get(str(found), found))
        return ""

    @classmethod
    def of(cls, e: AuditEvent) -> EventRow:
        """The event as the auditor reads it; a detail that is not JSON is shown as unreadable."""
        try:
            detail = json.loads(e.detail) if e.detail else {}
        except ValueError:
            detail = {"unreadable": True}
        values = {name: getattr(e, name) for name in _RECORDED}
        return cls(**values, detail=detail if isinstance(detail, dict) else {"value": detail})


# The fields an EventRow takes as they were recorded (all but the decoded detail).
_RECORDED = tuple(f.name for f in fields(EventRow) if f.name != "detail")
