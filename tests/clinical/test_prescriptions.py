"""Medications and prescriptions (issue 15): structured and sealed, validated with clear
messages, an active list, stop and renew through the gate with their audit rows, the
prescriber's RIZIV/INAMI number, and the printed prescription (P1, C3)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from secretum.access.actor import AccessDenied
from secretum.access.policy import Role
from secretum.audit.models import TAMPERED
from secretum.clinical import medications, prescriptions, services
from secretum.clinical.models import Medication, Prescriber
from secretum.compliance import printing
from secretum.compliance.models import PrintLog
from secretum.patients import services as patients
from tests.conftest import actor_for, client_for, events, identity, make_user
from tests.pdf import pdf_text

RIZIV = "12345625004"  # fictitious: 97 - 123456 mod 97 = 25
TODAY = timezone.localdate()
PRODUCT = {
    "drug": "Amlodipine Quzpharma",
    "strength": "5 mg",
    "cnk": "1234567",
    "atc": "c09aa05",  # typed in lower case: stored as WHO writes it
    "dose": "1 comprimé",
    "frequency": "1x/jour",
    "route": "oral",
    "start": (TODAY - dt.timedelta(days=10)).isoformat(),
    "stop": (TODAY + dt.timedelta(days=80)).isoformat(),
    "quantity": "2",
}


def _detail(event: Any) -> dict[str, Any]:
    return json.loads(event.detail)


def _prescribe(user: Any, patient: Any, **change: Any) -> Any:
    return services.record_entry(actor_for(user), patient.uid, "medication", {**PRODUCT, **change})


def _set_riziv(user: Any) -> None:
    prescriptions.set_prescriber_number(actor_for(user), RIZIV)


# --- the model and its checks --------------------------------------------------------------------


def test_a_medication_is_structured_sealed_and_normalised(practitioner: Any, patient: Any) -> None:
    entry = _prescribe(practitioner, patient)
    assert entry.values["atc"] == "C09AA05" and entry.values["cnk"] == "1234567"
    assert entry.values["route"] == "oral" and entry.values["quantity"] == "2"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT cnk, atc, strength FROM {Medication._meta.db_table}")  # noqa: S608
        (row,) = cursor.fetchall()
    assert all(b"1234567" not in bytes(v) and b"C09AA05" not in bytes(v) for v in row)


def test_a_medication_of_before_issue_15_still_records_and_shows(
    practitioner: Any, patient: Any
) -> None:
    old = {"drug": "Paracétamol 1 g", "dose": "1", "frequency": "3x/j", "duration": "5 jours"}
    services.record_entry(actor_for(practitioner), patient.uid, "medication", old)
    page = client_for(practitioner).get(f"/patients/{patient.uid}/").content.decode()
    active = page[page.index('data-testid="active-medications"') :]
    assert "Paracétamol 1 g" in active[: active.index("</ul>")]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"cnk": "123456"}, "exactly 7 digits"),
        ({"cnk": "12345678"}, "exactly 7 digits"),
        ({"cnk": "12a4567"}, "exactly 7 digits"),
        ({"atc": "C09AA5"}, "WHO ATC level 5"),
        ({"atc": "X09AA05"}, "WHO ATC level 5"),  # no anatomical group X
        ({"atc": "C0AAA05"}, "WHO ATC level 5"),
        ({"route": "ear"}, "choose one of the options"),
        ({"quantity": "0"}, "from 1 to 99"),
        ({"quantity": "x"}, "from 1 to 99"),
        ({"start": "2026-02-30"}, "must be a date"),
        ({"start": "2026-05-10", "stop": "2026-05-09"}, "stop date cannot be before"),
        ({"start": "2026-05-10", "not_before": "2026-05-01"}, "delivery date cannot be before"),
        ({"drug": ""}, "is required"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(
    practitioner: Any, patient: Any, change: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _prescribe(practitioner, patient, **change)
    assert not Medication.objects.exists()


def test_the_form_shows_a_bad_code_next_to_its_field(practitioner: Any, patient: Any) -> None:
    client = client_for(practitioner)
    answer = client.post(f"/clinical/{patient.uid}/medication/new/", {**PRODUCT, "cnk": "12"})
    assert answer.status_code == 200
    assert answer.context["form"].errors["cnk"] == [
        "A CNK code has exactly 7 digits, e.g. 0123456."
    ]
    answer = client.post(f"/clinical/{patient.uid}/medication/new/", PRODUCT)
    assert answer.status_code == 302


def test_a_stop_on_its_start_day_is_allowed(practitioner: Any, patient: Any) -> None:
    entry = _prescribe(practitioner, patient, start="2026-05-10", stop="2026-05-10")
    assert entry.values["stop"] == "2026-05-10"


# --- the active list --------------------------------------------------------------------------


def test_the_active_list_keeps_stopped_medications_apart(practitioner: Any, patient: Any) -> None:
    _prescribe(practitioner, patient, drug="Activine")
    _prescribe(practitioner, patient, drug="Endedine", start="2025-01-01", stop="2025-02-01")
    _prescribe(practitioner, patient, drug="Todayine", stop=TODAY.isoformat(), start="2025-01-01")
    chart = services.access_chart(actor_for(practitioner), patient.uid)
    active, stopped = medications.split_active(chart.entries["medication"], TODAY)
    assert [e.values["drug"] for e in active] == ["Activine"]
    assert {e.values["drug"] for e in stopped} == {
        "Endedine",
        "Todayine",
    }  # stop: first day without
    page = client_for(practitioner).get(f"/patients/{patient.uid}/").content.decode()
    shown = page[page.index('data-testid="active-medications"') :]
    listed, apart = shown.split('data-testid="stopped-medications"', 1)
    assert "Activine" in listed and "Endedine" not in listed
    assert "Endedine" in apart and "Todayine" in apart


# --- stop and renew, through the gate ----------------------------------------------------------


def test_stop_is_a_new_version_and_audited(practitioner: Any, patient: Any) -> None:
    entry = _prescribe(practitioner, patient)
    client = client_for(practitioner)
    assert client.post(f"/clinical/medication/{entry.uid}/stop/").status_code == 302
    (current,) = services.access_chart(actor_for(practitioner), patient.uid).entries["medication"]
    assert current.values["stop"] == TODAY.isoformat() and current.corrected
    assert not medications.is_active(current.values, TODAY)
    (event,) = events(action="update", resource="clinical.Medication")
    assert event.outcome == "success" and event.resource_ref == entry.uid
    assert _detail(event)["medication"] == "stop" and _detail(event)["stop"] == TODAY.isoformat()
    assert _detail(event)["new_version"] == current.uid
    # Stopping it again is refused with a reason, and the refusal is audited too.
    answer = client.post(f"/clinical/medication/{current.uid}/stop/", follow=True)
    assert "already stopped" in answer.content.decode()
    assert events(action="update", resource="clinical.Medication")[-1].outcome == "failure"


def test_a_medication_starting_later_stops_on_its_start(practitioner: Any, patient: Any) -> None:
    later = (TODAY + dt.timedelta(days=5)).isoformat()
    entry = _prescribe(practitioner, patient, start=later, stop=None)
    prescriptions.stop_medication(actor_for(practitioner), entry.uid)
    (current,) = services.access_chart(actor_for(practitioner), patient.uid).entries["medication"]
    assert current.values["stop"] == later


def test_renewal_is_a_new_prescription_from_today(practitioner: Any, patient: Any) -> None:
    entry = _prescribe(practitioner, patient, not_before=PRODUCT["start"])
    client = client_for(practitioner)
    assert client.post(f"/clinical/medication/{entry.uid}/renew/").status_code == 302
    chart = services.access_chart(actor_for(practitioner), patient.uid)
    active, stopped = medications.split_active(chart.entries["medication"], TODAY)
    (renewed,) = active
    (earlier,) = stopped
    assert renewed.values["start"] == TODAY.isoformat()
    assert renewed.values["stop"] == (TODAY + dt.timedelta(days=90)).isoformat()  # same length
    assert renewed.values["not_before"] is None and not renewed.corrected
    for name in ("drug", "cnk", "atc", "strength", "dose", "frequency", "route", "quantity"):
        assert renewed.values[name] == entry.values[name]
    assert earlier.values["stop"] == TODAY.isoformat()  # the earlier one stops today
    (event,) = events(action="create", resource="clinical.Medication", resource_ref=renewed.uid)
    assert _detail(event)["medication"] == "renewal" and _detail(event)["renewal_of"] == entry.uid
    assert _detail(event)["stopped_version"] == earlier.uid


def test_renewing_a_stopped_medication_leaves_it_as_it_was(practitioner: Any, patient: Any) -> None:
    entry = _prescribe(practitioner, patient, start="2025-01-01", stop="2025-02-01")
    renewed, _uid = prescriptions.renew_medication(actor_for(practitioner), entry.uid)
    (event,) = events(action="create", resource_ref=renewed.uid)
    assert "stopped_version" not in _detail(event)
    assert Medication.objects.get(uid=entry.uid).superseded_at is None


def test_an_old_version_cannot_be_stopped_or_renewed(practitioner: Any, patient: Any) -> None:
    entry = _prescribe(practitioner, patient)
    prescriptions.stop_medication(actor_for(practitioner), entry.uid)
    for act in (prescriptions.stop_medication, prescriptions.renew_medication):
        with pytest.raises(ValidationError, match="Only the current version"):
            act(actor_for(practitioner), entry.uid)


@pytest.mark.parametrize("role", [Role.SECRETARY, Role.MANAGER, Role.AUDITOR])
def test_other_roles_can_neither_stop_renew_nor_print(
    practitioner: Any, patient: Any, role: Role
) -> None:
    entry = _prescribe(practitioner, patient)
    actor = actor_for(make_user(role))
    for act in (prescriptions.stop_medication, prescriptions.renew_medication):
        with pytest.raises(AccessDenied):
            act(actor, entry.uid)
    with pytest.raises(AccessDenied):
        printing.print_prescription(actor, entry.uid, with_niss=False)
    with pytest.raises(AccessDenied):
        prescriptions.set_prescriber_number(actor, RIZIV)
    assert {e.outcome for e in events(actor=actor.user)} == {"denied"}
    assert not PrintLog.objects.exists()


def test_a_nurse_records_and_stops_but_does_not_prescribe(practitioner: Any, patient: Any) -> None:
    nurse = make_user(Role.NURSE)
    entry = _prescribe(practitioner, patient)
    from secretum.access import care

    care.declare_care(actor_for(nurse), patient.uid)
    prescriptions.stop_medication(actor_for(nurse), entry.uid)
    other = _prescribe(nurse, patient)
    with pytest.raises(AccessDenied):
        prescriptions.renew_medication(actor_for(nurse), other.uid)
    with pytest.raises(AccessDenied):
        printing.print_prescription(actor_for(nurse), other.uid, with_niss=False)
    assert client_for(nurse).get("/clinical/prescriber/").status_code == 403


def test_a_practitioner_without_care_relationship_is_refused(
    practitioner: Any, patient: Any
) -> None:
    entry = _prescribe(practitioner, patient)
    stranger = make_user(Role.PRACTITIONER)
    _set_riziv(stranger)
    for act in (prescriptions.stop_medication, prescriptions.renew_medication):
        with pytest.raises(AccessDenied):
            act(actor_for(stranger), entry.uid)
    with pytest.raises(AccessDenied):
        printing.print_prescription(actor_for(stranger), entry.uid, with_niss=False)
    assert not PrintLog.objects.exists()
    assert Medication.objects.count() == 1


def test_the_system_has_no_prescriber_number(practitioner: Any, patient: Any) -> None:
    from secretum.access.actor import Actor, Purpose

    system = Actor.system(Purpose.MAINTENANCE)
    assert prescriptions.prescriber_number(system.user) is None
    with pytest.raises(AccessDenied):
        prescriptions.set_prescriber_number(system, RIZIV)
    entry = _prescribe(practitioner, patient)
    with pytest.raises(AccessDenied):
        prescriptions.access_prescription(system, entry.uid)


# --- the prescriber's number -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("1234562500", "has 11 digits"),
        ("1234562500x", "has 11 digits"),
        ("12345626004", "check digits do not match"),
    ],
)
def test_a_bad_riziv_number_is_refused(practitioner: Any, typed: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        prescriptions.set_prescriber_number(actor_for(practitioner), typed)
    assert not Prescriber.objects.exists()


def test_the_riziv_number_is_set_on_its_page_and_audited(practitioner: Any) -> None:
    client = client_for(practitioner)
    assert "No number set yet." in client.get("/clinical/prescriber/").content.decode()
    answer = client.post("/clinical/prescriber/", {"riziv": "1-23456-25-004"})
    assert answer.status_code == 302
    assert prescriptions.prescriber_number(practitioner) == RIZIV
    wrong = client.post("/clinical/prescriber/", {"riziv": "1-23456-26-004"})
    assert "check digits do not match" in wrong.content.decode()
    client.post("/clinical/prescriber/", {"riziv": "10829059004"})  # changed: one row still
    assert Prescriber.objects.get().riziv == "10829059004"
    (first, second) = events(action="update", resource="clinical.Prescriber")
    assert _detail(first)["riziv"] == RIZIV and second.outcome == "success"
    assert medications.riziv_display(RIZIV) == "1-23456-25-004"


def test_a_riziv_number_altered_in_the_database_is_not_printed(
    practitioner: Any, patient: Any
) -> None:
    _set_riziv(practitioner)
    Prescriber.objects.update(riziv="10829059004")  # without the key file: the seal breaks
    assert prescriptions.prescriber_number(practitioner) is None
    (alert,) = events(action="read", resource="clinical.Prescriber")
    assert alert.outcome == "failure" and _detail(alert)["problem"] == TAMPERED
    entry = _prescribe(practitioner, patient)
    with pytest.raises(ValidationError, match="Set your RIZIV/INAMI number"):
        printing.print_prescription(actor_for(practitioner), entry.uid, with_niss=False)


def test_a_medication_altered_in_the_database_is_never_printed(
    practitioner: Any, patient: Any
) -> None:
    """What a physician signs is what they recorded: a medication whose row was changed outside
    Secretum (its seal broken), or a record whose set of entries was (a row deleted), is
    refused, the alteration reported; nothing is printed."""
    _set_riziv(practitioner)
    entry = _prescribe(practitioner, patient)
    other = _prescribe(practitioner, patient, drug="Quzamol")
    Medication.objects.filter(uid=entry.uid).update(row_seal=b"\x00" * 32)
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        printing.print_prescription(actor_for(practitioner), entry.uid, with_niss=False)
    Medication.objects.filter(uid=entry.uid).delete()
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        printing.print_prescription(actor_for(practitioner), other.uid, with_niss=False)
    assert not PrintLog.objects.exists()
    assert [e.outcome for e in events(action="print")] == ["failure", "failure"]


# --- the printed prescription (P1, C3) ----------------------------------------------------------


def test_no_prescription_is_printed_without_a_riziv_number(practitioner: Any, patient: Any) -> None:
    entry = _prescribe(practitioner, patient)
    answer = client_for(practitioner).post(
        f"/compliance/print/prescription/{entry.uid}/", follow=True
    )
    assert answer.redirect_chain[-1][0] == "/clinical/prescriber/"
    assert "Set your RIZIV/INAMI number" in answer.content.decode()
    assert not PrintLog.objects.exists()
    (printed,) = events(action="print")
    assert printed.outcome == "failure"


def test_the_prescription_prints_names_as_written_logged_and_watermarked(
    practitioner: Any,
) -> None:
    practitioner.first_name, practitioner.last_name = "Łukasz", "Wałęsa"
    practitioner.save()
    actor = actor_for(practitioner)
    patient = patients.register_patient(
        actor, identity(family_name="Yılmaz", given_name="Ayşe Żółć")
    )
    entry = _prescribe(practitioner, patient, not_before=(TODAY + dt.timedelta(days=3)).isoformat())
    _set_riziv(practitioner)
    answer = client_for(practitioner).post(
        f"/compliance/print/prescription/{entry.uid}/", {"niss": "on"}
    )
    assert answer.status_code == 200 and answer["Content-Type"] == "application/pdf"
    text = pdf_text(answer.content)
    assert "PRESCRIPTION DE MÉDICAMENTS / VOORSCHRIFT VOOR GENEESMIDDELEN" in text
    assert "Łukasz Wałęsa" in text and "1-23456-25-004" in text
    assert "YILMAZ" in text.upper() and "Ayşe Żółć" in text
    assert patient.niss_display in text
    assert "Amlodipine Quzpharma 5 mg (CNK 1234567, ATC C09AA05)" in text
    assert "1 comprimé - 1x/jour - oral" in text and "Packages: 2" in text
    assert "Date de délivrance à partir de / Datum van aflevering vanaf" in text
    assert (TODAY + dt.timedelta(days=3)).strftime("%d/%m/%Y") in text
    assert "Cachet du prescripteur / Stempel van de voorschrijver" in text
    assert "Confidential — destroy by shredding after use" in text
    assert f"printed by Łukasz Wałęsa ({practitioner.username}) on " in text  # the footer
    # The watermark, drawn first: rotated, its letters read back with a space here and there.
    assert text.replace(" ", "").startswith(f"ŁukaszWałęsa({practitioner.username})-")
    log = PrintLog.objects.get()
    assert (log.document, log.scope, log.patient_ref, log.user) == (
        "prescription",
        "medical",
        patient.uid,
        practitioner,
    )
    (event,) = events(action="print")
    assert (event.outcome, event.resource, event.resource_ref) == (
        "success",
        "clinical.Medication",
        str(log.uid),
    )
    assert _detail(event)["document"] == "prescription" and _detail(event)["niss"] is True
    assert _detail(event)["medication"] == entry.uid and event.patient_ref == patient.uid


def test_the_national_number_prints_only_when_asked(practitioner: Any, patient: Any) -> None:
    entry = _prescribe(practitioner, patient, not_before=None)
    _set_riziv(practitioner)
    printed = printing.print_prescription(actor_for(practitioner), entry.uid, with_niss=False)
    text = pdf_text(printed.data)
    assert patient.niss_display not in text and "NISS / INSZ" not in text
    assert TODAY.strftime("%d/%m/%Y") in text  # delivered from the day it is written


def test_a_prescription_of_an_old_row_prints(practitioner: Any, patient: Any) -> None:
    old = {"drug": "Paracétamol 1 g", "dose": "1", "frequency": "3x/j", "duration": "5 jours"}
    entry = services.record_entry(actor_for(practitioner), patient.uid, "medication", old)
    _set_riziv(practitioner)
    text = pdf_text(
        printing.print_prescription(actor_for(practitioner), entry.uid, with_niss=False).data
    )
    assert "Paracétamol 1 g" in text and "1 - 3x/j" in text and "Duration: 5 jours" in text


# --- the FHIR export of the new fields --------------------------------------------------------


def _statements(practitioner: Any, patient: Any) -> list[dict[str, Any]]:
    import io

    from fhir.resources.R4B.medicationstatement import MedicationStatement

    from secretum.exchange import services as exchange

    out = io.BytesIO()
    exchange.export_patient(
        actor_for(practitioner), patient.uid, out, plain_reason="Fictitious: test of the shape."
    )
    found = [
        e["resource"]
        for e in json.loads(out.getvalue())["entry"]
        if e["resource"]["resourceType"] == "MedicationStatement"
    ]
    for resource in found:
        MedicationStatement.model_validate(resource)  # valid R4
    return sorted(found, key=lambda r: r["medicationCodeableConcept"]["text"])


def test_fhir_codes_the_product_by_cnk_and_atc_with_its_period(
    practitioner: Any, patient: Any
) -> None:
    _prescribe(practitioner, patient)
    _prescribe(practitioner, patient, drug="Endedine", start="2025-01-01", stop="2025-02-01")
    services.record_entry(
        actor_for(practitioner),
        patient.uid,
        "medication",
        {"drug": "Paracétamol 1 g", "dose": "1", "frequency": "3x/j", "duration": "5 jours"},
    )
    taken, ended, old = _statements(practitioner, patient)
    assert taken["medicationCodeableConcept"] == {
        "text": "Amlodipine Quzpharma 5 mg",
        "coding": [
            {
                "system": "https://www.ehealth.fgov.be/standards/fhir/medication/NamingSystem/cnk-codes",
                "code": "1234567",
            },
            {"system": "http://www.whocc.no/atc", "code": "C09AA05"},
        ],
    }
    assert taken["status"] == "active"
    # FHIR's end is the last day taken; Secretum's stop, the first day without.
    assert taken["effectivePeriod"] == {
        "start": PRODUCT["start"],
        "end": medications.last_day(PRODUCT["stop"]),
    }
    assert taken["dosage"] == [{"text": "1 comprimé, 1x/jour, ", "route": {"text": "oral"}}]
    assert ended["status"] == "completed"
    # A medication of before issue 15: the product and the posology in words, as before.
    assert old["medicationCodeableConcept"] == {"text": "Paracétamol 1 g"}
    assert old["status"] == "active" and "effectivePeriod" not in old
    assert old["dosage"] == [{"text": "1, 3x/j, 5 jours"}]


def test_renewing_one_without_a_stop_date_gives_none(practitioner: Any, patient: Any) -> None:
    entry = _prescribe(practitioner, patient, stop=None)
    renewed, _uid = prescriptions.renew_medication(actor_for(practitioner), entry.uid)
    assert renewed.values["stop"] is None and renewed.values["start"] == TODAY.isoformat()


def test_the_page_says_why_a_renewal_is_refused(practitioner: Any, patient: Any) -> None:
    entry = _prescribe(practitioner, patient)
    prescriptions.stop_medication(actor_for(practitioner), entry.uid)  # entry: an old version
    answer = client_for(practitioner).post(f"/clinical/medication/{entry.uid}/renew/", follow=True)
    assert answer.redirect_chain[-1][0] == f"/patients/{patient.uid}/"
    assert "Only the current version of a medication can be used." in answer.content.decode()


def test_a_prescription_is_printed_by_a_person(practitioner: Any, patient: Any) -> None:
    from secretum.access.actor import Actor, Purpose

    entry = _prescribe(practitioner, patient)
    with pytest.raises(AccessDenied, match="made by a person"):
        printing.print_prescription(Actor.system(Purpose.MAINTENANCE), entry.uid, with_niss=False)
    assert not PrintLog.objects.exists()


# --- the upgrade (clinical/0006): old rows' seals renewed, an altered one left altered ----------

OLD = {"drug": "Paracétamol 1 g", "dose": "1", "frequency": "3x/j", "duration": "5 jours"}


def _migration() -> Any:
    import importlib

    return importlib.import_module("secretum.clinical.migrations.0006_medication_prescriptions")


def _as_before_the_upgrade(uid: str, patient: Any, *, altered: bool = False) -> None:
    """A medication row as the previous release wrote it: sealed over its four fields, the record
    sealed over that; ``altered``: then changed outside Secretum."""
    from secretum.clinical import integrity
    from secretum.patients import integrity as records

    row = Medication.objects.get(uid=uid)
    row.row_seal = integrity.seal_of(row, str(patient.uid), _migration().BEFORE)
    Medication.objects.filter(pk=row.pk).update(row_seal=row.row_seal)
    stored = type(row).patient.get_queryset().get(pk=row.patient_id)
    stored.entries_digest = records.stored_digest(stored)
    stored.record_seal = records.seal_of(stored)
    stored.save(update_fields=["entries_digest", "record_seal"])
    if altered:
        other = Medication.objects.exclude(pk=row.pk).filter(patient_id=row.patient_id).first()
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Medication._meta.db_table} SET drug = %s WHERE id = %s",  # noqa: S608
                [other.drug, row.pk],
            )


def _renew_seals() -> None:
    from django.apps import apps

    _migration().renew_medication_seals(apps, None)


def test_the_upgrade_renews_the_seals_of_intact_medications(
    practitioner: Any, patient: Any
) -> None:
    entry = services.record_entry(actor_for(practitioner), patient.uid, "medication", OLD)
    _as_before_the_upgrade(entry.uid, patient)
    assert services.access_chart(actor_for(practitioner), patient.uid).altered  # new fields
    _renew_seals()
    chart = services.access_chart(actor_for(practitioner), patient.uid)
    assert not chart.altered and chart.entries["medication"][0].values["drug"] == OLD["drug"]
    _prescribe(practitioner, patient)  # the record takes writes


def test_the_upgrade_leaves_an_altered_medication_altered(practitioner: Any, patient: Any) -> None:
    kept = services.record_entry(actor_for(practitioner), patient.uid, "medication", OLD)
    entry = _prescribe(practitioner, patient, cnk=None, atc=None, strength=None, route=None,
                       start=None, stop=None, quantity=None)  # fmt: skip
    _as_before_the_upgrade(kept.uid, patient)
    _as_before_the_upgrade(entry.uid, patient, altered=True)  # a product swapped outside
    _renew_seals()
    assert services.access_chart(actor_for(practitioner), patient.uid).altered
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        _prescribe(practitioner, patient)
