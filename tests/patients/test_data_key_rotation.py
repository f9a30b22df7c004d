"""A patient's data key rotated (E10, O1; issue 13): `secretum keys rotate --patient` leaves no
value of the record under the old key (read in the raw rows), every value still reads the same,
the seals hold and the write is audited; interrupted, nothing changed; an altered record is
refused, never sealed again."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from secretum.access.actor import Actor
from secretum.clinical import services as clinical
from secretum.clinical.models import Problem
from secretum.crypto import keyring
from secretum.documents import services as documents
from secretum.documents.models import Document
from secretum.patients import dekrotation, integrity, services
from secretum.patients.models import Patient
from tests.conftest import actor_for, events, identity
from tests.documents import conftest as documents_conftest
from tests.documents import samples

# A real clamd for the document attached (tests/documents/conftest.py).
clamd_socket = documents_conftest.clamd_socket
scanner = documents_conftest.scanner

ALLERGY = {"substance": "Pénicilline", "reaction": "urticaire", "severity": "severe"}
NOTE = {"reason": "Toux", "subjective": "depuis 3 jours", "objective": "", "plan": "repos"}


def _rotate(*patients: str) -> str:
    out = io.StringIO()
    call_command("keys_rotate", patient=list(patients), stdout=out, stderr=out)
    return out.getvalue()


def _record(practitioner: Any) -> services.PatientIdentity:
    """A patient with an allergy, a note corrected once (its earlier version kept), a retracted
    problem, a lab result, a vaccination and a letter."""
    actor = actor_for(practitioner)
    person = services.register_patient(actor, identity(family_name="Roelandtsova"))
    clinical.record_entry(actor, person.uid, "allergy", ALLERGY)
    note = clinical.record_entry(actor, person.uid, "encounter", NOTE)
    clinical.correct_entry(actor, "encounter", note.uid, {**NOTE, "plan": "revoir dans 8 jours"})
    problem = clinical.record_entry(
        actor, person.uid, "problem", {"system": "icpc-2", "code": "K86", "label": "HTA"}
    )
    clinical.retract_entry(actor, "problem", problem.uid)
    clinical.record_entry(
        actor, person.uid, "lab", {"loinc": "2345-7", "value": "98", "taken_on": "2026-01-05"}
    )
    vaccine = {
        "vaccine": "Grippe",
        "lot": "L1",
        "given_on": "2026-01-05",
        "dose": "1",
        "site": "oral",
    }
    clinical.record_entry(actor, person.uid, "vaccination", vaccine)
    documents.attach_document(actor, person.uid, name="lettre-fictive.pdf", data=samples.pdf())
    return person


def _sealed(uid: str) -> dict[tuple[str, int, str], tuple[Any, bytes]]:
    """Every sealed value of the patient's record as the database holds it: (table, row, field)
    -> (row, ciphertext)."""
    patient = Patient.objects.get(uid=uid)
    rows: list[Any] = [patient]
    for kind in integrity.ENTRY_KINDS.values():
        rows += list(kind.model._base_manager.filter(patient_id=patient.pk))
    found = {}
    for row in rows:
        for name in dekrotation.sealed_fields(type(row)):
            blob = getattr(row, name)
            if blob is not None:
                found[(row._meta.db_table, row.pk, name)] = (row, bytes(blob))
    return found


def _key(uid: str) -> keyring.DataKey:
    return services.patient_key(Patient.objects.get(uid=uid))


def test_a_rotated_patient_key_leaves_no_value_under_the_old_one(
    practitioner: Any, scanner: str
) -> None:
    """E10: by national number; every ciphertext of the identity, the entries (superseded and
    retracted versions too) and the document changed, none opens under the old key, each opens
    under the new one to the same value; the record verifies, one version on, audited."""
    person = _record(practitioner)
    old_key, before = _key(person.uid), _sealed(person.uid)
    tables = {table for table, _pk, _name in before}
    assert {"patients_patient", "clinical_encounter", "clinical_problem"} <= tables
    assert {"clinical_allergy", "documents_document"} <= tables
    assert {"clinical_labresult", "clinical_vaccination"} <= tables
    assert len([k for k in before if k[0] == "clinical_encounter"]) >= 6  # two versions
    version = Patient.objects.get(uid=person.uid).record_version
    wrapped = bytes(Patient.objects.get(uid=person.uid).wrapped_key)
    out = _rotate(person.niss_display)
    assert f"{person.uid}: new data key" in out and "1 of 1 patients' data keys rotated" in out
    patient = Patient.objects.get(uid=person.uid)
    assert bytes(patient.wrapped_key) != wrapped
    new_key, after = _key(person.uid), _sealed(person.uid)
    assert after.keys() == before.keys()
    for place, (row, old_blob) in before.items():
        new_row, new_blob = after[place]
        aad = new_row.aad_of(place[2])
        assert new_blob != old_blob, place
        with pytest.raises(keyring.DecryptionError):
            old_key.open_bytes(new_blob, aad)
        assert new_key.open_bytes(new_blob, aad) == old_key.open_bytes(
            old_blob, row.aad_of(place[2])
        )
    assert integrity.intact(patient) and integrity.entries_intact(patient)
    assert patient.record_version == version + 1
    chart = clinical.access_chart(actor_for(practitioner), person.uid)
    assert not chart.altered
    [letter] = documents.patient_documents(actor_for(practitioner), person.uid)
    opened = documents.open_document(actor_for(practitioner), letter.uid)
    assert opened.data == samples.pdf()
    [event] = [e for e in events(patient_ref=person.uid) if '"data_key"' in e.detail]
    detail = json.loads(event.detail)
    assert detail["data_key"] == "rotated" and detail[integrity.VERSION_KEY] == version + 1
    assert integrity.audited_version(person.uid) == version + 1
    verified = io.StringIO()
    call_command("records_verify", stdout=verified)
    assert "altered" not in verified.getvalue().replace("0 altered", "")
    # Search and writes go on under the new key.
    found = services.search_patients(actor_for(practitioner), person.niss)
    assert [p.uid for p in found.patients] == [person.uid]
    clinical.record_entry(actor_for(practitioner), person.uid, "allergy", ALLERGY)


def test_an_interrupted_rotation_changes_nothing(
    practitioner: Any, scanner: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process fails after the identity and some entries were sealed again in memory and
    written: the transaction rolls back; every value still opens under the key the row wraps."""
    person = _record(practitioner)
    before = _sealed(person.uid)
    wrapped = bytes(Patient.objects.get(uid=person.uid).wrapped_key)
    document = integrity.ENTRY_KINDS["document"]

    def dies(row: Any, patient_uid: str) -> None:
        raise KeyboardInterrupt  # the process dies here

    monkeypatch.setitem(integrity.ENTRY_KINDS, "document", replace(document, stamp=dies))
    with pytest.raises(KeyboardInterrupt):
        dekrotation.rotate_patient_key(Actor.system(), person.uid)
    assert bytes(Patient.objects.get(uid=person.uid).wrapped_key) == wrapped
    after, key = _sealed(person.uid), _key(person.uid)
    assert {k: v[1] for k, v in after.items()} == {k: v[1] for k, v in before.items()}
    for place, (row, blob) in after.items():
        key.open_bytes(blob, row.aad_of(place[2]))
    assert integrity.intact(Patient.objects.get(uid=person.uid))


