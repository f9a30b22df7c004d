"""An attacker holding the database but not the key file alters a patient's record (issue 9; E10,
G3, O2). Every ciphertext still opens, so authenticated encryption alone says nothing; the record
seal, the entry seals and the audit log's record versions do: the chart says "altered outside
Secretum", the auditor is alerted, and nothing is written into the record until someone has
examined it. Each attack is plain SQL on the real database (SQLite or PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import importlib
import threading
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone

from secretum.audit import alerts
from secretum.audit.models import TAMPERED
from secretum.clinical import records, services
from secretum.clinical.models import Allergy, Encounter
from secretum.patients import integrity
from secretum.patients import services as patients
from secretum.patients.models import IDENTITY_FIELDS, Patient
from tests.conftest import actor_for, client_for, events, identity

ALTERED = "This record was altered outside Secretum"
ALLERGY = {"substance": "Pénicilline", "reaction": "urticaire", "severity": "severe"}
NOTE = {"reason": "Toux", "subjective": "depuis 3 jours", "objective": "", "plan": "repos"}


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


def _page(user: Any, uid: str) -> str:
    response = client_for(user).get(f"/patients/{uid}/")
    assert response.status_code == 200
    return response.text


def _tampered_alerts() -> list[str]:
    found = alerts.detect(timezone.now() - dt.timedelta(hours=1))
    return [a.reason for a in found if a.kind == "tampered"]


def _entry(user: Any, uid: str, kind: str = "allergy", data: dict[str, Any] | None = None) -> Any:
    return services.record_entry(actor_for(user), uid, kind, data or ALLERGY)


def _pk(model: Any, uid: str) -> int:
    return int(model.objects.values_list("pk", flat=True).get(uid=uid))


def _assert_altered(user: Any, uid: str, *, identity_too: bool = False) -> None:
    """Shown, reported, alerted; no entry written into the record (a new seal would launder the
    alteration), nor the identity changed when it is the identity that was altered."""
    assert ALTERED in _page(user, uid)
    assert services.access_chart(actor_for(user), uid).altered
    assert events(patient_ref=uid, detail__contains=TAMPERED)
    assert _tampered_alerts()
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        _entry(user, uid)
    change = identity(family_name="Autrenom")
    if identity_too:
        with pytest.raises(ValidationError, match="altered outside Secretum"):
            patients.update_patient(actor_for(user), uid, change)
    else:  # the secretary's work on an identity goes on
        assert patients.update_patient(actor_for(user), uid, change).family_name == "Autrenom"
        assert services.access_chart(actor_for(user), uid).altered  # and still says so


def test_a_record_written_through_secretum_is_intact(practitioner: Any, patient: Any) -> None:
    """Control: recording, correcting, retracting and editing the identity keep every seal."""
    actor = actor_for(practitioner)
    allergy = _entry(practitioner, patient.uid)
    note = _entry(practitioner, patient.uid, "encounter", NOTE)
    services.correct_entry(actor, "encounter", note.uid, {**NOTE, "plan": "revoir dans 8 jours"})
    services.retract_entry(actor, "allergy", allergy.uid)
    patients.update_patient(actor, patient.uid, identity(family_name="Zorbanova"))
    assert ALTERED not in _page(practitioner, patient.uid)
    assert not services.access_chart(actor, patient.uid).altered
    assert not events(detail__contains=TAMPERED) and _tampered_alerts() == []
    call_command("records_verify")
    # Each write (the registration and five more) counted one version; its audit event says which.
    assert Patient.objects.get(uid=patient.uid).record_version == 6
    versions = [e.detail for e in events(patient_ref=patient.uid, outcome="success")]
    assert [d for d in versions if '"record_version":' in d][-1].count('"record_version":6') == 1
    assert sum('"record_version":' in d for d in versions) == 6


def test_an_older_identity_value_written_back_is_detected(practitioner: Any, patient: Any) -> None:
    """E10: the family name's older ciphertext, valid under the patient's key, written back over
    the current one: it decrypts, and the record seal tells it is not the current value."""
    before = bytes(Patient.objects.get(uid=patient.uid).family_name)
    patients.update_patient(actor_for(practitioner), patient.uid, identity(family_name="Nouveau"))
    _sql(
        "UPDATE patients_patient SET family_name = %s WHERE id = %s",
        before,
        _pk(Patient, patient.uid),
    )
    assert patients.access_patient(actor_for(practitioner), patient.uid).altered
    _assert_altered(practitioner, patient.uid, identity_too=True)


def test_a_deleted_allergy_is_detected(practitioner: Any, patient: Any) -> None:
    """Patient safety: an allergy deleted in the database is not silently absent."""
    allergy = _entry(practitioner, patient.uid)
    _entry(practitioner, patient.uid, "encounter", NOTE)
    _sql("DELETE FROM clinical_allergy WHERE id = %s", _pk(Allergy, allergy.uid))
    _assert_altered(practitioner, patient.uid)


def test_an_un_retracted_entry_is_detected(practitioner: Any, patient: Any) -> None:
    """An entry marked "entered in error" made current again, alone or with the row seal it had
    before the retraction (from an older copy of the database)."""
    allergy = _entry(practitioner, patient.uid)
    pk = _pk(Allergy, allergy.uid)
    seal = bytes(Allergy.objects.get(pk=pk).row_seal)
    services.retract_entry(actor_for(practitioner), "allergy", allergy.uid)
    _sql("UPDATE clinical_allergy SET retracted = %s WHERE id = %s", False, pk)
    assert services.access_chart(actor_for(practitioner), patient.uid).altered
    _sql("UPDATE clinical_allergy SET row_seal = %s WHERE id = %s", seal, pk)
    _assert_altered(practitioner, patient.uid)


def test_a_superseded_version_made_current_again_is_detected(
    practitioner: Any, patient: Any
) -> None:
    note = _entry(practitioner, patient.uid, "encounter", NOTE)
    services.correct_entry(
        actor_for(practitioner), "encounter", note.uid, {**NOTE, "plan": "antibiotique"}
    )
    _sql(
        "UPDATE clinical_encounter SET superseded_at = NULL WHERE id = %s", _pk(Encounter, note.uid)
    )
    _assert_altered(practitioner, patient.uid)


def test_an_entry_dated_back_is_detected(practitioner: Any, patient: Any) -> None:
    note = _entry(practitioner, patient.uid, "encounter", NOTE)
    earlier = timezone.now() - dt.timedelta(days=400)
    Encounter.objects.filter(uid=note.uid).update(recorded_at=earlier)  # an UPDATE, no seal
    _assert_altered(practitioner, patient.uid)


def test_an_entry_moved_from_another_record_is_detected_in_both(practitioner: Any) -> None:
    """An allergy moved to another patient: under the other patient's key it does not open, so
    it is left out (never a server error), and both records say they were altered."""
    first = patients.register_patient(actor_for(practitioner), identity())
    second = patients.register_patient(actor_for(practitioner), identity())
    allergy = _entry(practitioner, first.uid)
    _sql(
        "UPDATE clinical_allergy SET patient_id = %s WHERE id = %s",
        _pk(Patient, second.uid),
        _pk(Allergy, allergy.uid),
    )
    chart = services.access_chart(actor_for(practitioner), second.uid)
    assert chart.altered and chart.entries["allergy"] == []
    assert "Pénicilline" not in _page(practitioner, second.uid)
    _assert_altered(practitioner, first.uid)


def test_a_whole_record_put_back_from_an_older_copy_is_detected(
    practitioner: Any, patient: Any
) -> None:
    """The attacker restores the patient row, seal and all, from last month's backup and deletes
    the allergy recorded since: every seal matches, but the audit log holds a write of a later
    version than the record's."""
    columns = [*IDENTITY_FIELDS, "record_version", "entries_digest", "record_seal"]
    older = Patient.objects.values_list(*columns).get(uid=patient.uid)
    allergy = _entry(practitioner, patient.uid)
    _sql("DELETE FROM clinical_allergy WHERE id = %s", _pk(Allergy, allergy.uid))
    assignments = ", ".join(f"{c} = %s" for c in columns)
    _sql(
        f"UPDATE patients_patient SET {assignments} WHERE id = %s",  # noqa: S608  (our columns)
        *older,
        _pk(Patient, patient.uid),
    )
    assert not patients.access_patient(actor_for(practitioner), patient.uid).altered
    _assert_altered(practitioner, patient.uid, identity_too=True)


