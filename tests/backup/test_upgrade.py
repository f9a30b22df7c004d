"""`secretum upgrade` (I3, I1, D2) as an operator runs it: real processes, a database made by the
previous release's own code (tests/backup/releases.py), this release's upgrade over it.

The upgrade must leave a verified backup, the migrations applied, the audit log and every record
verifying; a migration that fails half way, or an audit log that no longer verifies after the
migrations, must put the database back as it was (row for row; only the upgrade's own audit
events and backup record added), with a non-zero exit and a sentence saying so. On SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secretum import instance
from tests.audit.elsewhere import witness_elsewhere
from tests.backup.releases import PREVIOUS_RELEASE
from tests.backup.upgrade_faults import FAULT_TABLE
from tests.core.test_cli import run

ROOT = Path(__file__).resolve().parents[2]
# The tables the upgrade itself writes to after a rollback: its audit events, the checkpoint
# signed at the end of the command, the record of the backup it took.
WRITTEN_BY_THE_UPGRADE = {"audit_auditevent", "audit_auditcheckpoint", "backup_backuprecord"}


@pytest.fixture(scope="module")
def previous(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The previous release's ``secretum`` package, from git (the test fails, never skips, when
    the commit is not in the clone: a shallow clone must fetch it)."""
    found = subprocess.run(
        ["git", "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        pytest.fail(
            f"the previous release {PREVIOUS_RELEASE} (tests/backup/releases.py) is not in this "
            f"clone of {ROOT}: fetch it (git fetch --unshallow, or git fetch origin "
            f"{PREVIOUS_RELEASE}) to test the upgrade from it."
        )
    folder = tmp_path_factory.mktemp("previous-release")
    archive = subprocess.run(
        ["git", "archive", PREVIOUS_RELEASE, "secretum"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    assert (folder / "secretum" / "cli.py").is_file()
    return folder


def run_previous(previous: Path, home: Path, *args: str, **env: str) -> None:
    """``python -m secretum.cli ARGS`` with the previous release's code alone on the path."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SECRETUM_") and k not in ("DJANGO_SETTINGS_MODULE", "PYTHONPATH")
    }
    environ.update(
        PYTHONPATH=str(previous),
        SECRETUM_HOME=str(home),
        SECRETUM_AUDIT_WITNESS=str(witness_elsewhere(str(home))),
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-m", "secretum.cli", *args],
        cwd=previous,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, (args, done.stderr)


_made: dict[bool, Path] = {}


def made_by_previous(previous: Path, home: Path, behind: bool, **env: str) -> None:
    """An instance made by the previous release in ``home``; on SQLite, made once per kind and
    copied (with its witness) for each test."""
    if env:
        _make(previous, home, behind, **env)
        return
    if behind not in _made:
        _made[behind] = previous.parent / f"made-{'behind' if behind else 'as-is'}" / "var"
        _make(previous, _made[behind], behind)
    shutil.copytree(_made[behind], home)
    witness = witness_elsewhere(str(home))
    witness.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(witness_elsewhere(str(_made[behind])), witness)


def _make(previous: Path, home: Path, behind: bool, **env: str) -> None:
    run_previous(previous, home, "init", **env)
    run_previous(previous, home, "demo", "--patients", "5", "--seed", "12", **env)
    if behind:  # one migration behind, whatever the releases' own migrations
        run_previous(previous, home, "migrate", "maintenance", "0001", **env)


def upgrade(home: Path, fault: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    if not fault:
        return run(home, "upgrade", **env)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    environ.pop("DJANGO_SETTINGS_MODULE", None)
    environ.update(
        PYTHONPATH=str(ROOT),
        SECRETUM_HOME=str(home),
        SECRETUM_AUDIT_WITNESS=str(witness_elsewhere(str(home))),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "tests.backup.upgrade_faults", fault, "upgrade"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def rows(home: Path, url: str = "") -> dict[str, list[str]]:
    """Every row of every table, as text, sorted: the database's content."""
    if not url:
        # The previous release's layout (secretum.sqlite3 beside the key file) until an upgrade
        # goes through and moves it into data/.
        with sqlite3.connect(instance.Instance(home).database) as db:
            names = [
                r[0]
                for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            ]
            return {
                n: sorted(repr(r) for r in db.execute(f'SELECT * FROM "{n}"'))  # noqa: S608
                for n in names
            }
    import psycopg

    with psycopg.connect(url) as db:
        names = [
            r[0]
            for r in db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
        return {
            n: sorted(repr(r) for r in db.execute(f'SELECT * FROM "{n}"'))  # noqa: S608
            for n in names
        }


def backup_of(stdout: str) -> Path:
    (line,) = [line for line in stdout.splitlines() if "backup written: " in line]
    return Path(line.split("backup written: ", 1)[1].strip())


def assert_upgraded(home: Path, done: subprocess.CompletedProcess[str], **env: str) -> None:
    """I1, I3, D2, E10: migrations applied, every record and the log verify, and the backup
    taken before it exists and verifies."""
    assert done.returncode == 0, done.stderr
    assert "upgrade done" in done.stdout or "nothing to do" in done.stdout
    check = run(home, "migrate", "--check", **env)
    assert check.returncode == 0, check.stdout + check.stderr  # nothing left unapplied
    audit = run(home, "audit", "verify", **env)
    assert audit.returncode == 0 and "audit log intact" in audit.stdout, audit.stderr
    records = run(home, "records", "verify", **env)
    assert records.returncode == 0 and "5 records verified" in records.stdout, records.stderr
    if "upgrade done" in done.stdout:
        backup = backup_of(done.stdout)
        assert backup.is_file()
        verified = run(home, "backup", "verify", str(backup), **env)
        assert verified.returncode == 0 and "backup intact" in verified.stdout, verified.stderr


@pytest.mark.parametrize("behind", [False, True], ids=["as-made", "one-migration-behind"])
def test_upgrades_a_database_made_by_the_previous_release(
    previous: Path, tmp_path: Path, behind: bool
) -> None:
    """I3, I1: the previous release's `init` and `demo`, then this release's `upgrade`."""
    home = tmp_path / "var"
    made_by_previous(previous, home, behind)
    done = upgrade(home)
    assert_upgraded(home, done)
    # What the previous release lacks (documents.0003_row_seals since 21e461b), and the one
    # migration taken back on purpose.
    found = re.search(r"(\d+) migration\(s\) pending: (.*)", done.stdout)
    pending = found.group(2).split(", ") if found else []
    assert ("maintenance.0002_windows" in pending) == behind
    if pending:
        for step in ("backup written", "backup verified", "migrations applied", "audit log"):
            assert step in done.stdout
        again = upgrade(home)  # D2: the upgrade's own events verify on the next run
        assert again.returncode == 0 and "nothing to do" in again.stdout, again.stderr
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        recorded = db.execute(
            "SELECT outcome, detail FROM audit_auditevent WHERE resource = 'backup.Upgrade'"
        ).fetchall()
    # Only an upgrade that applied migrations is recorded; nothing pending writes nothing.
    assert [outcome for outcome, _ in recorded] == (["success"] if pending else [])
    if behind:
        detail = json.loads(recorded[0][1])
        assert detail["backup"] == backup_of(done.stdout).name
        assert detail["migrations"] == len(pending)
        assert detail["from"]["maintenance"] == "0001_initial"
        assert detail["to"]["maintenance"] == "0002_windows"


def assert_rolled_back(
    previous: Path,
    home: Path,
    before: dict[str, list[str]],
    done: subprocess.CompletedProcess[str],
    **env: str,
) -> None:
    """I3: a non-zero exit and one clear sentence; the database row for row as it was, but for
    the upgrade's own audit events and backup record; the log and the records verify."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "the upgrade failed and was rolled back to" in done.stderr
    assert "rolling back to the backup" in done.stdout
    url = env.get("SECRETUM_DATABASE_URL", "")
    after = rows(home, url)
    assert FAULT_TABLE not in after and "maintenance_maintenancewindow" not in after
    assert set(after) == set(before)
    for table in before:
        if table in WRITTEN_BY_THE_UPGRADE:
            assert set(before[table]) <= set(after[table]), table
        else:
            assert after[table] == before[table], table
    added = [r for r in after["audit_auditevent"] if r not in set(before["audit_auditevent"])]
    assert len(added) == 2
    assert any("'backup.Upgrade'" in r and "'failure'" in r for r in added)
    assert any("'backup.Backup'" in r for r in added)
    # The database is the previous release's again: its code verifies the log and the records
    # (this release's cannot read a schema it has not migrated).
    run_previous(previous, home, "audit", "verify", **env)
    run_previous(previous, home, "records", "verify", **env)
    backup = backup_of(done.stdout)
    assert backup.name in done.stderr
    assert run(home, "backup", "verify", str(backup), **env).returncode == 0
    # Once the fault is gone, the same upgrade goes through.
    assert_upgraded(home, upgrade(home, **env), **env)


def test_the_server_leaves_a_practices_records_to_upgrade(previous: Path, tmp_path: Path) -> None:
    """I3: `serve` migrates an empty instance itself, never one with records: it names
    `secretum upgrade` (a verified backup first, a rollback if anything fails), changes nothing."""
    home = tmp_path / "var"
    made_by_previous(previous, home, True)
    # The previous release's layout: the database in data/, or (before it) beside the key file,
    # which is refused first (E10, O2), naming the same command.
    database = home / "data" / "secretum.sqlite3"
    database = database if database.exists() else home / "secretum.sqlite3"
    before = database.read_bytes()
    refused = run(home, "serve", "--host", "127.0.0.1", "--port", "0")
    assert refused.returncode != 0
    assert "run 'secretum upgrade'" in refused.stderr, refused.stderr
    assert database.read_bytes() == before
    assert_upgraded(home, upgrade(home))


@pytest.mark.parametrize("fault", ["migration", "audit"])
def test_a_failed_upgrade_is_rolled_back_to_its_backup(
    previous: Path, tmp_path: Path, fault: str
) -> None:
    """I3: a migration that fails half way (a table made, rows changed, then an exception), and
    an audit log that no longer verifies after the migrations (D2), each roll back."""
    home = tmp_path / "var"
    made_by_previous(previous, home, behind=True)
    before = rows(home)
    done = upgrade(home, fault, SECRETUM_DEBUG="1")
    print(done.stderr[-3000:])
    assert_rolled_back(previous, home, before, done)
    expected = "injected failure" if fault == "migration" else "the audit log does not verify"
    assert expected in done.stderr
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_rollback_that_fails_says_how_to_restore_by_hand(previous: Path, tmp_path: Path) -> None:
    """I3: when the backup cannot be put back either, exit 3 with the manual restore's command,
    and the backup is left intact for it."""
    home = tmp_path / "var"
    made_by_previous(previous, home, behind=True)
    done = upgrade(home, "unrollable")
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "the rollback failed too" in done.stderr and "No space left" in done.stderr
    backup = backup_of(done.stdout)
    command = f"secretum restore {backup} --home NEWDIR --key-file {home / 'secretum.key'}"
    assert command in done.stderr
    assert run(home, "backup", "verify", str(backup)).returncode == 0
    restored = run(
        tmp_path / "nowhere", "restore", str(backup), "--home", str(tmp_path / "new"),
        "--key-file", str(home / "secretum.key"),
    )  # fmt: skip
    assert restored.returncode == 0 and "5 patient records decrypted" in restored.stdout


def test_nothing_pending_is_said_and_the_log_still_checked(previous: Path, tmp_path: Path) -> None:
    """D2: with no migration to apply, the audit log and the records are checked all the same:
    an altered log is refused with a non-zero exit, and no backup is taken."""
    home = tmp_path / "var"
    made_by_previous(previous, home, behind=False)
    assert upgrade(home).returncode == 0  # whatever the previous release lacked, now applied

    def backups() -> list[Path]:
        return sorted((home / "backups").glob("*.scbk"))

    taken = backups()
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        db.executescript(
            "DROP TRIGGER IF EXISTS audit_auditevent_no_update;"
            "UPDATE audit_auditevent SET resource_ref = 'changed' WHERE seq = 3;"
        )
    done = upgrade(home)
    assert done.returncode == 1 and "the audit log does not verify" in done.stderr
    assert "Nothing was changed" in done.stderr
    assert backups() == taken


def test_a_database_in_use_is_refused(previous: Path, tmp_path: Path) -> None:
    """Step 1: another process writing to the SQLite database (a server) is refused, and nothing
    is changed."""
    home = tmp_path / "var"
    made_by_previous(previous, home, behind=True)
    database = home / "data" / "secretum.sqlite3"  # the previous release's layout, or older
    holder = sqlite3.connect(database if database.exists() else home / "secretum.sqlite3")
    try:
        holder.execute("BEGIN IMMEDIATE")
        done = upgrade(home)
    finally:
        holder.rollback()
        holder.close()
    assert done.returncode != 0 and "in use by another process" in done.stderr
    assert "Nothing was changed" in done.stderr
    assert "maintenance_maintenancewindow" not in rows(home)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    import secrets

    from tests.core.test_instance_key import _admin, _server

    server = _server()
    name = f"h_upgrade_{secrets.token_hex(3)}"
    host = f"{server['HOST'] or '127.0.0.1'}:{server['PORT'] or 5432}"
    with _admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://{server['USER']}@{host}/{name}"
    finally:
        with _admin(server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgresql
def test_upgrade_and_rollback_on_postgresql(
    previous: Path, tmp_path: Path, postgres_url: str
) -> None:
    """I3, I1 on PostgreSQL: the dump of the backup restored into the emptied schema on a
    failure (row for row as before), then the upgrade goes through."""
    home = tmp_path / "var"
    env: dict[str, Any] = {"SECRETUM_DATABASE_URL": postgres_url}
    made_by_previous(previous, home, behind=True, **env)
    before = rows(home, postgres_url)
    done = upgrade(home, "migration", **env)
    assert "injected failure" in done.stderr
    assert_rolled_back(previous, home, before, done, **env)
    shutil.rmtree(home / "backups", ignore_errors=True)
