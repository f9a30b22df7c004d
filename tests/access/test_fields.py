"""The classification decides what is decrypted, whatever a view or a service asks (C1, E10;
issue 10): every sealed field of a patient is opened through the gate's reader, which opens a
field only for a role that reads its class, a medical field only on a basis for this patient,
and a secret never."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from secretum.access.actor import Actor
from secretum.access.fields import FieldRefused
from secretum.access.guard import guarded
from secretum.access.policy import Permission, Role
from secretum.audit.models import Action
from secretum.clinical import services as clinical
from secretum.clinical.models import Allergy
from secretum.patients import services as patients
from secretum.patients.models import Patient
from tests.conftest import actor_for, events, identity, make_user

SECRETUM = Path(__file__).resolve().parents[2] / "secretum"
ALLERGY = {"substance": "Sésame", "reaction": "urticaire", "severity": "mild"}
# The only places that call ``unseal`` besides the reader: a lookup that compares a national
# number and returns only an opaque reference (the auditor's report, by number); the restore
# drill (I3), which proves that a sample of a scratch copy's records still decrypts and keeps,
# shows and returns no value.
UNSEAL_ALLOWED = {
    ("patients/services.py", "patient_ref_for_niss"),
    ("access/fields.py", "open"),
    ("backup/management/commands/backup_drill_check.py", "_sample"),
    # A search index rebuilt (E10): each patient's identity read to compute its new tokens,
    # by the instance's owner at the command line; nothing shown or returned but counts.
    ("patients/reindex.py", "_values"),
}


def _unseal_calls(root: Path = SECRETUM) -> list[tuple[str, str, int]]:
    found = []
    for path in root.rglob("*.py"):
        rel = str(path.relative_to(root))
        if "migrations" in path.parts or rel == "crypto/fields.py":
            continue
        tree = ast.parse(path.read_text())
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "unseal"
                    and (rel, func.name) not in UNSEAL_ALLOWED
                ):
                    found.append((rel, func.name, node.lineno))
    return found


def test_no_service_decrypts_a_patients_field_but_through_the_reader() -> None:
    assert _unseal_calls() == []


def test_the_checker_finds_a_direct_decryption(tmp_path: Path) -> None:
    """The test above can fail: a service that calls ``unseal`` itself is named."""
    (tmp_path / "clinical").mkdir()
    rogue = tmp_path / "clinical" / "rogue.py"
    rogue.write_text("def leak(row, key):\n    return row.unseal(key, 'substance')\n")
    assert _unseal_calls(tmp_path) == [("clinical/rogue.py", "leak", 2)]


@pytest.fixture
def chart(practitioner: Any) -> tuple[str, Any]:
    uid = patients.register_patient(actor_for(practitioner), identity()).uid
    entry = clinical.record_entry(actor_for(practitioner), uid, "allergy", ALLERGY)
    return uid, Allergy.objects.get(uid=entry.uid)


def _read(actor: Actor, permission: Permission, uid: str, row: Any, name: str) -> Any:
    """What a service of ``permission`` would get if it asked the reader for ``name``."""
    with guarded(actor, permission, Action.READ, "test.Fields", patient_ref=uid) as event:
        patient, key = patients.open_patient(uid)
        return event.reader(key).open(row if row is not None else patient, name)


def test_a_medical_field_is_never_opened_for_a_role_without_medical_access(
    chart: tuple[str, Any],
) -> None:
    uid, allergy = chart
    secretary = actor_for(make_user(Role.SECRETARY))
    assert _read(secretary, Permission.PATIENT_IDENTITY_READ, uid, None, "family_name")
    with pytest.raises(FieldRefused):
        _read(secretary, Permission.PATIENT_IDENTITY_READ, uid, allergy, "substance")
    (refused,) = events(resource="test.Fields", outcome="denied")
    assert '"problem":"field-class"' in refused.detail
    assert "clinical.Allergy.substance" in refused.detail and "Sésame" not in refused.detail


def test_a_medical_field_needs_a_basis_for_this_patient_not_only_the_role(
    chart: tuple[str, Any],
) -> None:
    """A practitioner's identity read of a patient not in their care opens the identity, and
    no medical field through it, though the role reads medical data."""
    uid, allergy = chart
    colleague = actor_for(make_user(Role.PRACTITIONER))
    assert _read(colleague, Permission.PATIENT_IDENTITY_READ, uid, None, "niss")
    with pytest.raises(FieldRefused):
        _read(colleague, Permission.PATIENT_IDENTITY_READ, uid, allergy, "substance")


def test_the_auditor_reads_the_name_of_a_report_and_nothing_else(
    chart: tuple[str, Any],
) -> None:
    uid, allergy = chart
    auditor = actor_for(make_user(Role.AUDITOR))
    assert _read(auditor, Permission.AUDIT_READ, uid, None, "family_name")
    for name in ("niss", "street", "phone"):
        with pytest.raises(FieldRefused):
            _read(auditor, Permission.AUDIT_READ, uid, None, name)
    with pytest.raises(FieldRefused):
        _read(auditor, Permission.AUDIT_READ, uid, allergy, "substance")


def test_a_secret_is_never_opened_and_the_system_reads_the_rest(
    chart: tuple[str, Any], practitioner: Any
) -> None:
    uid, allergy = chart
    with guarded(Actor.system(), Permission.CLINICAL_READ, Action.READ, "test.Fields") as event:
        _patient, key = patients.open_patient(uid)
        reader = event.reader(key)
        assert reader.open(allergy, "substance") == "Sésame"
        assert not reader.may("patients.Patient", "wrapped_key")
    assert Patient.objects.filter(uid=uid).exists()
    # Outside a guarded call there is no reader to be had.
    from secretum.access.guard import EventDraft

    with pytest.raises(RuntimeError):
        EventDraft("read", "test").reader(key)


def test_a_readers_decisions_are_its_calls_own(chart: tuple[str, Any], practitioner: Any) -> None:
    """Each field's class is decided once per call (a search opens many patients through
    readers that share the call's decisions), never carried into another call: the same doctor
    reads the allergy within the chart's call, then not through an identity read that follows,
    and the secretary's next call decides for the secretary."""
    uid, allergy = chart
    doctor = actor_for(practitioner)
    with guarded(
        doctor, Permission.CLINICAL_READ, Action.READ, "test.Fields", patient_ref=uid
    ) as e:
        _patient, key = patients.open_patient(uid)
        first, second = e.reader(key), e.reader(key)
        assert first.open(allergy, "substance") == second.open(allergy, "substance") == "Sésame"
        assert e.decided == {("clinical.Allergy", "substance"): True}
    with pytest.raises(FieldRefused):
        _read(doctor, Permission.PATIENT_IDENTITY_READ, uid, allergy, "substance")
    with pytest.raises(FieldRefused):
        _read(
            actor_for(make_user(Role.SECRETARY)),
            Permission.PATIENT_IDENTITY_READ,
            uid,
            allergy,
            "substance",
        )
