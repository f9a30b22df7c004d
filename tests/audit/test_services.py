"""Appending to the audit log (D1, D2): one event per access, sealed as it is written, never
holding a clinical value or a secret."""

from __future__ import annotations

from typing import Any

import pytest

from secretum.access.actor import Actor, Purpose
from secretum.audit import entries, fhir
from secretum.audit.forms import EventFilterForm
from secretum.audit.log import record_event
from secretum.audit.models import Action, AuditEvent
from secretum.audit.services import ACTION_LABELS
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


def test_events_are_numbered_without_gap_and_sealed(some_events: list[AuditEvent]) -> None:
    """D2: each event carries its RFC 9162 leaf hash and an HMAC of it, set when appended."""
    assert [e.seq for e in some_events] == list(range(1, len(some_events) + 1))
    key = entries.mac_key()
    for e in some_events:
        leaf = entries.leaf_of(entries.canonical(entries.event_values(e)))
        assert e.leaf_hash == leaf.hex()
        assert e.mac == entries.mac_of(key, leaf).hex()
    # What was stored reads back to the same leaf (times keep their microseconds).
    for stored in AuditEvent.objects.all():
        assert entries.leaf_of(entries.canonical(entries.event_values(stored))).hex() == (
            stored.leaf_hash
        )


def test_reading_a_chart_through_the_web_leaves_one_event(practitioner: Any) -> None:
    created = patients.register_patient(actor_for(practitioner), identity())
    client = client_for(practitioner)  # the login is an event of its own
    before = AuditEvent.objects.count()
    response = client.get(f"/patients/{created.uid}/")
    assert response.status_code == 200
    new = events(seq__gt=before)
    # The chart (identity, clinical data, documents) and the patient's appointments: one read
    # (issue 17), naming its sections.
    assert [(e.action, e.resource) for e in new] == [("read", "clinical.Chart")]
    chart_event = new[0]
    assert '"sections":["identity","entries","documents","appointments"]' in chart_event.detail
    assert chart_event.patient_ref == created.uid
    assert chart_event.actor == practitioner and chart_event.role == "practitioner"
    assert chart_event.request_id and chart_event.source == "127.0.0.1"
    assert chart_event.purpose == "care"
    assert chart_event.outcome == "success" and chart_event.at.utcoffset().total_seconds() == 0


def test_audit_events_hold_no_clinical_value_or_identity(practitioner: Any) -> None:
    """D1: the log records meaning, never the clinical content, a query's text or a secret."""
    actor = actor_for(practitioner)
    created = patients.register_patient(actor, identity(family_name="Glombardine"))
    clinical.record_entry(actor, created.uid, "encounter", {"reason": "Vertiges-marqueur"})
    clinical.record_entry(actor, created.uid, "observation", {"code": "bp", "value": "133/77"})
    patients.search_patients(actor, "glomb")
    patients.search_patients(actor, created.niss)
    patients.update_patient(actor, created.uid, identity(family_name="Glombardine-Neuve"))
    # A password typed in the wrong box, or simply wrong, never reaches the log either.
    from tests.conftest import SecureClient

    SecureClient().post(
        "/accounts/login/",
        {"username": "Pw-Marqueur-Secret-42", "password": "Pw-Marqueur-Secret-43"},
    )
    assert AuditEvent.objects.filter(action="login-failed").exists()
    secrets = (
        "Glombardine",
        "glomb",
        "Vertiges",
        "133/77",
        created.niss,
        "Quilline",
        "Pw-Marqueur-Secret",
        entries.mac_key().hex(),
    )
    for e in events():
        text = " ".join(str(getattr(e, f.name)) for f in AuditEvent._meta.concrete_fields)
        for secret in secrets:
            assert secret.lower() not in text.lower()
    searches = events(action="search", resource="patients.Patient")
    assert [e.detail for e in searches] == [
        '{"kind":"name","results":1}',
        '{"kind":"niss","results":1}',
    ]


def test_a_rolled_back_write_leaves_no_success_event(practitioner: Any, patient: Any) -> None:
    from django.http import Http404

    before = AuditEvent.objects.count()
    with pytest.raises(Http404):
        clinical.correct_entry(
            actor_for(practitioner),
            "problem",
            "00000000-0000-0000-0000-000000000000",
            {"system": "icpc-2", "code": "A01", "label": "B"},
        )
    new = events(seq__gt=before)
    assert [(e.action, e.outcome) for e in new] == [("update", "failure")]


