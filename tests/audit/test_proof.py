"""`secretum audit prove N`: an inclusion proof a third party checks with the public key (D2)."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from secretum.access.actor import Actor
from secretum.audit import entries
from secretum.audit.log import record_event
from secretum.audit.proof import ProofError, verify_proof


@pytest.fixture
def proof(db: Any) -> dict[str, Any]:
    for n in range(11):
        record_event(Actor.system(), "read", "session", detail={"n": n})
    out = io.StringIO()
    call_command("audit_prove", "7", stdout=out, stderr=io.StringIO())
    return dict(json.loads(out.getvalue()))


def _public() -> bytes:
    return entries.key_paths().public_key.read_bytes()


def test_a_proof_holds_for_a_third_party(proof: dict[str, Any]) -> None:
    assert proof["seq"] == 7 and proof["tree_size"] == 11
    assert '"n":6' in proof["entry"]
    assert "event 7 is included in the log's first 11 events" in verify_proof(proof, _public())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(entry=p["entry"].replace('"n":6', '"n":5')), "leaf hash"),
        (lambda p: p["audit_path"].reverse(), "audit path"),
        (lambda p: p.update(leaf_index=3), "audit path"),
        (lambda p: p.update(root_hash="00" * 32), "audit path"),
        (
            lambda p: p["checkpoint"].update(
                note=p["checkpoint"]["note"].replace("\n11\n", "\n12\n")
            ),
            "another tree size",
        ),
        (lambda p: p["checkpoint"].update(signature="A" * 86 + "=="), "signature"),
        (lambda p: p.pop("checkpoint"), "malformed"),
        (lambda p: p.update(audit_path=["not hex"]), "malformed"),
        (
            lambda p: p["checkpoint"].update(note=p["checkpoint"]["note"].rstrip("\n")),
            "note is malformed",
        ),
    ],
)
def test_a_doctored_proof_fails(proof: dict[str, Any], change: Any, message: str) -> None:
    doctored = copy.deepcopy(proof)
    change(doctored)
    with pytest.raises(ProofError, match=message):
        verify_proof(doctored, _public())


def test_a_proof_under_another_key_fails(proof: dict[str, Any], tmp_path: Path) -> None:
    from secretum.audit import keys

    other = keys.create(tmp_path)
    with pytest.raises(ProofError, match="another key"):
        verify_proof(proof, other.public_key.read_bytes())


def test_check_proof_command(proof: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(proof))
    key = tmp_path / "published.pub"
    key.write_bytes(_public())
    out = io.StringIO()
    call_command("audit_check_proof", str(path), public_key=str(key), stdout=out)
    assert out.getvalue().startswith("proof holds: event 7")
    proof["entry"] = proof["entry"].replace("session", "clinical.Chart")
    path.write_text(json.dumps(proof))
    with pytest.raises(CommandError, match="does NOT hold"):
        call_command("audit_check_proof", str(path), public_key=str(key))


def test_prove_signs_a_checkpoint_when_none_covers_the_event(proof: dict[str, Any]) -> None:
    record_event(Actor.system(), "read", "session")
    out = io.StringIO()
    call_command("audit_prove", "12", stdout=out, stderr=io.StringIO())
    assert json.loads(out.getvalue())["tree_size"] == 12
    with pytest.raises(CommandError, match="no event 99"):
        call_command("audit_prove", "99", stdout=io.StringIO(), stderr=io.StringIO())


def test_a_proof_checked_with_a_key_of_another_kind_fails(proof: dict[str, Any]) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ProofError, match="not an Ed25519 key"):
        verify_proof(proof, pem)


@pytest.mark.parametrize("spoil", ["missing", "not-json"])
def test_check_proof_says_when_it_cannot_read_its_files(
    proof: dict[str, Any], tmp_path: Path, spoil: str
) -> None:
    path = tmp_path / "proof.json"
    if spoil == "not-json":
        path.write_text("{ half a proof")
    key = tmp_path / "published.pub"
    key.write_bytes(_public())
    with pytest.raises(CommandError, match="cannot read the proof or the key"):
        call_command("audit_check_proof", str(path), public_key=str(key))
