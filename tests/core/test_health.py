"""/healthz for a monitoring tool (G4): the database writable, the key file readable, the audit
signer alive (D2), disk space, a recent good backup; 200, or 503 naming what is wrong in words
(never a path, a size or anything personal)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from secretum import instance
from secretum.core import health, updates
from tests.conftest import SecureClient


def _healthz() -> Any:
    return SecureClient().get("/healthz", REMOTE_ADDR="127.0.0.1")


def test_a_new_instance_is_healthy_and_says_each_thing_in_a_word(db: Any) -> None:
    answer = _healthz()
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ok",
        "database": "writable",
        "key_file": "readable",
        "audit_signer": "none",
        "disk": "ok",
        "backup": "new-instance",
    }


@pytest.mark.django_db(transaction=True)  # a backup's snapshot is a transaction of its own
def test_no_recent_backup_on_an_instance_older_than_the_limit_is_unhealthy(
    monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path: Path
) -> None:
    """G4, I1: three days after the installation and no good backup younger than 48 hours: 503.
    A backup made: healthy again."""
    from secretum.backup import service

    long_ago = timezone.now() - dt.timedelta(days=3)
    monkeypatch.setattr(updates, "installed_at", lambda: long_ago)
    answer = _healthz()
    assert (answer.status_code, answer.json()["backup"]) == (503, "stale")
    assert answer.json()["status"] == "unhealthy"
    settings.SECRETUM_BACKUP_DIR = tmp_path
    service.create(tmp_path, progress=False)
    assert _healthz().json()["backup"] == "fresh"
    assert health.backup(timezone.now() + dt.timedelta(hours=49)) == "stale"


def test_a_disk_nearly_full_is_unhealthy(db: Any, settings: Any) -> None:
    settings.SECRETUM_HEALTH_MIN_FREE_MB = 10**12  # more than any disk has
    answer = _healthz()
    assert (answer.status_code, answer.json()["disk"]) == (503, "low")


def test_a_key_file_that_cannot_be_read_is_unhealthy(
    db: Any, settings: Any, tmp_path: Path
) -> None:
    """Without the key file nothing sealed opens: a server whose key file went missing (an
    unmounted volume) is not serving patients, whatever else answers."""
    settings.INSTANCE = instance.Instance(tmp_path)
    answer = _healthz()
    assert (answer.status_code, answer.json()["key_file"]) == (503, "unreadable")
    assert str(tmp_path) not in answer.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_database_that_refuses_writes_is_unhealthy() -> None:
    """A PostgreSQL standby, or a session whose transactions are read-only: 503."""
    if connection.vendor != "postgresql":
        pytest.skip("a read-only session is PostgreSQL's (SQLite's file rights: not as root)")
    with connection.cursor() as cur:
        cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    try:
        assert health.database() == "read-only"
    finally:
        with connection.cursor() as cur:
            cur.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
    assert health.database() == "writable"
