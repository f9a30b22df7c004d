"""`secretum check` warns when the audit witness shares the database's file system (D2)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from secretum.audit import checks
from secretum.audit.checks import audit_checks, witness_beside_database
from tests.audit.elsewhere import witness_elsewhere


def _warnings() -> list[str]:
    return [p.msg for p in audit_checks() if p.id == "secretum.W102"]


def test_a_witness_in_the_instance_folder_is_beside_the_database(db: Any, settings: Any) -> None:
    """The old default: $SECRETUM_HOME/witness/audit-checkpoints.log."""
    settings.SECRETUM_AUDIT_WITNESS = Path(settings.INSTANCE.home) / "witness" / "a.log"
    assert witness_beside_database() == Path(settings.INSTANCE.home).absolute()
    (said,) = _warnings()
    assert said.startswith(f"The audit witness {settings.SECRETUM_AUDIT_WITNESS} shares a file")


def test_a_witness_on_the_database_file_system_is_beside_it(
    db: Any, settings: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    database = tmp_path / "data" / "secretum.sqlite3"
    database.parent.mkdir()
    database.write_bytes(b"")
    monkeypatch.setitem(connection.settings_dict, "NAME", str(database))
    # Neither the witness nor its folder exists yet: their nearest existing folder is compared.
    settings.SECRETUM_AUDIT_WITNESS = tmp_path / "other" / "deeper" / "witness.log"
    if connection.vendor == "sqlite":
        assert witness_beside_database() == database
        assert len(_warnings()) == 1
    else:  # a local PostgreSQL: its data directory, when it is on this machine's disk
        beside = witness_beside_database()
        assert beside is None or beside.stat().st_dev == tmp_path.stat().st_dev


def test_a_remote_postgresql_is_elsewhere(db: Any, settings: Any, monkeypatch: Any) -> None:
    settings.SECRETUM_AUDIT_WITNESS = Path("/tmp/secretum-witness-test/witness.log")  # noqa: S108
    if connection.vendor == "postgresql":
        monkeypatch.setitem(connection.settings_dict, "HOST", "db.cabinet-fictif.example")
        # Not even asked where its data lives: another host's folder names say nothing here.
        with CaptureQueriesContext(connection) as asked:
            assert witness_beside_database() is None
        assert not [q for q in asked.captured_queries if "data_directory" in q["sql"]]
    # On either engine: a PostgreSQL server named by another host is never asked at all.
    remote = SimpleNamespace(
        vendor="postgresql",
        settings_dict={"HOST": "10.0.0.5"},
        cursor=lambda: pytest.fail("a remote server was asked for its data folder"),
    )
    monkeypatch.setattr(checks, "connection", remote)
    assert witness_beside_database() is None


def test_only_a_local_host_or_socket_folder_is_this_machine() -> None:
    """D2: a PostgreSQL server named by another host's name or address is never judged by a
    folder of this machine that happens to bear its data directory's name."""
    from secretum.audit.checks import on_this_machine

    for host in ("", "localhost", "127.0.0.1", "::1", "/var/run/postgresql"):
        assert on_this_machine(host), host
    for host in ("db.cabinet-fictif.example", "10.0.0.5", "localhost.example", "var/run"):
        assert not on_this_machine(host), host


def test_a_witness_on_another_file_system_is_fine(db: Any, settings: Any) -> None:
    settings.SECRETUM_AUDIT_WITNESS = witness_elsewhere("fine")
    assert witness_beside_database() is None  # the test database is in memory, or elsewhere
    assert _warnings() == []


def test_a_database_that_is_no_file_cannot_be_beside(
    db: Any, settings: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    if connection.vendor != "sqlite":
        return  # SQLite only
    monkeypatch.setitem(connection.settings_dict, "NAME", "file:memorydb?mode=memory")
    settings.SECRETUM_AUDIT_WITNESS = tmp_path / "witness.log"
    assert witness_beside_database() is None


def test_a_log_witnessed_by_its_heads_alone_meets_d2(db: Any, settings: Any) -> None:
    """Events whose tree heads reached a witness elsewhere, no checkpoint signed yet."""
    from secretum.access.actor import Actor
    from secretum.audit import heads
    from secretum.audit.evidence import audit_log_protected
    from secretum.audit.log import record_event
    from secretum.compliance.evidence import Verdict

    settings.SECRETUM_AUDIT_WITNESS = witness_elsewhere("heads alone")
    heads.forget()
    for _ in range(2):
        event = record_event(Actor.system(), "read", "session")
        assert event is not None
        heads.committed(event.seq, bytes.fromhex(event.leaf_hash))
    found = audit_log_protected()
    assert found.verdict == Verdict.MET, found.summary
    assert not any(d.startswith("Latest signed checkpoint") for d in found.details)
    heads.forget()
