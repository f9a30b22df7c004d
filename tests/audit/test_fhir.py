"""Audit events as FHIR R4 AuditEvent (IHE BALP shape) and CSV (D2)."""

from __future__ import annotations

import datetime as dt

from secretum.audit import fhir
from secretum.audit.rows import EventRow


def _row(**kw: object) -> EventRow:
    base: dict[str, object] = dict(
        seq=12,
        at=dt.datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=dt.UTC),
        actor_name="dr.test",
        role="practitioner",
        on_behalf_of="",
        patient_ref="6d5b0a4e-1111-4a4a-9a9a-123456789abc",
        action="read",
        resource="clinical.Chart",
        resource_ref="6d5b0a4e-1111-4a4a-9a9a-123456789abc",
        purpose="care",
        outcome="success",
        source="127.0.0.1",
        request_id="r-1",
        detail={},
        leaf_hash="ab" * 32,
    )
    base.update(kw)
    return EventRow(**base)  # type: ignore[arg-type]


def test_a_chart_read_is_a_patient_record_read_for_treatment() -> None:
    r = fhir.audit_event(_row())
    assert r["resourceType"] == "AuditEvent" and r["id"] == "12"
    assert r["type"]["code"] == "110110" and r["action"] == "R" and r["outcome"] == "0"
    assert r["recorded"] == "2026-03-04T05:06:07.890123Z"
    assert r["purposeOfEvent"][0]["coding"][0]["code"] == "TREAT"
    assert r["agent"][0]["who"]["identifier"]["value"] == "dr.test"
    assert r["agent"][0]["network"] == {"address": "127.0.0.1", "type": "2"}
    patient = r["entity"][0]
    assert patient["role"]["code"] == "1" and patient["type"]["code"] == "1"
    assert r["source"]["observer"]["display"] == "Secretum"


def test_break_the_glass_refusal_and_login_codes() -> None:
    btg = fhir.audit_event(_row(purpose="break-the-glass", detail={"reason": "coma"}))
    assert btg["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"
    assert {"type": "reason", "valueString": "coma"} in btg["entity"][1]["detail"]
    refused = fhir.audit_event(_row(outcome="denied"))
    assert refused["outcome"] == "4" and refused["outcomeDesc"] == "denied"
    login = fhir.audit_event(_row(action="login", patient_ref="", resource="session"))
    assert login["type"]["code"] == "110114" and login["action"] == "E"
    assert login["entity"][0]["type"]["code"] == "2"  # no patient entity


def test_csv_has_a_header_and_one_line_per_event() -> None:
    lines = list(fhir.csv_lines([_row(), _row(seq=13, actor_name="@evil")]))
    assert lines[0].startswith("seq,recorded_utc,user,role")
    assert lines[2].split(",")[2] == "'@evil"


def test_a_system_event_on_behalf_of_someone_keeps_both_agents() -> None:
    """An event with no patient, no address and an unknown purpose is still a valid
    AuditEvent: application activity, the person it was done for as a second agent, and no
    purpose rather than a wrong one."""
    r = fhir.audit_event(
        _row(
            actor_name="system",
            role="",
            on_behalf_of="newnurse",
            patient_ref="",
            resource="enrolment",
            source="",
            purpose="other",
            request_id="",
        )
    )
    assert r["type"]["code"] == "110100"
    (system, person) = r["agent"]
    assert "network" not in system and "role" not in system
    assert person["who"]["identifier"]["value"] == "newnurse"
    assert "purposeOfEvent" not in r
    assert [e["type"]["code"] for e in r["entity"]] == ["2"]  # no request identifier entity
    printed = fhir.audit_event(_row(action="print"))
    assert printed["type"]["code"] == "110106" and printed["subtype"][0]["code"] == "110106"
