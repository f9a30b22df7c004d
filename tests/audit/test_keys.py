"""The audit keys live in files of the instance, owner-only, never in the database (D2, O2)."""

from __future__ import annotations

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
