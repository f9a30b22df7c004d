"""A read reads in a transaction of its own and appends its event after it (issue 17, D1, D2): on
SQLite a snapshot, so that the one write lock is held for the append alone. Each test tries to
break what that must keep: no read without its event, no event lost or out of order, no record
seen half written, no write slipped into a read."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.utils import timezone

from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.accounts.models import UserSession
from secretum.audit.log import record_tampered
from secretum.audit.models import TAMPERED, Action
from secretum.clinical import services as clinical
from tests.conftest import actor_for, events

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite's one write lock (PostgreSQL: one per row)"
)

WEIGHT = {"code": "weight", "value": "70"}


def _in_thread(work: Any, failures: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported on the test's thread
            failures.append(exc)
        finally:
            connections.close_all()  # this thread's own connection

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _identity_read(practitioner: Any, patient: Any) -> Any:
    return guarded(
        actor_for(practitioner),
        Permission.PATIENT_IDENTITY_READ,
        Action.READ,
        "patients.Patient",
        patient_ref=patient.uid,
    )


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_a_read_holds_no_write_lock_while_it_reads(practitioner: Any, patient: Any) -> None:
    """Another request writes (an entry and its event) while a chart is being read, without
    waiting for the read to end; the read's event comes after the write's in the log, and the
    log verifies. Before issue 17 the writer waited for the whole read (busy_timeout, 20 s)."""
    doctor = actor_for(practitioner)
    failures: list[BaseException] = []
    with guarded(
        doctor, Permission.CLINICAL_READ, Action.READ, "clinical.Chart", patient_ref=patient.uid
    ):
        writer = _in_thread(
            lambda: clinical.record_entry(doctor, patient.uid, "observation", WEIGHT), failures
        )
        writer.join(timeout=5)
        assert not writer.is_alive(), "the write waited for the read"
    assert failures == []
    created, read = events(patient_ref=patient.uid)[-2:]
    assert (created.action, read.action) == ("create", "read") and read.seq == created.seq + 1
    call_command("audit_verify")


@sqlite_only
@pytest.mark.django_db(transaction=True)
def test_reads_racing_writes_never_see_a_record_half_written(
    practitioner: Any, patient: Any
) -> None:
    """A race: one doctor writes entries while another request opens the chart again and again.
    Every opening sees the record whole (its entries match its seal: never "altered", never a
    tamper report), and every opening has its event."""
    doctor = actor_for(practitioner)
    failures: list[BaseException] = []
    start = threading.Barrier(2)
    opened: list[int] = []

    def write() -> None:
        start.wait()
        for i in range(6):
            clinical.record_entry(doctor, patient.uid, "observation", {**WEIGHT, "value": f"7{i}"})

    def read() -> None:
        start.wait()
        for _ in range(12):
            chart = clinical.access_chart(doctor, patient.uid)
            assert not chart.altered
            opened.append(len(chart.entries["observation"]))

    threads = [_in_thread(write, failures), _in_thread(read, failures)]
    for thread in threads:
        thread.join()
    assert failures == [] and len(opened) == 12 and opened == sorted(opened)
    assert not [e for e in events(patient_ref=str(patient.uid)) if TAMPERED in e.detail]
    assert len(events(patient_ref=str(patient.uid), action="read")) == 12
    call_command("records_verify")
    call_command("audit_verify")


@sqlite_only
def test_a_read_that_writes_is_refused_and_leaves_nothing(practitioner: Any, patient: Any) -> None:
    """A read's block that writes would fail now and then under load (its snapshot older than
    the last commit): it fails every time instead, its write rolled back, the failure audited."""
    with (
        pytest.raises(RuntimeError, match="wrote to the database"),
        _identity_read(practitioner, patient),
    ):
        UserSession.objects.create(
            user=practitioner, device="slipped in", source="", last_activity_at=timezone.now()
        )
    assert not UserSession.objects.filter(device="slipped in").exists()
    (failed,) = events(action="read", patient_ref=str(patient.uid))
    assert failed.outcome == "failure" and '"error":"RuntimeError"' in failed.detail


def test_an_event_recorded_inside_a_read_is_kept_even_when_the_read_fails(
    practitioner: Any, patient: Any
) -> None:
    """A row found altered during a read is reported; the read then fails. Both are in the log,
    in that order, on every engine: the report, appended when the read's transaction ended (the
    failure rolled it back), then the read's failure."""
    with (
        pytest.raises(ValueError),
        _identity_read(practitioner, patient),
    ):
        record_tampered("patients.Patient", str(patient.uid), patient_ref=str(patient.uid))
        raise ValueError("refused after the report")
    report, failed = events(patient_ref=str(patient.uid))[-2:]
    assert TAMPERED in report.detail and report.outcome == "failure"
    assert failed.action == "read" and '"error":"ValueError"' in failed.detail


@pytest.mark.django_db(transaction=True)
def test_inside_a_callers_transaction_the_read_and_its_event_go_together(
    practitioner: Any, patient: Any
) -> None:
    """A read inside a transaction its caller holds is part of it: its event commits, or rolls
    back, with the caller's work (there is no snapshot of its own to take)."""
    doctor = actor_for(practitioner)
    before = len(events(action="read"))
    with pytest.raises(ValueError), transaction.atomic():
        clinical.access_chart(doctor, patient.uid)
        raise ValueError("the caller's work failed")
    assert len(events(action="read")) == before
    clinical.access_chart(doctor, patient.uid)
    assert len(events(action="read")) == before + 1