def test_an_altered_record_is_refused_and_reported(practitioner: Any) -> None:
    """An entry un-retracted in the database: the rotation refuses the record (a new seal
    would launder it), writes nothing, reports it; the command names it and exits non-zero."""
    actor = actor_for(practitioner)
    person = services.register_patient(actor, identity())
    problem = clinical.record_entry(
        actor, person.uid, "problem", {"system": "icpc-2", "code": "K86", "label": "HTA"}
    )
    clinical.retract_entry(actor, "problem", problem.uid)
    Problem.objects.filter(uid=problem.uid).update(retracted=False)
    before = _sealed(person.uid)
    with pytest.raises(CommandError, match="1 patients' data keys were not rotated"):
        _rotate(person.uid)
    assert {k: v[1] for k, v in _sealed(person.uid).items()} == {k: v[1] for k, v in before.items()}
    assert [e for e in events(patient_ref=person.uid) if e.outcome == "failure"]


def test_every_patient_at_once_and_names_that_match_nobody(practitioner: Any) -> None:
    actor = actor_for(practitioner)
    made = [services.register_patient(actor, identity()) for _ in range(3)]
    keys = {p.uid: bytes(Patient.objects.get(uid=p.uid).wrapped_key) for p in made}
    assert "3 of 3 patients' data keys rotated" in _rotate("all")
    assert all(bytes(Patient.objects.get(uid=u).wrapped_key) != k for u, k in keys.items())
    with pytest.raises(CommandError, match="No patient has the national number"):
        _rotate("85.07.30-033.28")
    with pytest.raises(CommandError, match=r"check digits|national number"):
        _rotate("85.07.30-033.29")
    with pytest.raises(CommandError, match="1 patients' data keys were not rotated"):
        _rotate("8f14e45f-ceea-467f-a0e6-7f1b2c3d4e5f")
    assert Document.objects.count() == 0
