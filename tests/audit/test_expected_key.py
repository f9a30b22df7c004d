"""The checkpoint key against a fingerprint kept outside the instance (D2).

`verify` trusts the public key file beside the log; whoever holds the instance folder can make a
new key pair, rewrite the log, and sign it again. The fingerprint that `secretum init` printed,
given to `audit verify --expect-key` or pinned in SECRETUM_AUDIT_KEY_FINGERPRINT, catches that.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.management import call_command
from django.core.management.base import CommandError

from secretum.access.actor import Actor
from secretum.audit import checkpoints, entries, keys
from secretum.audit.checkpoints import CheckpointError, create_checkpoint
from secretum.audit.checks import audit_checks
from secretum.audit.log import record_event
from secretum.audit.verify import verify_log
from secretum.instance import write_private
from tests.audit.conftest import as_owner, rehash


@pytest.fixture
def instance(settings: Any, tmp_path: Path) -> keys.AuditKeyPaths:
    """A copy of the instance's audit keys that this test may replace."""
    home = tmp_path / "home"
    shutil.copytree(entries.key_paths().folder, home / "audit")
    settings.INSTANCE = SimpleNamespace(home=home)
    return keys.AuditKeyPaths(home)


def _new_key_pair(paths: keys.AuditKeyPaths) -> None:
    """The attacker's own key pair, in place of the instance's."""
    key = Ed25519PrivateKey.generate()
    paths.signing_key.unlink()
    write_private(
        paths.signing_key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    paths.public_key.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def test_fingerprints_as_people_copy_them() -> None:
    digits = "ab" * 32
    for text in (f"SHA256:{digits}", digits.upper(), " sha256:" + ":".join(["abab"] * 16)):
        assert keys.normalise_fingerprint(text) == f"SHA256:{digits}"
    for text in ("SHA256:abc", "zz" * 32, ""):
        with pytest.raises(ValueError, match="is not a checkpoint key fingerprint"):
            keys.normalise_fingerprint(text)


def test_a_log_rewritten_and_signed_with_a_new_key_pair_fails_only_with_the_expected_key(
    db: Any, instance: keys.AuditKeyPaths, witness: Path, capsys: Any
) -> None:
    for _ in range(6):
        record_event(Actor.system(), "read", "session")
    create_checkpoint()
    kept = keys.fingerprint(checkpoints.public_key())  # what `secretum init` printed
    assert verify_log(expect_key=kept).key_checked == kept
    # The attacker holds the instance folder: rewrites event 3 (hash and code), removes the
    # checkpoints and the witness, makes a new key pair and signs the rewritten log.
    as_owner("UPDATE audit_auditevent SET source = 'elsewhere' WHERE seq = 3")
    rehash(3, with_mac_key=True)
    as_owner("DELETE FROM audit_auditcheckpoint")
    witness.unlink()
    _new_key_pair(instance)
    create_checkpoint()
    assert verify_log().ok  # the key beside the log vouches for itself
    result = verify_log(expect_key=kept)
    assert not result.ok
    assert result.problem.startswith(
        f"the checkpoint key beside the log ({keys.fingerprint(checkpoints.public_key())}) is "
        f"not the expected key ({kept}): the log may have been rewritten"
    )
    with pytest.raises(CommandError, match="is not the expected key"):
        call_command("audit_verify", expect_key=kept)
    with pytest.raises(CommandError, match="the expected checkpoint key: 'nope' is not a"):
        call_command("audit_verify", expect_key="nope")


def test_the_pinned_fingerprint_binds_verify_the_signer_and_the_check(
    db: Any, instance: keys.AuditKeyPaths, settings: Any, capsys: Any
) -> None:
    record_event(Actor.system(), "read", "session")
    kept = keys.fingerprint(checkpoints.public_key())
    settings.SECRETUM_AUDIT_KEY_FINGERPRINT = kept.lower()
    create_checkpoint()
    call_command("audit_verify")
    assert f"checkpoint key: {kept} (the expected key)." in capsys.readouterr().out
    assert not [p for p in audit_checks() if p.id == "secretum.E104"]

    _new_key_pair(instance)
    record_event(Actor.system(), "read", "session")
    assert not verify_log().ok
    with pytest.raises(CheckpointError, match="is not the expected key"):
        create_checkpoint()
    (problem,) = [p for p in audit_checks() if p.id == "secretum.E104"]
    assert "is not the one SECRETUM_AUDIT_KEY_FINGERPRINT names" in problem.msg

    settings.SECRETUM_AUDIT_KEY_FINGERPRINT = "SHA256:short"
    with pytest.raises(CheckpointError, match="SECRETUM_AUDIT_KEY_FINGERPRINT: 'SHA256:short'"):
        create_checkpoint()
    (problem,) = [p for p in audit_checks() if p.id == "secretum.E104"]
    assert problem.msg.startswith("SECRETUM_AUDIT_KEY_FINGERPRINT: 'SHA256:short' is not")
