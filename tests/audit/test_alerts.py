"""Alerts read from the log (D1, D2): patterns, not single events, except break-the-glass."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from secretum.access.actor import Actor, Purpose
from secretum.audit import alerts
from secretum.audit.log import record_event


def _read(
    user: str, patient: str, resource: str = "clinical.Chart", outcome: str = "success"
) -> None:
    record_event(
        Actor(user=None, role="practitioner", source=user),
        "read",
        resource,
        patient_ref=patient,
        outcome=outcome,
    )


def _since() -> dt.datetime:
    return timezone.now() - dt.timedelta(days=1)


def _kinds() -> list[str]:
    return [a.kind for a in alerts.detect(_since())]


def test_many_different_patients_in_a_short_time_raise_one_alert(db: Any, settings: Any) -> None:
    """Identities, and charts opened outside a care relationship (the shared record, break the
    glass), count; a doctor going through the charts of the patients in their care does not."""
    settings.SECRETUM_AUDIT_ALERT_PATIENTS = 5
    for n in range(9):
        _read("system", f"p-{n}", resource="patients.Patient")
    for n in range(9):
        _read("dr.own", f"q-{n}")  # care, within a relationship
    shared = Actor(user=None, role="practitioner", source="dr.shared")
    for n in range(6):
        record_event(
            shared, "read", "clinical.Chart", patient_ref=f"s-{n}",
            detail={"basis": "shared-record"},
        )  # fmt: skip
    found = alerts.detect(_since())
    # One reader (the system actor): 9 identities and 6 shared-record charts, not the 9 in care.
    assert [(a.kind, a.count) for a in found] == [("many-patients", 15)]


def test_the_same_patient_again_and_again_is_no_alert(db: Any, settings: Any) -> None:
    settings.SECRETUM_AUDIT_ALERT_PATIENTS = 5
    for _ in range(20):
        _read("system", "p-1")
    assert _kinds() == []


def test_refused_reads_do_not_count_as_opened_records(db: Any, settings: Any) -> None:
    settings.SECRETUM_AUDIT_ALERT_PATIENTS = 5
    for n in range(4):
        _read("system", f"p-{n}", outcome="denied")
    assert _kinds() == []
    for n in range(6):
        _read("system", f"q-{n}", outcome="denied")
    assert _kinds() == ["refusals"]


def test_break_the_glass_is_always_an_alert_with_its_reason(db: Any) -> None:
    """Each emergency access opened is one alert; the reads made under it are not more."""
    actor = Actor(user=None, role="practitioner", purpose=Purpose.BREAK_THE_GLASS)
    record_event(
        actor, "break-the-glass", "access.GlassBreak", patient_ref="p", detail={"reason": "coma"}
    )
    for _ in range(3):
        record_event(actor, "read", "clinical.Chart", patient_ref="p", detail={"grant": "g"})
    (alert,) = alerts.detect(_since())
    assert (alert.kind, alert.severity, alert.reason, alert.patient_ref) == (
        "break-the-glass",
        "high",
        "coma",
        "p",
    )


def test_failed_logins_from_one_address(db: Any) -> None:
    for _ in range(alerts.FAILED_LOGINS):
        record_event(
            Actor(user=None, role=None, source="192.0.2.7"),
            "login-failed",
            "session",
            outcome="failure",
        )
    assert _kinds() == ["failed-logins"]


def test_bursts_outside_the_window_are_no_alert() -> None:
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    spaced = [(t0 + dt.timedelta(hours=n), n, f"p{n}") for n in range(10)]
    assert alerts._bursts(spaced, 3, dt.timedelta(minutes=15)) == []
    close = [(t0 + dt.timedelta(minutes=n), n, f"p{n}") for n in range(10)]
    assert alerts._bursts(close, 3, dt.timedelta(minutes=15)) == [(t0, close[-1][0], 10, 0)]


def test_an_altered_detail_still_raises_its_alert(db: Any) -> None:
    """An owner rewrites the detail of a break-the-glass or integrity event into something that
    is not a JSON object: the alert is still raised, its reason left empty."""
    from tests.audit.conftest import as_owner

    btg = Actor(user=None, role="practitioner", source="dr.x", purpose=Purpose.BREAK_THE_GLASS)
    for ref in ("p-1", "p-2"):
        record_event(
            btg, "break-the-glass", "access.GlassBreak", patient_ref=ref, detail={"reason": "coma"}
        )
    from secretum.audit.log import record_integrity_failure

    record_integrity_failure("verify", "event 2 was changed")
    record_integrity_failure("verify", "event 2 was changed")
    as_owner("UPDATE audit_auditevent SET detail = %s WHERE seq IN (1, 3)", ["not json"])
    as_owner("UPDATE audit_auditevent SET detail = %s WHERE seq IN (2, 4)", ['["a list"]'])
    found = [(a.kind, a.reason) for a in alerts.detect(_since())]
    assert found.count(("break-the-glass", "")) == 2 and found.count(("integrity", "")) == 2


def test_a_record_outside_ones_care_is_no_probing(db: Any) -> None:
    """A practitioner shown, again and again, that records are outside their care (each a
    "denied" event saying so) is not probing: no "refusals" alert."""
    actor = Actor(user=None, role="practitioner", source="dr.new")
    for n in range(8):
        record_event(
            actor, "read", "clinical.Chart", patient_ref=f"p-{n}", outcome="denied",
            detail={"problem": "no-care-relationship"},
        )  # fmt: skip
    assert _kinds() == []


def test_refusals_of_no_one_signed_in_are_told_by_address(db: Any) -> None:
    """F1: requests refused from outside the allowed networks have no user: each probing address
    is its own alert, named by the address, never one "system" alert mixing every address."""
    for source in ("198.51.100.7", "203.0.113.9"):
        for n in range(6):
            _read(source, f"p-{n}", outcome="denied")
    _read("192.0.2.1", "p-1", outcome="denied")  # one refusal is no probing
    refusals = [a for a in alerts.detect(_since()) if a.kind == "refusals"]
    assert sorted((a.who, a.count) for a in refusals) == [("198.51.100.7", 6), ("203.0.113.9", 6)]
