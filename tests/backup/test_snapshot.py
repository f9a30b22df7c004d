"""The database at one instant, read for a backup (I1): in place when SQLite's write-ahead log is
empty, through a scratch copy otherwise, and never at the price of this process's locks.

The attacker here is the server itself: another process that writes, and checkpoints, while the
backup reads the file in place. What the backup holds must still be the database of the instant
its read transaction began, whole (SQLite's own integrity check), its row counts those of the
same instant.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from secretum.backup import snapshot

# Another process: rewrites every filler row, adds 500 more, then asks for a checkpoint that
# would copy all of it into the database file; prints the checkpoint's (busy, log, done).
_SERVER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
with db:
    db.execute("UPDATE filler SET data = zeroblob(4000), n = n + 1000")
    db.executemany("INSERT INTO filler (n, data) VALUES (?, randomblob(4000))",
                   [(i,) for i in range(500)])
print(*db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone())
"""

# Whether another process may take SQLite's SHARED lock range of a database file for writing:
# "held" while a connection of the test process holds its SHARED lock, as SQLite in WAL mode
# does for as long as the connection is open.
_PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 510, 0x40000002)
    print("free")
except OSError:
    print("held")
"""


def _python(code: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _database() -> Path:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's own reading (PostgreSQL: pg_dump, tests/backup/test_cli.py)")
    return Path(connection.settings_dict["NAME"])


def _fill(rows: int) -> None:
    with sqlite3.connect(_database()) as db:
        db.execute("DROP TABLE IF EXISTS filler")  # not a model's: Django's flush leaves it
        db.execute("CREATE TABLE filler (n INTEGER, data BLOB)")
        db.executemany(
            "INSERT INTO filler (n, data) VALUES (?, randomblob(4000))", [(i,) for i in range(rows)]
        )


def _restored(tmp_path: Path, source: object, name: str = "restored.sqlite3") -> Path:
    path = tmp_path / name
    with open(path, "wb") as out:
        while block := source.read(1 << 20):  # type: ignore[attr-defined]
            out.write(block)
    return path


def _check(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        return snapshot.table_counts(db)


@pytest.mark.django_db(transaction=True)
def test_a_quiet_database_is_read_in_place_and_stays_that_instant(tmp_path: Path) -> None:
    """I1: no scratch copy; another process rewrites rows, adds rows and asks for a checkpoint
    while the file is read: the checkpoint is held off (busy), and what was read is the database
    before those writes, whole, with the counts of that instant."""
    _fill(1000)
    with snapshot.database(tmp_path) as (name, source, counts, size):
        assert name == snapshot.SQLITE_PART and size == _database().stat().st_size
        assert not list(tmp_path.iterdir())  # no scratch copy
        busy, _log, _done = _python(_SERVER, str(_database())).split()
        assert busy == "1"  # the server's checkpoint waits for the backup's read to end
        copy = _restored(tmp_path, source)
    assert counts["filler"] == 1000
    assert _check(copy) == counts
    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT MAX(n) FROM filler").fetchone()[0] == 999
    with sqlite3.connect(_database()) as db:  # the writes were kept, and now checkpoint
        assert db.execute("SELECT COUNT(*), MAX(n) FROM filler").fetchone() == (1500, 1999)
        assert db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0


@pytest.mark.django_db(transaction=True)
def test_a_log_that_cannot_be_emptied_falls_back_to_the_scratch_copy(tmp_path: Path) -> None:
    """I1: a reader of an older instant keeps the log from being emptied: the online backup API
    copies the database to a scratch file, removed once read; the copy is of the backup's own
    instant (the last write in it)."""
    _fill(10)
    reader = sqlite3.connect(_database(), isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM filler").fetchone()[0] == 10
        with sqlite3.connect(_database()) as db:
            db.execute("INSERT INTO filler (n, data) VALUES (10, x'00')")
        with snapshot.database(tmp_path) as (_name, source, counts, _size):
            assert [p.name for p in tmp_path.iterdir()] == [f".snapshot-{os.getpid()}.sqlite3"]
            copy = _restored(tmp_path, source)
    finally:
        reader.close()
    assert counts["filler"] == 11 and _check(copy) == counts
    assert not list(tmp_path.glob(".snapshot-*"))


@pytest.mark.django_db(transaction=True)
def test_reading_in_place_keeps_this_process_s_locks(tmp_path: Path) -> None:
    """I1: closing any descriptor of the database file would drop every lock this process holds
    on it (SQLite's own) and let another process checkpoint into it unseen; the file is read
    through a descriptor that stays open. The probe sees such a drop (on a file of its own)."""
    other = tmp_path / "other.sqlite3"
    held = sqlite3.connect(other)
    held.execute("PRAGMA journal_mode = WAL")
    held.execute("CREATE TABLE t (x)")
    assert _python(_PROBE, str(other)) == "held"
    os.close(os.open(other, os.O_RDONLY))  # what reading with open() would do
    assert _python(_PROBE, str(other)) == "free"
    held.close()

    _fill(10)
    live = sqlite3.connect(_database())  # as the server's connection of this process
    try:
        live.execute("SELECT COUNT(*) FROM filler").fetchone()
        for _ in range(2):  # the second reuses the descriptor
            with snapshot.database(tmp_path / "scratch") as (_name, source, _counts, _size):
                _restored(tmp_path, source)
        assert _python(_PROBE, str(_database())) == "held"
    finally:
        live.close()
    st = _database().stat()
    assert (st.st_dev, st.st_ino) in snapshot._DESCRIPTORS


def test_a_database_not_in_wal_mode_or_longer_than_its_pages_is_not_read_in_place(
    tmp_path: Path,
) -> None:
    """I1: only the case argued in the module is read in place; a rollback-journal database,
    or a file with bytes past its last page, goes to the online backup API."""
    journal = tmp_path / "journal.sqlite3"
    with sqlite3.connect(journal) as db:
        db.execute("CREATE TABLE t (x)")
    with snapshot._frozen(journal) as frozen:
        assert frozen is None
    wal = tmp_path / "wal.sqlite3"
    with sqlite3.connect(wal) as db:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("CREATE TABLE t (x)")
    with snapshot._frozen(wal) as frozen:
        assert frozen is not None and frozen[2] == {"t": 0}
    with open(wal, "ab") as f:
        f.write(b"\0" * 100)
    with snapshot._frozen(wal) as frozen:
        assert frozen is None
