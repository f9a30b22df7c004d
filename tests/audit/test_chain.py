"""The audit log (D1, D2): one event per access, hash-chained; verification names the first
changed, removed or reordered event."""

from __future__ import annotations

import io
import itertools
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from secretum.audit.models import AuditEvent
from secretum.audit.services import GENESIS, verify_chain
from secretum.clinical import services as clinical
from secretum.patients import services as patients
from tests.conftest import actor_for, client_for, events, identity


@pytest.fixture
def some_events(practitioner: Any) -> list[AuditEvent]:
    actor = actor_for(practitioner)
    created = patients.register_patient(actor, identity())
    for _ in range(3):
        patients.access_patient(actor, created.uid)
    clinical.record_entry(actor, created.uid, "observation", {"code": "weight", "value": "70"})
    return events()


def test_each_event_carries_the_hash_of_the_previous(some_events: list[AuditEvent]) -> None:
    assert [e.seq for e in some_events] == list(range(1, len(some_events) + 1))
    assert some_events[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(some_events):
        assert after.prev_hash == before.hash
    assert verify_chain().ok and verify_chain().checked == len(some_events)


def _raw(sql: str, params: list[Any]) -> None:
    # An attacker with database access, bypassing the application.
    with connection.cursor() as cur:
        cur.execute(sql, params)


def test_changed_event_is_named(some_events: list[AuditEvent]) -> None:
    _raw("UPDATE audit_auditevent SET actor_name = %s WHERE seq = %s", ["someone-else", 3])
    result = verify_chain()
    assert not result.ok and result.bad_seq == 3 and "changed" in result.problem


def test_removed_event_is_named(some_events: list[AuditEvent]) -> None:
    _raw("DELETE FROM audit_auditevent WHERE seq = %s", [2])
    result = verify_chain()
    assert not result.ok and "event 2 is missing" in result.problem


def test_reordered_events_are_detected(some_events: list[AuditEvent]) -> None:
    _raw("UPDATE audit_auditevent SET seq = -1 WHERE seq = 2", [])
    _raw("UPDATE audit_auditevent SET seq = 2 WHERE seq = 3", [])
    _raw("UPDATE audit_auditevent SET seq = 3 WHERE seq = -1", [])
    result = verify_chain()
    assert not result.ok and result.bad_seq is not None


def test_recomputed_content_without_relinking_is_detected(some_events: list[AuditEvent]) -> None:
    from secretum.audit.services import event_hash

    victim = AuditEvent.objects.get(seq=2)
    victim.outcome = "denied"
    new_hash = event_hash(victim.prev_hash, victim)
    _raw("UPDATE audit_auditevent SET outcome = %s, hash = %s WHERE seq = 2", ["denied", new_hash])
    result = verify_chain()
    assert not result.ok and "event 3 does not follow event 2" in result.problem


def test_cli_verify_exits_non_zero_naming_the_event(some_events: list[AuditEvent]) -> None:
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert f"{len(some_events)} events" in out.getvalue()
    _raw("UPDATE audit_auditevent SET resource = %s WHERE seq = %s", ["x", 4])
    with pytest.raises(CommandError, match="event 4 was changed"):
        call_command("audit_verify")


def test_reading_a_chart_through_the_web_leaves_one_event(practitioner: Any) -> None:
    created = patients.register_patient(actor_for(practitioner), identity())
    client = client_for(practitioner)  # the login is an event of its own
    before = AuditEvent.objects.count()
    response = client.get(f"/patients/{created.uid}/")
    assert response.status_code == 200
    new = events(seq__gt=before)
    # The chart (identity + clinical data) and the patient's appointments.
    assert [(e.action, e.resource) for e in new] == [
        ("read", "clinical.Chart"),
        ("search", "scheduling.Appointment"),
    ]
    chart_event = new[0]
    assert chart_event.patient_ref == created.uid
    assert chart_event.actor == practitioner and chart_event.role == "practitioner"
    assert chart_event.request_id and chart_event.source == "127.0.0.1"
    assert chart_event.outcome == "success" and chart_event.at.utcoffset().total_seconds() == 0


def test_audit_events_hold_no_clinical_value_or_identity(practitioner: Any) -> None:
    actor = actor_for(practitioner)
    created = patients.register_patient(actor, identity(family_name="Glombardine"))
    clinical.record_entry(actor, created.uid, "encounter", {"reason": "Vertiges-marqueur"})
    clinical.record_entry(actor, created.uid, "observation", {"code": "bp", "value": "133/77"})
    patients.search_patients(actor, "glomb")
    for e in events():
        text = " ".join(str(getattr(e, f.name)) for f in AuditEvent._meta.concrete_fields)
        for secret in ("Glombardine", "glomb", "Vertiges", "133/77", created.niss):
            assert secret.lower() not in text.lower()


def test_a_rolled_back_write_leaves_no_success_event(practitioner: Any, patient: Any) -> None:
    from django.http import Http404

    before = AuditEvent.objects.count()
    with pytest.raises(Http404):
        clinical.correct_entry(
            actor_for(practitioner),
            "problem",
            "00000000-0000-0000-0000-000000000000",
            {"code": "A", "label": "B"},
        )
    new = events(seq__gt=before)
    assert [(e.action, e.outcome) for e in new] == [("update", "failure")]
