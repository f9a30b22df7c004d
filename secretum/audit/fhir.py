"""Audit events as FHIR R4 AuditEvent resources (IHE BALP shape) and as CSV rows (D2).

FHIR R4 AuditEvent: https://hl7.org/fhir/R4/auditevent.html; codes from its value sets:
action (C R U D E), outcome (0 success, 4 minor failure, 8 serious failure), DICOM event types
(DCM 110110 "Patient Record", 110114 "User Authentication", 110106 "Export"), v3-ActReason purposes
of use (TREAT, BTG, HOPERAT, HSYSADMIN), and the BALP agent and entity roles. The patient is named
by Secretum's internal reference only, never by name or national number.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter
from typing import Any

from secretum.audit.models import Action
from secretum.audit.rows import EventRow

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
SECRETUM = "urn:secretum:audit"

# Every action of the vocabulary (audit.models.Action) -> (FHIR action, subtype system, code):
# restful-interaction or DICOM (DCM) where one fits, Secretum's own code system otherwise.
_ACTIONS: dict[str, tuple[str, str, str]] = {
    Action.READ: ("R", RESTFUL, "read"),
    Action.SEARCH: ("E", RESTFUL, "search-type"),
    Action.CREATE: ("C", RESTFUL, "create"),
    Action.UPDATE: ("U", RESTFUL, "update"),
    Action.RETRACT: ("U", SECRETUM, "retract"),
    Action.DELETE: ("D", RESTFUL, "delete"),
    Action.PRINT: ("R", DCM, "110106"),
    Action.EXPORT: ("R", DCM, "110106"),
    Action.SEND: ("R", DCM, "110106"),
    Action.LOGIN: ("E", DCM, "110122"),
    Action.LOGIN_FAILED: ("E", DCM, "110122"),
    Action.AUTHENTICATE: ("E", DCM, "110122"),
    Action.LOGOUT: ("E", DCM, "110123"),
    Action.LOCK: ("E", SECRETUM, "lock"),
    Action.UNLOCK: ("E", DCM, "110122"),
    Action.REAUTHENTICATE: ("E", DCM, "110122"),
    Action.LOCKOUT: ("E", SECRETUM, "lockout"),
    Action.BREAK_THE_GLASS: ("E", SECRETUM, "break-the-glass"),
    Action.REVIEW: ("E", SECRETUM, "review"),
    Action.MAINTENANCE: ("E", SECRETUM, "maintenance"),
    Action.ARCHIVE: ("U", SECRETUM, "archive"),
    Action.OPEN_ARCHIVED: ("E", SECRETUM, "open-archived"),
    Action.RESTORE: ("U", SECRETUM, "restore"),
}
_AUTHENTICATION = {
    Action.LOGIN, Action.LOGIN_FAILED, Action.AUTHENTICATE, Action.LOGOUT, Action.LOCK,
    Action.UNLOCK, Action.REAUTHENTICATE, Action.LOCKOUT,
}  # fmt: skip
_PURPOSES = {
    "care": ("TREAT", "treatment"),
    "break-the-glass": ("BTG", "break the glass"),
    "archive": ("RECORDMGT", "records management"),
    "administration": ("HOPERAT", "healthcare operations"),
    "maintenance": ("HSYSADMIN", "healthcare system administration"),
}
_OUTCOMES = {"success": "0", "denied": "4", "failure": "8"}


def _event_type(row: EventRow) -> dict[str, str]:
    if row.action in _AUTHENTICATION:
        return {"system": DCM, "code": "110114", "display": "User Authentication"}
    if row.action in ("export", "print", "send"):
        return {"system": DCM, "code": "110106", "display": "Export"}
    if row.patient_ref:
        return {"system": DCM, "code": "110110", "display": "Patient Record"}
    return {"system": DCM, "code": "110100", "display": "Application Activity"}


def audit_event(row: EventRow) -> dict[str, Any]:
    action, subtype_system, subtype = _ACTIONS.get(row.action, ("E", SECRETUM, row.action))
    agent: dict[str, Any] = {
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                    "code": "humanuser" if row.role else "dataprocessor",
                }
            ]
        },
        "who": {"identifier": {"system": f"{SECRETUM}:user", "value": row.actor_name}},
        "requestor": True,
    }
    if row.role:
        agent["role"] = [{"text": row.role}]
    if row.source:
        agent["network"] = {"address": row.source, "type": "2"}  # 2 = IP address
    agents = [agent]
    if row.on_behalf_of:
        agents.append(
            {
                "who": {"identifier": {"system": f"{SECRETUM}:user", "value": row.on_behalf_of}},
                "requestor": False,
                "role": [{"text": "on behalf of"}],
            }
        )
    entities: list[dict[str, Any]] = []
    if row.patient_ref:
        entities.append(
            {
                "what": {"identifier": {"system": f"{SECRETUM}:patient", "value": row.patient_ref}},
                "type": {"system": ENTITY_TYPE, "code": "1", "display": "Person"},
                "role": {"system": OBJECT_ROLE, "code": "1", "display": "Patient"},
            }
        )
    entities.append(
        {
            "what": {
                "identifier": {"system": f"{SECRETUM}:resource", "value": row.resource_ref or "-"},
                "display": row.resource,
            },
            "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
            **(
                {"detail": [{"type": k, "valueString": _text(v)} for k, v in row.detail.items()]}
                if row.detail
                else {}
            ),
        }
    )
    if row.request_id:
        entities.append(
            {
                "what": {"identifier": {"value": row.request_id}},
                "type": {
                    "system": "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType",
                    "code": "XrequestId",
                },
            }
        )
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(row.seq),
        "type": _event_type(row),
        "subtype": [{"system": subtype_system, "code": subtype}],
        "action": action,
        "recorded": row.at.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "outcome": _OUTCOMES.get(row.outcome, "8"),
        "agent": agents,
        "source": {
            "observer": {"display": "Secretum"},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
        "entity": entities,
        "extension": [
            {"url": f"{SECRETUM}:seq", "valueInteger": row.seq},
            {"url": f"{SECRETUM}:leaf-hash", "valueString": row.leaf_hash},
        ],
    }
    if row.outcome != "success":
        resource["outcomeDesc"] = row.outcome
    if row.purpose in _PURPOSES:
        code, display = _PURPOSES[row.purpose]
        resource["purposeOfEvent"] = [
            {"coding": [{"system": ACT_REASON, "code": code, "display": display}]}
        ]
    return resource


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def to_json(resource: dict[str, Any]) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


# The CSV export's columns, each with what it holds of an event: the header and the cells come
# from this one list. "user" is the recorded name; "reason" a break-the-glass reason.
_CSV: tuple[tuple[str, Callable[[EventRow], Any]], ...] = (
    ("seq", lambda r: r.seq),
    ("recorded_utc", lambda r: r.at.isoformat(timespec="microseconds").replace("+00:00", "Z")),
    ("user", lambda r: r.actor_name),
    *((name, attrgetter(name)) for name in ("role", "on_behalf_of", "patient_ref", "action")),
    *((name, attrgetter(name)) for name in ("resource", "resource_ref", "purpose", "reason")),
    *((name, attrgetter(name)) for name in ("outcome", "source", "request_id")),
    (
        "detail",
        lambda r: json.dumps(r.detail, ensure_ascii=False, sort_keys=True) if r.detail else "",
    ),
    ("leaf_hash", lambda r: r.leaf_hash),
)
CSV_COLUMNS = tuple(name for name, _value in _CSV)
_FREE_TEXT = frozenset(CSV_COLUMNS) - {"seq", "recorded_utc", "leaf_hash"}


def _cell(value: Any) -> str:
    text = str(value)
    # A spreadsheet must never run a cell as a formula (OWASP CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(rows: Iterable[EventRow]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for r in rows:
        writer.writerow(
            [_cell(value(r)) if name in _FREE_TEXT else value(r) for name, value in _CSV]
        )
        yield flush()
