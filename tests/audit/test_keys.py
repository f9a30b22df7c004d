"""The audit keys live in files of the instance, owner-only, never in the database (D2, O2)."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import Any

import pytest

from secretum import init, instance
from secretum.audit import keys
from secretum.audit.checks import audit_checks


def test_init_creates_owner_only_audit_keys(tmp_path: Path) -> None:
    inst = init.create(tmp_path / "var")
    paths = keys.AuditKeyPaths(inst.home)
    for path in (paths.signing_key, paths.mac_key, paths.public_key):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    signing = keys.load_signing_key(paths)
    assert keys.key_id(signing.public_key()) == keys.key_id(keys.load_public_key(paths))
    assert len(keys.load_mac_key(paths)) == 32


def test_keys_are_never_overwritten(tmp_path: Path) -> None:
    paths = keys.create(tmp_path)
    before = paths.signing_key.read_bytes()
    with pytest.raises(keys.AuditKeyError, match="refusing to overwrite"):
        keys.create(tmp_path)
    assert paths.signing_key.read_bytes() == before


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    paths = keys.create(tmp_path)
    paths.signing_key.chmod(0o644)
    with pytest.raises(keys.AuditKeyError, match="chmod 600"):
        keys.load_signing_key(paths)


def test_check_refuses_missing_keys_and_a_slow_signer(
    db: Any, settings: Any, tmp_path: Path
) -> None:
    settings.INSTANCE = instance.Instance(tmp_path)
    found = {p.id for p in audit_checks()}
    assert "secretum.E101" in found
    settings.SECRETUM_AUDIT_CHECKPOINT_INTERVAL = 301
    assert "secretum.E102" in {p.id for p in audit_checks()}


def test_no_key_reaches_the_database(db: Any) -> None:
    """The keys' bytes appear in no table: only hashes, codes and signatures do."""
    from django.apps import apps

    from secretum.access.actor import Actor
    from secretum.audit import entries
    from secretum.audit.checkpoints import create_checkpoint
    from secretum.audit.log import record_event

    record_event(Actor.system(), "read", "session")
    create_checkpoint()
    secret = entries.mac_key().hex()
    for model in apps.get_app_config("audit").get_models():
        for row in model.objects.values():
            assert secret not in " ".join(str(v) for v in row.values())


def _rsa() -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _rsa_public_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization

    return (
        _rsa()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _replace(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


DAMAGE = {
    "public-key-of-another-kind": (
        lambda p: _replace(p.public_key, _rsa_public_pem()),
        "The checkpoint public key is not an Ed25519 key.",
    ),
    "public-key-missing": (
        lambda p: p.public_key.unlink(),
        "is missing: run 'secretum audit keygen'",
    ),
    "mac-key-of-another-format": (
        lambda p: _replace(p.mac_key, b"secretum-something-else AAAA\n"),
        "has an unknown format",
    ),
    "mac-key-too-short": (
        lambda p: _replace(
            p.mac_key, keys.MAC_KEY_FORMAT.encode() + b" " + base64.b64encode(bytes(16)) + b"\n"
        ),
        "is not a 256-bit key",
    ),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_check_names_a_damaged_audit_key(
    db: Any, settings: Any, tmp_path: Path, damage: str
) -> None:
    """D2, O2: `secretum check` names the damaged key file in one sentence (secretum.E101)."""
    paths = keys.create(tmp_path)
    spoil, said = DAMAGE[damage]
    spoil(paths)
    settings.INSTANCE = instance.Instance(tmp_path)
    (problem,) = [p for p in audit_checks() if p.id == "secretum.E101"]
    assert said in problem.msg


def test_the_signer_refuses_a_signing_key_of_another_kind(
    db: Any, settings: Any, tmp_path: Path
) -> None:
    """D2: a signing key swapped for an RSA key signs nothing."""
    from cryptography.hazmat.primitives import serialization
    from django.core.management import call_command

    paths = keys.create(tmp_path)
    pem = _rsa().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _replace(paths.signing_key, pem)
    settings.INSTANCE = instance.Instance(tmp_path)
    with pytest.raises(keys.AuditKeyError, match="is not an Ed25519 key"):
        call_command("audit_checkpoint")


def test_keygen_creates_the_audit_keys_of_an_older_instance_once(
    settings: Any, tmp_path: Path
) -> None:
    """`secretum audit keygen`: an instance made before the audit keys gets them, owner-only;
    run again, it refuses to overwrite them."""
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.INSTANCE = instance.Instance(tmp_path)
    out = io.StringIO()
    call_command("audit_keygen", stdout=out)
    paths = keys.AuditKeyPaths(tmp_path)
    assert paths.exist() and "audit keys created" in out.getvalue()
    assert stat.S_IMODE(paths.signing_key.stat().st_mode) & 0o077 == 0
    with pytest.raises(CommandError, match="refusing to overwrite"):
        call_command("audit_keygen", stdout=io.StringIO())
