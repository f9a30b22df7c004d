"""Clinical entries: bounded fields (N2), plausible observations, versions kept, C1 enforced."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from secretum.access.actor import AccessDenied
from secretum.clinical import services
from tests.conftest import actor_for, events


def test_record_and_read_each_kind(practitioner: Any, patient: Any) -> None:
    actor = actor_for(practitioner)
    services.record_entry(actor, patient.uid, "encounter", {"reason": "Toux", "plan": "Repos"})
    services.record_entry(
        actor, patient.uid, "problem", {"system": "icpc-2", "code": "K86", "label": "HTA"}
    )
    services.record_entry(
        actor, patient.uid, "allergy", {"substance": "Pénicilline", "severity": "severe"}
    )
    services.record_entry(
        actor,
        patient.uid,
        "medication",
        {"drug": "Amlodipine 5 mg", "dose": "1 co", "frequency": "1x/j", "duration": "3 mois"},
    )
    services.record_entry(actor, patient.uid, "observation", {"code": "bp", "value": "128/82"})
    services.record_entry(
        actor,
        patient.uid,
        "vaccination",
        {
            "vaccine": "Grippe",
            "lot": "X1",
            "given_on": "2026-10-02",
            "dose": "1",
            "site": "left-arm",
        },
    )
    chart = services.access_chart(actor, patient.uid)
    assert chart.entries["vaccination"][0].values["given_on"] == "2026-10-02"
    assert chart.entries["encounter"][0].values["reason"] == "Toux"
    assert chart.entries["allergy"][0].values["substance"] == "Pénicilline"
    assert chart.entries["observation"][0].values == {
        "code": "bp",
        "value": "128/82",
        "unit": "mmHg",
    }
    assert [e.action for e in events(patient_ref=patient.uid)][-1] == "read"


@pytest.mark.parametrize(
    ("code", "value", "message"),
    [
        ("bp", "400/80", "400 mmHg is not plausible"),
        ("bp", "80/120", "higher than the diastolic"),
        ("bp", "120", "systolic/diastolic"),
        ("weight", "0", "not plausible"),
        ("weight", "abc", "must be a number"),
        ("height", "300", "300 cm is not plausible"),
        ("temperature", "48.5", "48.5 °C is not plausible"),
        ("temperature", "NaN", "must be a number"),
        ("pulse", "70", "choose one of the options"),
    ],
)
def test_implausible_observation_is_rejected_with_a_clear_message(
    practitioner: Any, patient: Any, code: str, value: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        services.record_entry(
            actor_for(practitioner), patient.uid, "observation", {"code": code, "value": value}
        )


def test_plausible_values_are_normalised(practitioner: Any, patient: Any) -> None:
    actor = actor_for(practitioner)
    entry = services.record_entry(
        actor, patient.uid, "observation", {"code": "temperature", "value": "37,20"}
    )
    assert (entry.values["value"], entry.values["unit"]) == ("37.2", "°C")


def test_note_fields_are_bounded(practitioner: Any, patient: Any) -> None:
    """N2: free text is framed: each field has a purpose and a length limit."""
    with pytest.raises(ValidationError, match="limited to 4000 characters"):
        services.record_entry(
            actor_for(practitioner),
            patient.uid,
            "encounter",
            {"reason": "Contrôle", "subjective": "x" * 4001},
        )
    with pytest.raises(ValidationError, match="required"):
        services.record_entry(actor_for(practitioner), patient.uid, "encounter", {"plan": "P"})
    with pytest.raises(ValidationError, match="Unknown fields"):
        services.record_entry(
            actor_for(practitioner),
            patient.uid,
            "encounter",
            {"reason": "R", "comment": "free text"},
        )


def test_correction_keeps_the_earlier_version(practitioner: Any, patient: Any) -> None:
    actor = actor_for(practitioner)
    first = services.record_entry(
        actor, patient.uid, "problem", {"system": "icpc-2", "code": "K86", "label": "HTA"}
    )
    second, patient_uid = services.correct_entry(
        actor, "problem", first.uid, {"system": "icpc-2", "code": "K87", "label": "HTA compliquée"}
    )
    assert patient_uid == patient.uid and second.corrected
    chart = services.access_chart(actor, patient.uid)
    assert [e.values["code"] for e in chart.entries["problem"]] == ["K87"]
    versions, _ = services.entry_history(actor, "problem", first.uid)
    assert [v.values["code"] for v in versions] == ["K87", "K86"]
    assert [v.current for v in versions] == [True, False]
    with pytest.raises(ValidationError, match="current version"):
        retry = {"system": "icpc-2", "code": "K88", "label": "Y"}
        services.correct_entry(actor, "problem", first.uid, retry)


def test_retracted_entry_leaves_the_chart_but_stays_in_history(
    practitioner: Any, patient: Any
) -> None:
    actor = actor_for(practitioner)
    entry = services.record_entry(
        actor, patient.uid, "allergy", {"substance": "Latex", "severity": "mild"}
    )
    services.retract_entry(actor, "allergy", entry.uid)
    assert services.access_chart(actor, patient.uid).entries["allergy"] == []
    versions, _ = services.entry_history(actor, "allergy", entry.uid)
    assert versions[0].retracted and versions[0].values["substance"] == "Latex"


def test_secretary_is_denied_every_clinical_service(
    secretary: Any, practitioner: Any, patient: Any
) -> None:
    """C1: no path from a secretary's session to medical data."""
    entry = services.record_entry(
        actor_for(practitioner),
        patient.uid,
        "problem",
        {"system": "icpc-2", "code": "K86", "label": "HTA"},
    )
    actor = actor_for(secretary)
    valid = {"system": "icpc-2", "code": "A01", "label": "B"}  # valid: the gate is what refuses
    calls = [
        lambda: services.access_chart(actor, patient.uid),
        lambda: services.access_entry(actor, "problem", entry.uid),
        lambda: services.entry_history(actor, "problem", entry.uid),
        lambda: services.record_entry(actor, patient.uid, "problem", valid),
        lambda: services.correct_entry(actor, "problem", entry.uid, valid),
        lambda: services.retract_entry(actor, "problem", entry.uid),
    ]
    for call in calls:
        with pytest.raises(AccessDenied):
            call()
    denied = events(outcome="denied")
    assert len(denied) == len(calls)
    assert {e.patient_ref for e in denied} == {patient.uid}


