"""What a backup holds and the keys it is made with (I1, I4).

The backup key is not the database's key: HKDF-SHA256 (RFC 5869) derives it from the key file's
two 256-bit keys with an ``info`` used for nothing else (``keyring.backup_key_of``; a KEK
rotation pins it in the key file, so backups made before it still open), so it exists wherever
the key file does (key custody recovers both at once) and is never stored; knowing it reveals
neither the KEK nor the blind-index key (HKDF is one-way). The instance id is the first 128 bits
of the key file's fingerprint (``keyring.fingerprint_for``), which the database records too. The
manifest is signed with the instance's Ed25519 key, the audit log's checkpoint signing key.

The database, consistently while the server keeps serving:

- SQLite: a read transaction of its own, in which the rows are counted too; in WAL mode writers
  go on, and what is read is the database at that instant. When the write-ahead log is empty
  once that transaction has begun (a checkpoint is asked for first, which a quiet instance
  grants), the database file itself is that instant, and stays so while the transaction lasts:
  SQLite's reader then holds read-mark 0, and no checkpoint copies anything into the file
  without that lock (``walCheckpoint`` in SQLite's ``wal.c``; sqlite.org/walformat.html). The
  file is then streamed as it is, with no scratch copy (I1: the backup's speed). Otherwise (a
  log that writers keep filling, or not in WAL mode) the online backup API
  (``sqlite3.Connection.backup``) copies it in one step to a scratch file first, as before;
- PostgreSQL: ``pg_dump`` (custom format) of a snapshot exported by a REPEATABLE READ, READ ONLY
  transaction (``pg_export_snapshot``), in which the rows of every table are counted too: the
  dump and the manifest's counts are of the same instant.

The configuration part is a tar of the instance folder's ``tls/``, ``audit/`` (the audit log's
keys, without which its events cannot be checked), the audit witness and the ``SECRETUM_*``
settings of the environment that are not secrets. The key file is not in it: key custody keeps
it apart (``secretum keys backup``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import connection, transaction

from secretum.audit import keys as audit_keys
from secretum.backup.archive import BackupError
from secretum.crypto import keyring
from secretum.instance import Instance

SQLITE_PART = "database.sqlite3"
PG_PART = "database.pgdump"
CONFIG_PART = "config.tar"
WITNESS_NAME = "witness/audit-checkpoints.log"
# Settings that name secrets are left out of the configuration part.
_SECRET_WORDS = ("PASSWORD", "SECRET", "KEY", "TOKEN")


def keys_of(inst: Instance) -> tuple[bytes, str]:
    """The backup key and the instance id of the instance's key file: both the same before and
    after a KEK rotation (pinned in the key file by the first one, ``keyring``)."""
    versions = inst.read_key_versions()
    return keyring.backup_key_for(versions), keyring.fingerprint_for(versions)[:32]


def signing_key(home: Path) -> Ed25519PrivateKey:
    return audit_keys.load_signing_key(audit_keys.AuditKeyPaths(home))


def public_key(home: Path) -> Ed25519PublicKey:
    return audit_keys.load_public_key_pem(audit_keys.AuditKeyPaths(home).public_key.read_bytes())


def config_tar(home: Path) -> bytes:
    """The instance's configuration, as a tar (no key file)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("tls", "audit"):
            if (home / folder).is_dir():
                tar.add(home / folder, arcname=folder)
        witness = Path(settings.SECRETUM_AUDIT_WITNESS)
        if witness.is_file():
            tar.add(witness, arcname=WITNESS_NAME)
        environment = {
            k: v
            for k, v in sorted(os.environ.items())
            if k.startswith("SECRETUM_")
            and not any(w in k for w in _SECRET_WORDS)
            and "://" not in v  # a database URL may hold a password
        }
        data = json.dumps(environment, indent=2).encode()
        info = tarfile.TarInfo("environment.json")
        info.size, info.mode = len(data), 0o600
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def extract_config(data: Path, home: Path) -> None:
    """Put a configuration part's files into a new instance folder (owner-only)."""
    with tarfile.open(data) as tar:
        tar.extractall(home, filter="data")
    for path in [home, *home.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)


def engine() -> str:
    return "postgresql" if connection.vendor == "postgresql" else "sqlite"


@contextlib.contextmanager
def database(scratch: Path) -> Iterator[tuple[str, IO[bytes], dict[str, int], int]]:
    """The database at one instant: (part name, its bytes to read, rows per table, size or 0)."""
    if engine() == "postgresql":
        with _postgresql() as found:
            yield found
        return
    path = Path(connection.settings_dict["NAME"])
    with _frozen(path) as frozen:
        if frozen is not None:
            yield frozen
            return
    copy = scratch / f".snapshot-{os.getpid()}.sqlite3"
    try:
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        # Read through a memory map (up to SQLite's own limit): no read call per 4 KiB page.
        source.execute("PRAGMA mmap_size = 1099511627776")
        target = sqlite3.connect(copy)
        try:
            # A scratch copy, removed once read into the backup: no journal, no fsync of its own
            # (the backup file is synced before it is renamed; a crash leaves no backup).
            target.execute("PRAGMA journal_mode = OFF")
            target.execute("PRAGMA synchronous = OFF")
            source.backup(target)  # all pages in one step: one read transaction, one instant
            counts = table_counts(target)
        finally:
            target.close()
            source.close()
        with open(copy, "rb") as f:
            yield SQLITE_PART, f, counts, copy.stat().st_size
    finally:
        copy.unlink(missing_ok=True)


