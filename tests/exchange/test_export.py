"""A patient's record leaving Secretum (L1, L2, E7, M3): encrypted by default for its
recipient, in the age format that Debian's ``age`` opens; in clear only with a reason; one
audit event naming what left; refused to whoever may not read the record."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from secretum.access import care
from secretum.access.actor import AccessDenied
from secretum.access.guard import NoCareRelationship
from secretum.access.policy import Role
from secretum.crypto import age
from secretum.exchange import services
from tests.conftest import actor_for, events, make_user
from tests.exchange.conftest import age_keypair, run_age

REASON = "Fictitious: the patient moves to another practice."


def _without_stamps(bundle: dict[str, Any]) -> dict[str, Any]:
    """The bundle's content: its own id and time differ from one export to the next."""
    return {k: v for k, v in bundle.items() if k not in ("id", "timestamp")}


def _detail(event: Any) -> dict[str, Any]:
    return dict(json.loads(event.detail))


def _plain(user: Any, uid: str) -> dict[str, Any]:
    out = io.BytesIO()
    services.export_patient(actor_for(user), uid, out, plain_reason=REASON)
    return json.loads(out.getvalue())


def test_by_default_under_a_passphrase_that_age_takes(
    practitioner: Any, full_chart: Any, tmp_path: Path
) -> None:
    """E7, M3: encrypted by default; age, given the passphrase, gives back the bundle (the
    same content as a plain export); the name is nowhere in the file."""
    out = io.BytesIO()
    done = services.export_patient(actor_for(practitioner), full_chart.uid, out)
    assert done.encryption == "age-scrypt" and done.passphrase
    blob = out.getvalue()
    assert blob.startswith(b"age-encryption.org/v1\n-> scrypt ")
    for clear in (full_chart.family_name, full_chart.niss, "Quzicillin", "QZ-4411", "Patient"):
        assert clear.encode() not in blob
    path = tmp_path / "patient.fhir.json.age"
    path.write_bytes(blob)
    code, said = run_age(["-d", "-o", str(tmp_path / "patient.json"), str(path)], done.passphrase)
    assert code == 0, said
    by_age = (tmp_path / "patient.json").read_bytes()
    assert by_age == b"".join(age.decrypt(io.BytesIO(blob), age.ScryptIdentity(done.passphrase)))
    assert _without_stamps(json.loads(by_age)) == _without_stamps(
        _plain(practitioner, full_chart.uid)
    )
    code, said = run_age(
        ["-d", "-o", str(tmp_path / "no.json"), str(path)], "wrong-" + done.passphrase
    )
    assert code != 0 and "incorrect passphrase" in said
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0x20
    path.write_bytes(bytes(flipped))
    code, said = run_age(["-d", "-o", str(tmp_path / "flip.json"), str(path)], done.passphrase)
    assert code != 0, said


def test_for_a_recipient_key_no_passphrase(
    practitioner: Any, full_chart: Any, tmp_path: Path
) -> None:
    import subprocess

    key, public = age_keypair(tmp_path)
    out = io.BytesIO()
    done = services.export_patient(actor_for(practitioner), full_chart.uid, out, recipient=public)
    assert done.encryption == "age-x25519" and done.passphrase is None
    (tmp_path / "f.age").write_bytes(out.getvalue())
    opened = subprocess.run(
        ["age", "-d", "-i", str(key), str(tmp_path / "f.age")], capture_output=True
    )
    assert opened.returncode == 0, opened.stderr
    assert (
        json.loads(opened.stdout)["entry"][0]["resource"]["name"][0]["family"]
        == full_chart.family_name
    )
    (event,) = events(action="export")
    assert _detail(event)["recipient"] == public and _detail(event)["encryption"] == "age-x25519"


