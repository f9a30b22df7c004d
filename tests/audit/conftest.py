"""Audit tests: each test has a witness of its own, and helpers that play the attacker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from secretum.audit import entries
from secretum.audit.db import drop_trigger_statements
from secretum.audit.models import AuditEvent


@pytest.fixture(autouse=True)
def witness(settings: Any, tmp_path: Path) -> Path:
    """The witness file of this test (the database is rolled back after each test; so is it)."""
    path = tmp_path / "witness" / "audit-checkpoints.log"
    settings.SECRETUM_AUDIT_WITNESS = path
    settings.SECRETUM_AUDIT_SYSLOG = ""
    return path


def as_owner(sql: str, params: list[Any] | None = None) -> None:
    """An attacker with the database owner's rights: drops the append-only triggers first."""
    with connection.cursor() as cur:
        for statement in drop_trigger_statements(connection.vendor):
            cur.execute(statement)
        cur.execute(sql, params or [])


def rehash(seq: int, *, with_mac_key: bool = False) -> None:
    """Recompute an event's leaf hash from its (altered) content, as anyone can; its code too
    only when the attacker holds the audit MAC key."""
    event = AuditEvent.objects.get(seq=seq)
    old_mac = event.mac
    entries.seal(event)
    mac = event.mac if with_mac_key else old_mac
    as_owner(
        "UPDATE audit_auditevent SET leaf_hash = %s, mac = %s WHERE seq = %s",
        [event.leaf_hash, mac, seq],
    )
