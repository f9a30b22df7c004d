"""An instance made before issue 4 (D2): at the upgrade its audit keys are created, its events
get their leaf hashes and codes, the triggers come back, and the log verifies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from secretum import instance
from secretum.audit import entries, keys
from secretum.audit.models import AuditEvent


def _migrate(*targets: tuple[str, str]) -> Any:
    executor = MigrationExecutor(connection)
    executor.migrate(list(targets) or executor.loader.graph.leaf_nodes())
    return executor


@pytest.mark.parametrize("audit_keys", ["missing", "made-by-keygen"])
@pytest.mark.django_db(transaction=True)
def test_an_older_log_is_sealed_under_its_audit_keys_at_the_upgrade(
    settings: Any, tmp_path: Path, audit_keys: str
) -> None:
    """The keys are created at the upgrade, or those `secretum audit keygen` made are kept."""
    made = keys.create(tmp_path).mac_key.read_bytes() if audit_keys == "made-by-keygen" else None
    before = _migrate(("audit", "0001_initial"))
    old = before.loader.project_state([("audit", "0001_initial")]).apps
    try:
        old.get_model("audit", "AuditEvent").objects.create(
            seq=1,
            at=dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            actor_name="dr.before",
            role="practitioner",
            action="read",
            resource="clinical.Chart",
            purpose="care",
            outcome="success",
            prev_hash="00" * 32,
            hash="11" * 32,
        )
        # An instance of those days (its audit keys made by keygen, or none yet).
        settings.INSTANCE = instance.Instance(tmp_path)
    finally:
        _migrate()
    paths = keys.AuditKeyPaths(tmp_path)
    assert paths.exist() and made in (None, paths.mac_key.read_bytes())
    event = AuditEvent.objects.get(seq=1)
    leaf = entries.leaf_of(entries.canonical(entries.event_values(event)))
    assert event.leaf_hash == leaf.hex()
    assert event.mac == entries.mac_of(keys.load_mac_key(paths), leaf).hex()
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic():
            AuditEvent.objects.filter(seq=1).update(actor_name="dr.after")