def test_one_audit_event_names_what_left_and_never_the_passphrase(
    practitioner: Any, full_chart: Any
) -> None:
    before = len(events())
    done = services.export_patient(actor_for(practitioner), full_chart.uid, io.BytesIO())
    assert not done.altered
    assert len(events()) == before + 1  # the read of the chart is the export's own event
    (event,) = events(action="export")
    assert (event.resource, event.outcome, event.actor_name) == (
        "clinical.Chart",
        "success",
        practitioner.username,
    )
    assert event.patient_ref == full_chart.uid
    assert _detail(event)["format"] == "fhir-r4" and _detail(event)["encryption"] == "age-scrypt"
    assert _detail(event)["entries"] == {
        "encounter": 1, "problem": 3, "allergy": 2, "medication": 1, "observation": 4,
        "vaccination": 2, "lab": 2,
    }  # fmt: skip
    assert "plain_reason" not in _detail(event)
    secret = done.passphrase or ""
    for model in apps.get_models():  # no table holds it, the audit log's included
        for row in model._default_manager.values_list():
            assert secret not in repr(row), model


def test_a_plain_copy_needs_its_reason_and_is_audited_as_such(
    practitioner: Any, full_chart: Any
) -> None:
    actor = actor_for(practitioner)
    for reason in ("", "too short", "x" * 201):
        with pytest.raises(ValidationError, match="needs its reason"):
            services.export_patient(actor, full_chart.uid, io.BytesIO(), plain_reason=reason)
    with pytest.raises(ValidationError, match="no recipient key"):
        services.export_patient(
            actor, full_chart.uid, io.BytesIO(), plain_reason=REASON,
            recipient=age.X25519Identity.generate().recipient().encode(),
        )  # fmt: skip
    assert events(action="export") == []  # refused before anything was read
    bundle = _plain(practitioner, full_chart.uid)
    assert bundle["resourceType"] == "Bundle"
    (event,) = events(action="export")
    assert _detail(event)["encryption"] == "none" and _detail(event)["plain_reason"] == REASON


def test_a_key_that_is_not_an_age_key_is_refused(practitioner: Any, full_chart: Any) -> None:
    with pytest.raises(ValidationError, match="not an age public key"):
        services.export_patient(
            actor_for(practitioner), full_chart.uid, io.BytesIO(), recipient="ssh-ed25519 AAAA"
        )
    assert events(action="export") == []


@pytest.mark.parametrize("role", [Role.SECRETARY, Role.MANAGER, Role.AUDITOR, Role.NURSE])
def test_other_roles_cannot_export(role: Role, full_chart: Any) -> None:
    """C1: the front desk, the manager, the auditor never; the nurse reads the chart in care but
    does not hand the record out (the patient's copy is the practitioner's act)."""
    user = make_user(role)
    if role == Role.NURSE:
        care.declare_care(actor_for(user), full_chart.uid)
    out = io.BytesIO()
    with pytest.raises(AccessDenied):
        services.export_patient(actor_for(user), full_chart.uid, out)
    assert out.getvalue() == b""
    (event,) = events(action="export")
    assert (event.outcome, event.actor_name) == ("denied", user.username)


def test_without_care_refused_and_under_break_the_glass_recorded_as_such(full_chart: Any) -> None:
    colleague = make_user(Role.PRACTITIONER)
    out = io.BytesIO()
    with pytest.raises(NoCareRelationship):
        services.export_patient(actor_for(colleague), full_chart.uid, out)
    assert out.getvalue() == b""
    care.break_the_glass(
        actor_for(colleague), full_chart.uid, "emergency", "Fictitious: unconscious at the desk."
    )
    services.export_patient(actor_for(colleague), full_chart.uid, out)
    denied, allowed = events(action="export")
    assert denied.outcome == "denied" and allowed.outcome == "success"
    assert allowed.purpose == "break-the-glass" and _detail(allowed)["grant"]


def test_the_national_number_finds_the_patient(full_chart: Any) -> None:
    assert services.patient_for_niss(full_chart.niss) == full_chart.uid
    with pytest.raises(ValidationError, match="No patient"):
        services.patient_for_niss("85.07.30-033.28")
    with pytest.raises(ValidationError, match="11 digits"):
        services.patient_for_niss("")