def test_break_the_glass_purpose_and_reason_are_recorded(practitioner: Any, patient: Any) -> None:
    """The purpose of use travels with each event; break-the-glass keeps its reason (D1)."""
    actor = Actor(
        user=practitioner,
        role=practitioner.role,
        source="127.0.0.1",
        request_id="r-1",
        purpose=Purpose.BREAK_THE_GLASS,
    )
    event = record_event(
        actor,
        "read",
        "clinical.Chart",
        patient_ref=patient.uid,
        detail={"reason": "unconscious patient at the front desk"},
        on_behalf_of="dr.someone",
    )
    assert event is not None and event.purpose == "break-the-glass"
    stored = AuditEvent.objects.get(seq=event.seq)
    assert "unconscious" in stored.detail and stored.on_behalf_of == "dr.someone"


def test_control_characters_cannot_blur_the_entry(practitioner: Any) -> None:
    """The entry separator never reaches a field, so two events can never share an entry."""
    actor = Actor(user=None, role=None, source="10.0.0.1\x1fadmin", request_id="x\ny")
    event = record_event(actor, "read", "session")
    assert event is not None
    assert "\x1f" not in event.source and "\n" not in event.request_id
    assert entries.canonical(entries.event_values(event)).count(b"\x1f") == entries.SEPARATORS


def test_an_event_prints_as_what_happened_never_its_detail(db: Any) -> None:
    """An event or a checkpoint that reaches a log or a debugger names what happened, never its
    detail."""
    from secretum.audit.checkpoints import create_checkpoint
    from secretum.audit.models import AuditCheckpoint

    event = record_event(Actor.system(), "read", "session", detail={"reason": "fictitious"})
    assert event is not None
    stored = AuditEvent.objects.get(seq=event.seq)
    assert str(stored) == f"#{event.seq} read session success"
    checkpoint, _ = create_checkpoint()
    assert str(AuditCheckpoint.objects.get()) == (
        f"checkpoint {checkpoint.tree_size} {checkpoint.root_hash[:12]}"
    )


@pytest.mark.django_db(transaction=True)
def test_reporting_a_problem_never_raises_when_the_log_cannot_be_written() -> None:
    """D1: the refusal matters more than its record. With the log unwritable (here a trigger
    that refuses every append, as a full or broken database would), recording an integrity
    failure or a tampered row raises nothing: the caller refuses all the same."""
    from django.db import connection

    from secretum.audit.log import record_integrity_failure, record_tampered

    if connection.vendor != "sqlite":
        pytest.skip("the refusing trigger is written the SQLite way")
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TRIGGER audit_full BEFORE INSERT ON audit_auditevent "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    try:
        record_integrity_failure("verify", "event 3 was changed")
        record_tampered("patients.Patient", "00000000-0000-0000-0000-000000000000")
    finally:
        with connection.cursor() as cur:
            cur.execute("DROP TRIGGER audit_full")
    assert not AuditEvent.objects.exists()


def test_one_vocabulary_of_actions_for_writers_filters_and_exports(db: Any) -> None:
    """D1: a writer cannot invent an action; every action of the vocabulary has its label (the
    auditor's pages and filters) and its FHIR AuditEvent coding (the exports)."""
    with pytest.raises(ValueError, match="unknown audit action 'peek'"):
        record_event(Actor.system(), "peek", "clinical.Chart")
    choices = dict(EventFilterForm().fields["action"].choices)
    for action in Action:
        assert ACTION_LABELS[action] and choices[action.value]
        assert action in fhir._ACTIONS


def test_an_events_fields_are_listed_once() -> None:
    """One list of an audit event's fields (entries.FIELDS): the model holds exactly them (and
    the leaf hash and code), the writer limits each text field to its column, the auditor's rows
    and the CSV export show every one of them."""
    from dataclasses import fields

    from secretum.audit import fhir, log
    from secretum.audit.rows import EventRow

    model = {f.attname for f in AuditEvent._meta.concrete_fields} - {"id", "leaf_hash", "mac"}
    assert model == set(entries.FIELDS)
    assert set(entries.TEXT_FIELDS) <= set(log._LIMITS)
    shown = {f.name for f in fields(EventRow)}
    assert set(entries.FIELDS) - {"actor_id"} <= shown
    names = {"actor_name": "user", "at": "recorded_utc"}
    assert {names.get(n, n) for n in shown} <= set(fhir.CSV_COLUMNS)