def test_a_search_lists_an_altered_record_marked_and_reports_it(
    practitioner: Any, patient: Any
) -> None:
    """The patient is still found (care comes first), marked as altered, and reported."""
    _sql("UPDATE patients_patient SET record_version = 7 WHERE id = %s", _pk(Patient, patient.uid))
    response = client_for(practitioner).post("/patients/", {"q": patient.niss})
    assert response.status_code == 200
    assert patient.display_name in response.text and 'data-testid="altered"' in response.text
    assert events(patient_ref=patient.uid, detail__contains=TAMPERED)


def test_records_verify_names_each_altered_record_and_acknowledge_ends_it(
    practitioner: Any, patient: Any, capsys: Any
) -> None:
    """The maintainer's way out: `records verify` names the altered record; after examining it,
    `records acknowledge` with a reason makes it the reference again, audited."""
    other = patients.register_patient(actor_for(practitioner), identity())
    allergy = _entry(practitioner, patient.uid)
    _sql("DELETE FROM clinical_allergy WHERE id = %s", _pk(Allergy, allergy.uid))
    with pytest.raises(CommandError, match="1 of 2 records were altered"):
        call_command("records_verify")
    out = capsys.readouterr().out
    assert f"ALTERED: patient {patient.uid}: set of entries" in out and other.uid not in out
    with pytest.raises(CommandError, match="10 to 200 characters"):
        call_command("records_acknowledge", patient.uid, reason="ok")
    with pytest.raises(CommandError, match="No patient has this reference"):
        call_command("records_acknowledge", "not-a-uid", reason="examined with the doctor")
    reason = "allergy deleted by a faulty import; re-entered by Dr X"
    call_command("records_acknowledge", patient.uid, reason=reason)
    assert not services.access_chart(actor_for(practitioner), patient.uid).altered
    _entry(practitioner, patient.uid)  # writes work again
    call_command("records_verify")
    (ack,) = events(patient_ref=patient.uid, detail__contains="acknowledged")
    assert ack.outcome == "success" and reason in ack.detail


