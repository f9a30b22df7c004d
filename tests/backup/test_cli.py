"""Backups as an operator runs them (I1, I3, I4): real processes, a real instance, real files.

The attacker holds a backup (or the backup folder) but not the key file: a flipped byte anywhere,
a file cut short, another instance's backup, a wrong key file, are each refused with one sentence
and change nothing; a backup process killed with SIGKILL leaves no file that looks complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.core.test_cli import run
from tests.instances import initialised


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = initialised(
        tmp_path_factory.mktemp("backup") / "var", ("--patients", "6", "--seed", "5")
    )
    assert run(home, "audit", "checkpoint").returncode == 0  # a witness line to back up
    return home


@pytest.fixture(scope="module")
def backup(home: Path) -> Path:
    made = run(home, "backup", "create", "--to", str(home.parent / "backups"))
    assert made.returncode == 0, made.stderr
    path = Path(made.stdout.strip())
    assert path.parent == home.parent / "backups" and path.name.endswith(".scbk")
    return path


def test_create_prints_the_path_of_an_owner_only_encrypted_file(home: Path, backup: Path) -> None:
    """I1, I4: nothing of the database is in clear in the file."""
    assert (backup.stat().st_mode & 0o777) == 0o600
    data = backup.read_bytes()
    assert data.startswith(b"SECRETUM-BACKUP\n")
    assert b"SQLite format 3" not in data and b"audit_auditevent" not in data
    assert b"PRIVATE KEY" not in data
    assert not list(backup.parent.glob(".*partial"))


def test_verify_checks_signature_and_every_part(home: Path, backup: Path) -> None:
    done = run(home, "backup", "verify", str(backup))
    assert done.returncode == 0, done.stderr
    assert "backup intact" in done.stdout and "database.sqlite3" in done.stdout
    assert "config.tar" in done.stdout


def _damaged(backup: Path, tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("where", [0, 20, 60, 300, 0.5, -200, -40, -1])
def test_a_flipped_byte_anywhere_is_refused(
    home: Path, backup: Path, tmp_path: Path, where: float
) -> None:
    """I4: the marker, the header, a part's chunk, the manifest, its tag."""
    data = bytearray(backup.read_bytes())
    at = int(len(data) * where) if isinstance(where, float) else where
    data[at] ^= 0x01
    path = _damaged(backup, tmp_path, "flipped.scbk", bytes(data))
    before = _files(home)
    done = run(home, "backup", "verify", str(path))
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert any(w in done.stderr for w in ("damaged", "not a Secretum backup", "another")), (
        done.stderr
    )
    assert _files(home) == before


@pytest.mark.parametrize("keep", [10, 100, 0.5, -30, -1])
def test_a_truncated_backup_is_refused(
    home: Path, backup: Path, tmp_path: Path, keep: float
) -> None:
    data = backup.read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    path = _damaged(backup, tmp_path, "cut.scbk", data[:cut])
    done = run(home, "backup", "verify", str(path))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "truncated" in done.stderr or "damaged" in done.stderr, done.stderr


def test_bytes_after_the_manifest_are_refused(home: Path, backup: Path, tmp_path: Path) -> None:
    path = _damaged(backup, tmp_path, "longer.scbk", backup.read_bytes() + b"\x00")
    done = run(home, "backup", "verify", str(path))
    assert done.returncode != 0 and "bytes follow its signed manifest" in done.stderr


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Path:
    other = tmp_path_factory.mktemp("other") / "var"
    assert run(other, "init").returncode == 0
    return other


def test_another_instances_backup_is_refused(home: Path, other: Path, backup: Path) -> None:
    done = run(other, "backup", "verify", str(backup))
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "backup of another instance" in done.stderr


def test_a_backup_under_another_key_posing_as_ours_is_refused(
    home: Path, other: Path, backup: Path, tmp_path: Path
) -> None:
    """An attacker rewrites another instance's backup header to name this instance."""
    theirs = run(other, "backup", "create", "--to", str(tmp_path))
    assert theirs.returncode == 0, theirs.stderr
    data = Path(theirs.stdout.strip()).read_bytes()
    ours = json.loads(backup.read_bytes()[20 : 20 + int.from_bytes(backup.read_bytes()[16:20])])
    length = int.from_bytes(data[16:20])
    header = json.loads(data[20 : 20 + length])
    header["instance"] = ours["instance"]
    raw = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    forged = data[:16] + len(raw).to_bytes(4) + raw + data[20 + length :]
    path = _damaged(backup, tmp_path, "forged.scbk", forged)
    done = run(home, "backup", "verify", str(path))
    assert done.returncode != 0 and "another backup key" in done.stderr