def test_the_chart_shows_the_newest_current_entries_of_each_kind_with_their_authors(
    practitioner: Any, patient: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One query reads a chart's current entries (issue 10, "Performance"): per kind the newest
    first, as many as the chart shows, each with its own author; never an entry corrected,
    retracted, or of another patient."""
    from secretum.access import care
    from secretum.access.policy import Role
    from secretum.patients import services as patients
    from tests.conftest import identity, make_user

    monkeypatch.setattr(services, "CHART_LIMIT", 3)
    doctor, colleague = actor_for(practitioner), actor_for(make_user(Role.PRACTITIONER))
    care.declare_care(colleague, patient.uid)
    codes = [f"K8{n}" for n in range(5)]
    for code in codes:
        problem = {"system": "icpc-2", "code": code, "label": "HTA"}
        services.record_entry(doctor, patient.uid, "problem", problem)
    latex, pollen = ({"substance": s, "severity": "mild"} for s in ("Latex", "Pollen"))
    services.record_entry(colleague, patient.uid, "allergy", latex)
    gone = services.record_entry(doctor, patient.uid, "allergy", pollen)
    services.retract_entry(doctor, "allergy", gone.uid)
    drug = {"dose": "1", "frequency": "1x/j", "duration": "5 j"}
    old = services.record_entry(doctor, patient.uid, "medication", {"drug": "A", **drug})
    services.correct_entry(colleague, "medication", old.uid, {"drug": "B", **drug})
    other = patients.register_patient(doctor, identity()).uid
    services.record_entry(doctor, other, "observation", {"code": "weight", "value": "80"})
    chart = services.access_chart(doctor, patient.uid)
    assert [e.values["code"] for e in chart.entries["problem"]] == ["K84", "K83", "K82"]
    assert [e.author for e in chart.entries["problem"]] == [str(practitioner)] * 3
    (allergy,) = chart.entries["allergy"]
    assert allergy.values["substance"] == "Latex" and allergy.author == str(colleague.user)
    (medication,) = chart.entries["medication"]
    assert medication.values["drug"] == "B" and medication.corrected
    assert chart.entries["observation"] == chart.entries["encounter"] == []
    assert not chart.altered