def test_records_written_before_seals_are_sealed_at_the_upgrade(
    practitioner: Any, patient: Any
) -> None:
    """The migration takes every existing record as it stands, once: afterwards it is intact."""
    _entry(practitioner, patient.uid)
    _entry(practitioner, patient.uid, "encounter", NOTE)
    _sql("UPDATE clinical_allergy SET row_seal = NULL")
    _sql("UPDATE clinical_encounter SET row_seal = NULL")
    _sql("UPDATE patients_patient SET record_seal = NULL, entries_digest = NULL")
    assert services.access_chart(actor_for(practitioner), patient.uid).altered
    migration = importlib.import_module("secretum.clinical.migrations.0002_record_seals")
    migration.seal_existing_records(apps, None)
    assert not services.access_chart(actor_for(practitioner), patient.uid).altered
    _entry(practitioner, patient.uid)
    call_command("records_verify")
    assert records.REASON_MIN == 10  # the bound the command line states


@pytest.mark.django_db(transaction=True)
def test_entries_written_at_once_by_two_doctors_keep_the_record_intact(
    practitioner: Any, patient: Any
) -> None:
    """A race: two writers on one record at the same moment. Each write locks the record, so
    neither seals a set of entries that misses the other's (which would read as altered)."""
    start = threading.Barrier(2)
    failures: list[BaseException] = []

    def write(n: int) -> None:
        start.wait()
        try:
            for i in range(4):
                _entry(
                    practitioner,
                    patient.uid,
                    "observation",
                    {"code": "weight", "value": f"{70 + n}.{i}"},
                )
        except BaseException as exc:  # reported on the test's thread
            failures.append(exc)
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    chart = services.access_chart(actor_for(practitioner), patient.uid)
    assert not chart.altered and len(chart.entries["observation"]) == 8
    assert Patient.objects.get(uid=patient.uid).record_version == 9
    call_command("records_verify")


def test_a_record_put_back_is_found_however_often_it_was_read_since(
    practitioner: Any, patient: Any
) -> None:
    """The latest write a record's audit trail holds is found through an index of writes alone
    (issue 17): reads after it, this patient's and others', neither hide it nor slow the
    lookup that every chart open makes. The query names the index's condition word for word,
    and both engines' plans read that index, with no sort and no scan of the patient's reads."""
    columns = [*IDENTITY_FIELDS, "record_version", "entries_digest", "record_seal"]
    older = Patient.objects.values_list(*columns).get(uid=patient.uid)
    _entry(practitioner, patient.uid)
    other = patients.register_patient(actor_for(practitioner), identity()).uid
    for _ in range(30):
        services.access_chart(actor_for(practitioner), patient.uid)
        _entry(practitioner, other, "encounter", NOTE)
    written = Patient.objects.get(uid=patient.uid).record_version
    assert integrity.audited_version(str(patient.uid)) == written > older[-3]
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SET LOCAL enable_seqscan = off")
        explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
        cur.execute(explain + integrity._AUDITED_SQL, [str(patient.uid)])
        plan = " ".join(str(row) for row in cur.fetchall())
    assert "audit_record_writes" in plan and "TEMP B-TREE" not in plan and "Sort" not in plan
    assignments = ", ".join(f"{c} = %s" for c in columns)
    _sql(
        f"UPDATE patients_patient SET {assignments} WHERE id = %s",  # noqa: S608  (our columns)
        *older,
        _pk(Patient, patient.uid),
    )
    _assert_altered(practitioner, patient.uid, identity_too=True)