def test_restore_drill_restores_opens_and_records(home: Path, backup: Path) -> None:
    """I3: restored into a scratch folder, opened, counts, audit log, a sample decrypted."""
    done = run(home, "backup", "verify", str(backup), "--restore-drill")
    assert done.returncode == 0, done.stderr
    assert "restore drill passed" in done.stdout and "audit log intact" in done.stdout
    assert "6 patient records decrypted" in done.stdout
    assert not list(home.glob(".drill-*"))  # the scratch folder is gone
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        rows = db.execute("SELECT kind, ok FROM backup_backuprecord ORDER BY id").fetchall()
    assert ("drill", 1) in rows


def test_restore_makes_a_working_instance(home: Path, backup: Path, tmp_path: Path) -> None:
    new = tmp_path / "restored"
    done = run(
        tmp_path / "nowhere", "restore", str(backup), "--home", str(new),
        "--key-file", str(home / "secretum.key"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "restored into" in done.stdout and "audit log intact" in done.stdout
    assert (new / "data" / "secretum.sqlite3").is_file()
    assert (new / "audit" / "event-mac.key").is_file()
    assert (new / "witness" / "audit-checkpoints.log").is_file()
    assert (new / "secretum.key").stat().st_mode & 0o077 == 0
    verify = run(new, "audit", "verify")
    assert verify.returncode == 0 and "audit log intact" in verify.stdout
    records = run(new, "records", "verify")
    assert records.returncode == 0, records.stderr


def test_restore_runs_before_django_is_set_up(home: Path, backup: Path, tmp_path: Path) -> None:
    """I3: ``secretum restore`` opens no instance of its own, so Django's apps are never loaded
    in its process (one start of Django less); the restored instance is still opened and
    checked, by ``drill-check`` in a process of its own."""
    new = tmp_path / "restored"
    script = (
        "import sys; from secretum import cli; code = cli.main(sys.argv[1:]); "
        "from django.apps import apps; print('apps ready:', apps.ready); sys.exit(code)"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    environ["SECRETUM_HOME"] = str(tmp_path / "nowhere")
    environ.pop("DJANGO_SETTINGS_MODULE", None)
    done = subprocess.run(
        [
            sys.executable, "-c", script, "restore", str(backup), "--home", str(new),
            "--key-file", str(home / "secretum.key"),
        ],
        env=environ, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "audit log intact" in done.stdout and "patient records decrypted" in done.stdout
    assert done.stdout.strip().endswith("apps ready: False")
    refused = run(tmp_path / "nowhere", "restore", str(backup), "--home", str(new),
                  "--key-file", str(home / "secretum.key"))  # fmt: skip
    assert refused.returncode == 1 and "is not empty" in refused.stderr


@pytest.mark.parametrize(
    "fault", ["wrong-key", "flipped", "truncated", "not-empty", "not-a-backup", "engine"]
)
def test_restore_refuses_and_changes_nothing(
    home: Path, other: Path, backup: Path, tmp_path: Path, fault: str
) -> None:
    key = home / "secretum.key"
    path = backup
    new = tmp_path / "restored"
    if fault == "wrong-key":
        key = other / "secretum.key"
    elif fault == "flipped":
        data = bytearray(backup.read_bytes())
        data[len(data) // 2] ^= 0x80
        path = _damaged(backup, tmp_path, "flipped.scbk", bytes(data))
    elif fault == "truncated":
        path = _damaged(backup, tmp_path, "cut.scbk", backup.read_bytes()[:-100])
    elif fault == "not-a-backup":
        path = _damaged(backup, tmp_path, "notes.txt", b"just some notes")
    elif fault == "not-empty":
        new.mkdir()
        (new / "something").write_text("kept")
    args = ("restore", str(path), "--home", str(new), "--key-file", str(key))
    env = {"SECRETUM_DATABASE_URL": "postgresql://x@127.0.0.1:1/x"} if fault == "engine" else {}
    done = run(tmp_path / "nowhere", *args, **env)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    expected = {
        "wrong-key": "another instance than the key file",
        "flipped": "fails authentication",
        "truncated": "truncated",
        "not-empty": "is not empty",
        "not-a-backup": "is not a Secretum backup",
        "engine": "This backup is of a SQLite database",
    }[fault]
    assert expected in done.stderr, done.stderr
    if fault == "not-empty":
        assert _files(new) == {"something": hashlib.sha256(b"kept").hexdigest()}
    else:
        assert not new.exists()


def test_a_killed_backup_leaves_no_file_that_looks_complete(tmp_path: Path) -> None:
    """A backup killed with SIGKILL midway: only a hidden partial file, which verify refuses."""
    home = initialised(tmp_path / "var")
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:  # 150 MB that do not compress
        db.execute("CREATE TABLE filler (data BLOB)")
        for _ in range(150):
            db.execute("INSERT INTO filler VALUES (?)", (os.urandom(1 << 20),))
    out = tmp_path / "backups"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env["SECRETUM_HOME"] = str(home)
    process = subprocess.Popen(
        [sys.executable, "-m", "secretum.cli", "backup", "create", "--to", str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = list(out.glob(".*.partial")) if out.exists() else []
        if partial and partial[0].stat().st_size > 20 << 20:
            break
        time.sleep(0.02)
    else:
        pytest.fail("the backup never got underway")
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not list(out.glob("*.scbk"))
    (left,) = list(out.glob(".*.partial"))
    done = run(home, "backup", "verify", str(left))
    assert done.returncode != 0 and "truncated" in done.stderr


def _rows(db: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()  # noqa: S608


def test_a_backup_taken_while_writes_run_restores_row_for_row(tmp_path: Path) -> None:
    """I1, I3: `secretum demo` writes patients, charts and audit events in many transactions
    while the backup runs; the restored instance is the database at one instant: the audit log
    is a prefix of the live one, row for row, every restored row is in the live database, and
    every restored record matches its seals (no half-written transaction)."""
    home = initialised(tmp_path / "var")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env["SECRETUM_HOME"] = str(home)
    writer = subprocess.Popen(
        [sys.executable, "-m", "secretum.cli", "demo", "--patients", "300", "--seed", "8"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_rows(home / "data" / "secretum.sqlite3", "audit_auditevent")) < 200:
            assert time.monotonic() < deadline and writer.poll() is None
            time.sleep(0.1)
        made = run(home, "backup", "create", "--to", str(tmp_path / "backups"))
        assert made.returncode == 0, made.stderr
        assert writer.poll() is None, "the writer ended before the backup: make it longer"
        # The writer goes on after the backup; once it has committed more, it is stopped (what it
        # leaves half-done is rolled back by SQLite, as a crash would): the rest of its 300
        # patients would prove nothing more.
        after = len(_rows(home / "data" / "secretum.sqlite3", "audit_auditevent"))
        while len(_rows(home / "data" / "secretum.sqlite3", "audit_auditevent")) <= after + 20:
            assert time.monotonic() < deadline + 60 and writer.poll() is None
            time.sleep(0.1)
    finally:
        writer.terminate()
        writer.wait(timeout=60)
    new = tmp_path / "restored"
    done = run(
        tmp_path / "nowhere", "restore", made.stdout.strip(), "--home", str(new),
        "--key-file", str(home / "secretum.key"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    live_db, restored_db = home / "data" / "secretum.sqlite3", new / "data" / "secretum.sqlite3"
    restored_log = _rows(restored_db, "audit_auditevent")
    live_log = _rows(live_db, "audit_auditevent")
    assert 200 <= len(restored_log) < len(live_log)
    assert restored_log == live_log[: len(restored_log)]
    with sqlite3.connect(restored_db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    compared = 0
    for table in tables:
        if table.startswith("sqlite_") or table.startswith("backup_"):
            continue
        with sqlite3.connect(live_db) as conn:
            live_ids = {r[0] for r in conn.execute(f'SELECT rowid FROM "{table}"')}  # noqa: S608
        with sqlite3.connect(restored_db) as conn:
            ids = {r[0] for r in conn.execute(f'SELECT rowid FROM "{table}"')}  # noqa: S608
        assert ids <= live_ids, table
        compared += len(ids)
    assert compared > len(restored_log)
    records = run(new, "records", "verify")
    assert records.returncode == 0, records.stderr


@pytest.mark.postgresql
def test_backup_drill_and_restore_on_postgresql(tmp_path: Path) -> None:
    """I1, I3 on PostgreSQL: pg_dump of an exported snapshot, restored with pg_restore into a
    scratch database (the drill) and into a new, empty one (`secretum restore`); a database
    that is not empty is refused."""
    import secrets

    from tests.core.test_instance_key import _admin, _server

    server = _server()
    names = [f"hbak_cli_{secrets.token_hex(3)}" for _ in range(2)]
    host = f"{server['HOST'] or '127.0.0.1'}:{server['PORT'] or 5432}"
    urls = [f"postgresql://{server['USER']}@{host}/{n}" for n in names]
    with _admin(server) as admin:
        for name in names:
            admin.execute(f'CREATE DATABASE "{name}"')
    try:
        home = tmp_path / "var"
        env = {"SECRETUM_DATABASE_URL": urls[0]}
        assert run(home, "init", **env).returncode == 0
        assert run(home, "demo", "--patients", "4", "--seed", "6", **env).returncode == 0
        made = run(home, "backup", "create", "--to", str(tmp_path / "out"), **env)
        assert made.returncode == 0, made.stderr
        drill = run(home, "backup", "verify", made.stdout.strip(), "--restore-drill", **env)
        assert drill.returncode == 0 and "4 patient records decrypted" in drill.stdout
        for n, new in enumerate(("restored", "again")):
            done = run(
                tmp_path / "nowhere", "restore", made.stdout.strip(), "--home",
                str(tmp_path / new), "--key-file", str(home / "secretum.key"),
                SECRETUM_DATABASE_URL=urls[1],
            )  # fmt: skip
            if n == 0:
                assert done.returncode == 0, done.stderr
                assert "audit log intact" in done.stdout
            else:
                assert done.returncode != 0 and "is not empty" in done.stderr
                assert not (tmp_path / new).exists()
        verify = run(tmp_path / "restored", "audit", "verify", SECRETUM_DATABASE_URL=urls[1])
        assert verify.returncode == 0, verify.stderr
    finally:
        with _admin(server) as admin:
            for name in names:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_scheduled_backup_runs_until_stopped(home: Path, tmp_path: Path) -> None:
    """I1: `secretum backup create --every SECONDS`, as `serve` starts it: a backup at once,
    copied to the second target, then it waits; SIGTERM stops it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env.update(SECRETUM_HOME=str(home), SECRETUM_BACKUP_COPY_TO=str(tmp_path / "copy"))
    out = tmp_path / "scheduled"
    args = ("backup", "create", "--every", "3600", "--to", str(out))
    process = subprocess.Popen(
        [sys.executable, "-m", "secretum.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list((tmp_path / "copy").glob("*.scbk")):
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert f"copied to {tmp_path / 'copy'}" in stdout
    assert len(list(out.glob("*.scbk"))) == 1


def test_a_lost_machine_comes_back_from_its_recovery_sheet_and_its_backup(tmp_path: Path) -> None:
    """I3 with key custody (O2, I2): the server is gone; on a new machine the key file is rebuilt
    from its passphrase recovery file (`secretum keys recover`), and the backup restored with it."""
    home, safe = tmp_path / "old" / "var", tmp_path / "safe"
    safe.mkdir()
    passphrase = {"SECRETUM_RECOVERY_PASSPHRASE": "orbit lantern meadow copper violin harbour"}
    initialised(home, ("--patients", "3", "--seed", "4"))
    made = run(home, "keys", "backup", "--passphrase", "--out", str(safe), **passphrase)
    assert made.returncode == 0, made.stderr
    backup = run(home, "backup", "create", "--to", str(tmp_path / "disk"))
    assert backup.returncode == 0, backup.stderr
    (recovery,) = safe.glob("*.txt")
    shutil.rmtree(tmp_path / "old")  # the machine is lost
    recovered = tmp_path / "recovered"
    done = run(recovered, "keys", "recover", str(recovery), "--home", str(recovered), **passphrase)
    assert done.returncode == 0, done.stderr
    new = tmp_path / "new" / "var"
    restored = run(
        tmp_path / "nowhere", "restore", backup.stdout.strip(), "--home", str(new),
        "--key-file", str(recovered / "secretum.key"),
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    assert "3 patient records decrypted" in restored.stdout
    assert run(new, "check").returncode == 0


@pytest.mark.parametrize("alteration", ["moved", "resealed"])
def test_a_drill_names_records_altered_before_the_backup(tmp_path: Path, alteration: str) -> None:
    """I3: a backup is only as good as what it holds: a drill of a database where someone moved
    a sealed value to another patient, or changed a row past its record seal, fails and says so."""
    home = initialised(tmp_path / "var", ("--patients", "2", "--seed", "9"))
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        (first, a), (second, _b) = db.execute(
            "SELECT id, family_name FROM patients_patient ORDER BY id"
        ).fetchall()
        if alteration == "moved":
            db.execute("UPDATE patients_patient SET family_name = ? WHERE id = ?", (a, second))
        else:
            db.execute("UPDATE patients_patient SET record_version = 99 WHERE id = ?", (first,))
    made = run(home, "backup", "create", "--to", str(tmp_path / "out"))
    assert made.returncode == 0, made.stderr
    drill = run(home, "backup", "verify", made.stdout.strip(), "--restore-drill")
    assert drill.returncode != 0 and "Traceback" not in drill.stderr
    expected = "does not decrypt" if alteration == "moved" else "does not match its record seal"
    assert "restore drill failed" in drill.stderr and expected in drill.stderr, drill.stderr