# Descriptors of database files read in place, by (device, inode): opened once per file and
# process, never closed (``_descriptor``).
_DESCRIPTORS: dict[tuple[int, int], int] = {}


def _descriptor(path: Path) -> int:
    """A read-only descriptor of the database file, opened once per file and process and never
    closed: closing any descriptor of a file drops every POSIX lock the process holds on it,
    SQLite's own included (sqlite.org/howtocorrupt.html, section 2.2), which would let another
    process's checkpoint write into the file while it is read, and later while this process's
    connections still believe they hold it."""
    st = path.stat()
    fd = _DESCRIPTORS.get((st.st_dev, st.st_ino))
    if fd is None:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        st = os.fstat(fd)
        _DESCRIPTORS[(st.st_dev, st.st_ino)] = fd
    return fd


class _InPlace(io.RawIOBase):
    """The first ``size`` bytes of a descriptor, read with ``pread`` straight into the
    caller's buffer (the descriptor is never closed, ``_descriptor``)."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd, self._size, self._at = fd, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence != os.SEEK_SET:
            raise ValueError("only absolute positions")
        self._at = offset
        return offset

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), max(0, self._size - self._at))
        got = os.preadv(self._fd, [view[:n]], self._at) if n else 0
        if got < n:
            raise BackupError("The database file became shorter while it was read.")
        self._at += got
        return got

    def read(self, size: int = -1) -> bytes:
        left = max(0, self._size - self._at)
        n = left if size < 0 else min(size, left)
        data = os.pread(self._fd, n, self._at) if n else b""
        if len(data) < n:
            raise BackupError("The database file became shorter while it was read.")
        self._at += len(data)
        return data


@contextlib.contextmanager
def _frozen(path: Path) -> Iterator[tuple[str, IO[bytes], dict[str, int], int] | None]:
    """SQLite in WAL mode with an empty log: the database file read in place, inside a read
    transaction that keeps it the database of one instant (the module's docstring), its rows
    counted in that transaction; ``None`` (nothing held) when the log is not empty. A path
    through a symbolic link is followed first: SQLite keeps the log beside the real file."""
    path = Path(os.path.realpath(path))
    try:
        # A checkpoint that empties the log, if no reader or writer is in the way (no wait).
        with contextlib.closing(sqlite3.connect(path, timeout=0)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except sqlite3.OperationalError:
        pass
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    try:
        if source.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            yield None
            return
        source.execute("BEGIN")
        page_size = source.execute("PRAGMA page_size").fetchone()[0]
        pages = source.execute("PRAGMA page_count").fetchone()[0]  # the read transaction begins
        log = path.with_name(path.name + "-wal")
        fd = _descriptor(path)
        # Checked once the transaction holds its read-mark: an empty log then means mark 0,
        # and the file cannot change until the transaction ends.
        size = page_size * pages
        if (log.exists() and log.stat().st_size) or os.fstat(fd).st_size != size:
            yield None
            return
        counts = table_counts(source)
        yield SQLITE_PART, cast(IO[bytes], _InPlace(fd, size)), counts, size
    finally:
        source.close()


def table_counts(db: sqlite3.Connection) -> dict[str, int]:
    names = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    query = 'SELECT COUNT(*) FROM "{}"'  # the schema's own table names
    return {n: int(db.execute(query.format(n)).fetchone()[0]) for n in names}


def pg_environment(conf: dict[str, Any]) -> dict[str, str]:
    """libpq's variables for ``conf`` (a DATABASES entry): the password never on a command line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        PGHOST=str(conf.get("HOST") or ""),
        PGPORT=str(conf.get("PORT") or ""),
        PGUSER=str(conf.get("USER") or ""),
        PGDATABASE=str(conf["NAME"]),
        PGPASSWORD=str(conf.get("PASSWORD") or ""),
    )
    sslmode = (conf.get("OPTIONS") or {}).get("sslmode")
    if sslmode:
        env["PGSSLMODE"] = str(sslmode)
    return {k: v for k, v in env.items() if v != ""}


@contextlib.contextmanager
def _postgresql() -> Iterator[tuple[str, IO[bytes], dict[str, int], int]]:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cur.execute("SELECT pg_export_snapshot()")
        snapshot = cur.fetchone()[0]
        counts = {}
        for name in sorted(connection.introspection.table_names(cur)):
            cur.execute(f'SELECT COUNT(*) FROM "{name}"')  # noqa: S608  (the schema's names)
            counts[name] = int(cur.fetchone()[0])
        try:
            dump = subprocess.Popen(  # noqa: S603  (fixed arguments, no shell)
                [
                    *("pg_dump", "--snapshot", snapshot, "--format=custom", "--compress=0"),
                    *("--no-owner", "--no-privileges"),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=pg_environment(connection.settings_dict),
            )
        except FileNotFoundError:
            raise BackupError(
                "pg_dump is not installed: install PostgreSQL's client (Debian: "
                "postgresql-client) of the server's version."
            ) from None
        assert dump.stdout is not None  # noqa: S101  (stdout=PIPE)
        try:
            yield PG_PART, dump.stdout, counts, 0
        finally:
            dump.stdout.close()
            error = dump.stderr.read().decode(errors="replace") if dump.stderr else ""
            if dump.wait() != 0:
                raise BackupError(f"pg_dump failed: {error.strip()[:300]}")
