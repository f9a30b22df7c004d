"""A patient's page is one read of the record (issue 17; C1, D1, E10): the patient opened once,
its data key unwrapped once, one audit event naming every section the page read (identity,
entries, documents, appointments), whoever reads it and on whatever basis; the gate still asks
every permission the page needs, and shows each role only what it may read.

The unwraps are counted by wrapping the real ``keyring.unwrap_data_key`` (every call still
unwraps), not by replacing its result."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.utils import timezone

from secretum.access import care
from secretum.access.actor import AccessDenied
from secretum.access.guard import guarded
from secretum.access.policy import Permission, Role
from secretum.audit.models import Action, AuditEvent
from secretum.clinical import services as clinical
from secretum.crypto import keyring
from secretum.patients import archive
from secretum.patients import services as patients
from secretum.scheduling import services as scheduling
from tests.conftest import actor_for, client_for, events, identity, make_user

ALLERGY = {"substance": "Arachide", "reaction": "œdème", "severity": "severe"}
CHART_SECTIONS = ["identity", "entries", "documents", "appointments"]


@pytest.fixture
def record(practitioner: Any) -> str:
    """A patient of ``practitioner`` (who registered them), an allergy on their chart and an
    appointment booked with their doctor in three days' time."""
    doctor = actor_for(practitioner)
    uid = patients.register_patient(doctor, identity(family_name="Quelmardine")).uid
    clinical.record_entry(doctor, uid, "allergy", ALLERGY)
    start = (timezone.localtime() + dt.timedelta(days=3)).replace(hour=9, minute=40)
    scheduling.book_appointment(doctor, uid, practitioner.pk, start, 20)
    return str(uid)


@pytest.fixture
def unwraps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The associated data of every data key unwrapped from now on (the real unwrap runs)."""
    real = keyring.unwrap_data_key
    calls: list[str] = []

    def counted(wrapped: bytes | memoryview, aad: str) -> keyring.DataKey:
        calls.append(aad)
        return real(wrapped, aad)

    monkeypatch.setattr(keyring, "unwrap_data_key", counted)
    return calls


def _open_page(user: Any, uid: str, unwraps: list[str]) -> tuple[Any, list[AuditEvent]]:
    client = client_for(user)  # its sign-in is events of its own, before counting
    # The process's first request checks that the key file belongs to this database (it opens
    # a sample of records, crypto/binding.py): made here, before counting.
    client.get("/")
    before = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    unwraps.clear()
    page = client.get(f"/patients/{uid}/")
    return page, events(seq__gt=before)


def _sections(event: AuditEvent) -> list[str]:
    return list(json.loads(event.detail)["sections"])


def test_the_chart_is_one_opening_one_unwrap_and_one_event(
    practitioner: Any, record: str, unwraps: list[str]
) -> None:
    page, new = _open_page(practitioner, record, unwraps)
    assert page.status_code == 200 and b'data-testid="chart"' in page.content
    assert b"Arachide" in page.content and b"20 min" in page.content  # entries, appointments
    (read,) = new
    assert (read.action, read.resource, read.outcome) == ("read", "clinical.Chart", "success")
    assert read.patient_ref == record and read.purpose == "care"
    assert _sections(read) == CHART_SECTIONS
    assert unwraps == [f"patients.Patient:{record}"]


def test_the_secretary_reads_identity_and_appointments_once_and_nothing_medical(
    secretary: Any, record: str, unwraps: list[str]
) -> None:
    page, new = _open_page(secretary, record, unwraps)
    assert page.status_code == 200 and b"QUELMARDINE" in page.content and b"20 min" in page.content
    assert b"Arachide" not in page.content and b'data-testid="chart"' not in page.content
    (read,) = new
    assert (read.action, read.resource, read.outcome) == ("read", "patients.Patient", "success")
    assert _sections(read) == ["identity", "appointments"]
    assert unwraps == [f"patients.Patient:{record}"]


def test_without_a_basis_the_refusal_then_one_read_of_the_identity(
    record: str, unwraps: list[str]
) -> None:
    """C1: a colleague without a care relationship is refused the chart before anything is
    opened (the refusal is its event), then reads what the front desk reads, once."""
    colleague = make_user(Role.PRACTITIONER)
    page, new = _open_page(colleague, record, unwraps)
    assert page.status_code == 200 and b"20 min" in page.content
    assert b"Arachide" not in page.content
    refused, read = new
    assert (refused.resource, refused.outcome) == ("clinical.Chart", "denied")
    assert (read.resource, read.outcome) == ("patients.Patient", "success")
    assert unwraps == [f"patients.Patient:{record}"]


def test_break_the_glass_is_one_read_under_its_purpose(record: str, unwraps: list[str]) -> None:
    colleague = make_user(Role.PRACTITIONER)
    care.break_the_glass(actor_for(colleague), record, "emergency", "Found unconscious at home")
    page, new = _open_page(colleague, record, unwraps)
    assert page.status_code == 200 and b"Arachide" in page.content and b"20 min" in page.content
    (read,) = new
    assert (read.resource, read.purpose) == ("clinical.Chart", "break-the-glass")
    assert _sections(read) == CHART_SECTIONS and '"grant":' in read.detail
    assert len(unwraps) == 1


def test_an_archived_record_is_refused_unopened_then_read_once_on_a_grant(
    practitioner: Any, secretary: Any, record: str, unwraps: list[str]
) -> None:
    """J1: refused to its own doctor and to the secretary alike, nothing unwrapped; opened with
    a reason, one read under the archive's purpose, appointments included."""
    archive.archive_due(now=timezone.now() + dt.timedelta(days=6 * 366))
    for who, status in ((practitioner, 200), (secretary, 403)):
        page, new = _open_page(who, record, unwraps)
        assert page.status_code == status and b"QUELMARDINE" not in page.content
        (refused,) = new
        assert refused.outcome == "denied" and unwraps == []
    care.open_archived(actor_for(practitioner), record, "Patient back after years abroad")
    page, new = _open_page(practitioner, record, unwraps)
    assert b'data-testid="archive-banner"' in page.content and b"20 min" in page.content
    (read,) = new
    assert (read.resource, read.purpose, read.outcome) == ("clinical.Chart", "archive", "success")
    assert len(unwraps) == 1
    # The same grant opens the identity and appointments alone (no medical record asked).
    shown, booked = scheduling.access_identity(actor_for(practitioner), record)
    assert shown.family_name == "Quelmardine" and [a.duration_minutes for a in booked] == [20]
    (read,) = events(resource="patients.Patient", action="read", outcome="success")
    assert read.purpose == "archive" and '"grant":' in read.detail


def test_the_gate_asks_every_permission_of_the_read(auditor: Any, record: str) -> None:
    """A read that needs a second permission (``also``) is refused, and audited, for a role that
    holds the first and not the second: the auditor reads the log, never appointments."""
    with (
        pytest.raises(AccessDenied, match="scheduling:appointment:read"),
        guarded(
            actor_for(auditor), Permission.AUDIT_READ, Action.READ, "test.Guard",
            also=(Permission.APPOINTMENT_READ,),
        ),
    ):  # fmt: skip
        pytest.fail("the block ran")
    (refused,) = events(resource="test.Guard")
    assert refused.outcome == "denied"
    with pytest.raises(AccessDenied):
        scheduling.access_identity(actor_for(auditor), record)
