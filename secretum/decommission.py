"""Decommissioning an installation (K3): ``secretum decommission``.

Every patient value is sealed under keys that only the key file holds, and every backup is
encrypted under a key derived from it: destroying the key material erases the installation
cryptographically, backups included, wherever they are (unless recovery material survives).
Then, as far as the file system allows, nothing of it is left to read either:

1. refusals first, nothing touched: the instance must be named (typed, or ``--confirm-instance
   ID`` with ``--yes-destroy-everything`` for a script); no ``secretum serve`` may run against
   it (the audit signer's heartbeat, another process holding a file of the folder open, a
   SQLite database another process writes to, checked again after the prompt); the database
   must be this instance's (the key file belongs to it: a ``SECRETUM_DATABASE_URL`` naming
   another practice's database is refused); the certificate goes outside the folder, and its
   file is made before anything is destroyed;
2. a marker (``DECOMMISSIONING``: the instance id, when, who) so that a run that was stopped
   midway can be run again to the end, the key file being gone;
3. the key material: the key file (every KEK version, the blind-index key, the backup key it
   derives), its lock and temporary files, the audit log's keys, the TLS key, the register's
   signing key, and this instance's recovery files (``secretum keys backup``) left in the folder
   or the current one: each overwritten with random bytes over its whole length, synced, then
   removed (``shred``);
4. the database: SQLite, the file, its ``-wal`` and ``-shm``, shredded; PostgreSQL, the schema
   dropped (what the server keeps on its disks, its WAL and its backups, is the DBA's to erase);
5. everything else in the folder (backups kept there, logs, the witness kept there, the
   vulnerability database) shredded, the folders removed; the scans waiting in the intake
   folder (unsealed) shredded too;
6. a certificate: which instance, when, who (the system's user), each step and its outcome,
   and what the practice must still do (disks, backups and recovery sheets kept elsewhere),
   written to its file and printed.

Overwriting a file in place reaches its blocks on a plain file system on a plain disk; not the
copies a journaling or copy-on-write file system, an SSD's wear levelling or a virtual
machine's snapshots keep: the certificate says so, and names physical destruction or certified
wiping (NIST SP 800-88) as the practice's part.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import socket
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from secretum.instance import Instance, InstanceError, home_from_env

MARKER = "DECOMMISSIONING"
_BLOCK = 1 << 20
Say = Callable[[str], None]


class DecommissionError(InstanceError):
    """A refusal, in one sentence; nothing was destroyed."""


@dataclass
class Step:
    what: str
    done: bool = True
    note: str = ""

    def line(self) -> str:
        mark = "done" if self.done else "NOT DONE"
        return f"[{mark}] {self.what}" + (f" ({self.note})" if self.note else "")


@dataclass
class Run:
    home: Path
    instance_id: str
    engine: str  # "sqlite" or "postgresql"
    database: str  # the SQLite file, or the PostgreSQL database's URL without password
    user: str
    started: dt.datetime
    steps: list[Step] = field(default_factory=list)
    remains: list[str] = field(default_factory=list)


def shred(path: Path) -> int:
    """K3: a regular file overwritten with random bytes over its whole length, synced, then
    removed, and its folder synced; a symbolic link or another kind of entry is only removed
    (never followed). Returns the bytes overwritten."""
    if not path.is_symlink() and path.is_file():
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            size = left = os.fstat(fd).st_size
            while left:
                left -= os.write(fd, os.urandom(min(left, _BLOCK)))
            os.fsync(fd)
        finally:
            os.close(fd)
    else:
        size = 0
    path.unlink()
    _sync(path.parent)
    return size


def _sync(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def shred_tree(folder: Path) -> tuple[int, int]:
    """Every file under ``folder`` shredded, then the folders removed, ``folder`` last:
    (files, bytes). A ``folder`` that is a symbolic link is removed, never followed: what it
    points to is outside the instance."""
    if folder.is_symlink():
        folder.unlink()
        return 0, 0
    files = size = 0
    for parent, dirs, names in os.walk(folder, topdown=False):
        for name in names:
            size += shred(Path(parent) / name)
            files += 1
        for name in dirs:
            entry = Path(parent) / name
            if entry.is_symlink():
                entry.unlink()
            else:
                entry.rmdir()
    folder.rmdir()
    return files, size


def _os_user() -> str:
    try:
        return f"{getpass.getuser()} (uid {os.getuid()})"
    except (OSError, KeyError):  # a user id without a name (a container)
        return f"uid {os.getuid()}"


def _identify(home: Path) -> str:
    """The instance id: from the key file, or from the marker of a run stopped midway."""
    marker = home / MARKER
    if marker.is_file():
        try:
            return str(json.loads(marker.read_text())["instance"])
        except (ValueError, KeyError, TypeError):
            raise DecommissionError(f"{marker} is damaged; remove the folder by hand.") from None
    if not home.is_dir():
        raise DecommissionError(f"No instance in {home}: nothing to decommission.")
    inst = _keys_of(home)
    from secretum.crypto import keyring

    return keyring.fingerprint_for(inst.read_key_versions())[:32]


def _keys_of(home: Path) -> Instance:
    """The instance, its keys where the environment says, as every command reads them: a key
    file named by ``SECRETUM_KEY_FILE`` (kept elsewhere, a container's secret mount), the key
    file's content in ``SECRETUM_KEY``, else the instance's own key file."""
    found = Instance.from_env()
    return found if found.home.resolve() == home.resolve() else Instance(home)


def refuse_if_served(home: Path, database: Path | None) -> None:
    """K3: no server, signer or other command of this instance may be running."""
    from secretum.audit import signer
    from secretum.lib import openfiles

    if signer.state() == signer.RUNNING:
        raise DecommissionError(
            "'secretum serve' is running against this instance (its audit signer's heartbeat is "
            "fresh): stop it first. Nothing was destroyed."
        )
    held = openfiles.holders(home)
    if held:
        raise DecommissionError(
            f"another process has files of {home} open ({'; '.join(map(str, held[:3]))}): "
            "stop 'secretum serve' and every other secretum command first. Nothing was destroyed."
        )
    if database is not None and database.exists():
        probe = sqlite3.connect(database, timeout=0.5)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            raise DecommissionError(
                f"the database is in use by another process ({exc}): stop 'secretum serve' and "
                "every other secretum command first. Nothing was destroyed."
            ) from None
        finally:
            probe.close()


def refuse_foreign_database(home: Path, database: str) -> None:
    """K3: the database to destroy is this instance's. A first run checks that the key file
    belongs to it (its recorded fingerprint, sampled values that open): a
    ``SECRETUM_DATABASE_URL`` naming another practice's database is refused before anything is
    touched. A run stopped midway (the key file may be gone) goes on only with the database its
    marker names."""
    from secretum.crypto import binding

    marker = home / MARKER
    if marker.is_file():
        named = json.loads(marker.read_text()).get("database", database)  # _identify read it
        if named != database:
            raise DecommissionError(
                f"the run stopped midway was destroying the database {named}, not {database}: "
                "give the first run's SECRETUM_DATABASE_URL. Nothing more was destroyed."
            )
        return
    try:
        binding.require_key_belongs()
    except binding.KeyMismatch as exc:
        raise DecommissionError(
            f"the database {database} does not belong to this instance's key file ({exc.fact}): "
            "SECRETUM_DATABASE_URL names another installation's database. Nothing was destroyed."
        ) from None


def _certificate_path(given: str | None, home: Path, instance_id: str, at: dt.datetime) -> Path:
    name = f"secretum-decommission-{instance_id[:12]}-{at:%Y%m%dT%H%M%SZ}.txt"
    path = (Path(given).expanduser() if given else Path.cwd() / name).resolve()
    if path == home or home in path.parents:
        raise DecommissionError(
            f"the certificate {path} would be inside the instance folder, which is destroyed: "
            "give --certificate PATH elsewhere, or run from another folder. Nothing was destroyed."
        )
    if path.exists():
        raise DecommissionError(f"{path} already exists; refusing to overwrite it.")
    return path


def confirm(args: argparse.Namespace, instance_id: str, stdin: TextIO, say: Say) -> None:
    """K3: the instance named by whoever runs it: typed, or given with the script's flag."""
    if args.yes_destroy_everything:
        if args.confirm_instance != instance_id:
            raise DecommissionError(
                "--yes-destroy-everything needs --confirm-instance with this instance's id "
                f"({instance_id}). Nothing was destroyed."
            )
        return
    if args.confirm_instance is not None:
        raise DecommissionError(
            "--confirm-instance is for scripts, with --yes-destroy-everything. Nothing was "
            "destroyed."
        )
    say(f"Type the instance id ({instance_id}) to destroy it, anything else to stop:")
    typed = stdin.readline().strip()
    if typed != instance_id:
        raise DecommissionError("The instance id was not typed. Nothing was destroyed.")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="secretum decommission",
        description="Crypto-erase this installation (K3): every key destroyed, the database and "
        "the instance folder overwritten and removed, a certificate written.",
    )
    parser.add_argument("--confirm-instance", metavar="ID", help="the instance id (scripts)")
    parser.add_argument(
        "--yes-destroy-everything", action="store_true", help="no question asked (scripts)"
    )
    parser.add_argument("--certificate", metavar="PATH", help="where the certificate goes")
    return parser


def main(argv: list[str], stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """``secretum decommission``: the module's steps in order; 0 when every step was done."""
    args = _parser().parse_args(argv)
    home = home_from_env()
    instance_id = _identify(home)
    import django

    django.setup()
    from django.db import connection

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    engine = "postgresql" if connection.vendor == "postgresql" else "sqlite"
    database = Path(connection.settings_dict["NAME"]) if engine == "sqlite" else None
    started = dt.datetime.now(dt.UTC).replace(microsecond=0)
    run = Run(home, instance_id, engine, _database_name(), _os_user(), started)
    say(f"secretum decommission: instance {instance_id} in {home}, database {run.database}.")
    say("This destroys every key of this instance, its database and its folder: every record,")
    say("and every backup of it unless recovery material of its key file survives.")
    refuse_if_served(home, database)
    refuse_foreign_database(home, run.database)
    certificate = _certificate_path(args.certificate, home, instance_id, started)
    confirm(args, instance_id, stdin, say)
    refuse_if_served(home, database)  # again: a server may have started while the prompt waited
    materials = _recovery_materials(instance_id)
    outside = _outside(home)
    connection.close()
    # The certificate's file first: a folder it cannot go to stops everything before it starts.
    _write_new(certificate, f"Decommissioning of instance {instance_id} started {started:%c} "
               "UTC and did not finish: run 'secretum decommission' again.\n")  # fmt: skip
    _write_new(home / MARKER, json.dumps(
        {"instance": instance_id, "started": str(started), "database": run.database}
    ))  # fmt: skip
    destroy(run, database, materials, outside, say)
    text = certificate_text(run, materials)
    certificate.write_text(text)
    say("")
    say(text)
    say(f"Certificate written to {certificate}")
    return 0 if all(s.done for s in run.steps) else 1


def _write_new(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _database_name() -> str:
    from secretum.crypto import binding

    return str(binding.database_name())


def _recovery_materials(instance_id: str) -> dict[str, str]:
    """This instance's recovery material as its database records it, by material id (K3: the
    certificate names each one to destroy)."""
    from django.db import DatabaseError

    from secretum.crypto.models import RecoveryMaterial

    try:
        rows = list(RecoveryMaterial.objects.filter(instance=instance_id).order_by("made_at"))
    except DatabaseError:  # a run stopped midway: the database may be gone already
        return {}
    return {
        r.material: f"{r.material} ({r.scheme}, made {r.made_at:%Y-%m-%d} by {r.made_by})"
        for r in rows
    }


@dataclass(frozen=True)
class Outside:
    """What the settings name outside the instance folder."""

    backups: Path | None  # SECRETUM_BACKUP_DIR, when not in the folder
    copy_to: str  # SECRETUM_BACKUP_COPY_TO
    witness: Path | None
    logs: Path | None
    tls: list[Path]  # SECRETUM_TLS_CERT_FILE / _KEY_FILE, when not in the folder
    intake: Path | None


def _outside(home: Path) -> Outside:
    from django.conf import settings

    from secretum.lib import logs

    def away(path: Path | str | None) -> Path | None:
        if not path:
            return None
        path = Path(path).resolve()
        return None if path == home or home in path.parents else path

    tls = [
        os.environ.get(n, "").strip() for n in ("SECRETUM_TLS_CERT_FILE", "SECRETUM_TLS_KEY_FILE")
    ]
    return Outside(
        backups=away(settings.SECRETUM_BACKUP_DIR),
        copy_to=settings.SECRETUM_BACKUP_COPY_TO,
        witness=away(settings.SECRETUM_AUDIT_WITNESS),
        logs=away(logs.LogSettings.from_env(os.environ, home).directory),
        tls=[p for p in (away(t) for t in tls) if p is not None],
        intake=Path(settings.SECRETUM_INTAKE_DIR).resolve()
        if settings.SECRETUM_INTAKE_DIR
        else None,
    )


def certificate_text(run: Run, materials: dict[str, str]) -> str:
    """K3: the certificate: which instance, when, who, each step, and what remains to do."""
    finished = dt.datetime.now(dt.UTC).replace(microsecond=0)
    lines = [
        "SECRETUM - CERTIFICATE OF DECOMMISSIONING (K3)",
        "",
        f"Instance id:   {run.instance_id}",
        f"Folder:        {run.home}",
        f"Database:      {run.database} ({run.engine})",
        f"Started:       {run.started.isoformat()}",
        f"Finished:      {finished.isoformat()}",
        f"By:            {run.user} on {socket.gethostname()}",
        "",
        "What was destroyed (overwritten with random bytes, synced, removed, unless said):",
        *(f"  {s.line()}" for s in run.steps),
        "",
        "What the practice must still do:",
    ]
    todo = [
        "Disks: overwriting in place does not reach the copies that a journaling or "
        "copy-on-write file system, an SSD's wear levelling, a RAID or a virtual machine's "
        "snapshots may keep. Every disk that held this instance (and its backups) must be "
        "physically destroyed or wiped by a certified method (NIST SP 800-88 'purge', or a "
        "certified service) before it is discarded, sold or reused; keep that service's "
        "certificate with this one.",
        "Recovery material: the printed recovery sheets, shares or sealed files of the key file "
        "rebuild it, and with it open every backup: destroy each one physically (cross-cut "
        "shredding of the paper, the files deleted): "
        + ("; ".join(materials.values()) if materials else "none recorded in the database")
        + ". Until then, the backups remain readable by whoever holds them.",
        *run.remains,
        "Off-site backups and their copies: encrypted under a key derived from the key file, now "
        "destroyed, they cannot be read without recovery material; delete them all the same "
        "(the backup service, removable disks, the second target) once the recovery material "
        "is destroyed, and note here where and when.",
    ]
    lines += [f"  {n}. {t}" for n, t in enumerate(todo, 1)]
    lines += ["", "Signed (the person responsible for the practice): ______________________", ""]
    return "\n".join(lines)


def destroy(
    run: Run, database: Path | None, materials: dict[str, str], outside: Outside, say: Say
) -> None:
    """The module's steps 3 to 5, each said as it is done and kept in ``run.steps``; what
    lies outside the folder and is not Secretum's to destroy goes to ``run.remains``."""
    home = run.home

    def step(what: str, action: Callable[[], str]) -> None:
        try:
            done = Step(what, True, action())
        except Exception as exc:  # said in the certificate; the other steps go on
            done = Step(what, False, f"{type(exc).__name__}: {exc}")
        run.steps.append(done)
        say(done.line())

    def shredded(path: Path) -> Callable[[], str]:
        return lambda: f"{shred(path)} bytes"

    def tree(path: Path) -> Callable[[], str]:
        def action() -> str:
            files, size = shred_tree(path)
            return f"{files} files, {size} bytes"

        return action

    # 3. The key material first: from here on, what remains is ciphertext without its key.
    keys = _keys_of(home)
    key_file = keys.key_file
    if keys.provider == "environment":  # no file: the key lives where the environment got it
        run.steps.append(
            Step(
                "key file's content, given in SECRETUM_KEY", False,
                "not a file Secretum can reach: destroy it where it is kept (the container's "
                "secret, the service's environment file)",
            )
        )  # fmt: skip
        say(run.steps[-1].line())
    elif key_file.exists():
        step(f"key file {key_file} (every key-encryption key, the blind-index key, the backup "
             "key derived from it)", shredded(key_file))  # fmt: skip
    else:
        run.steps.append(Step(f"key file {key_file}", True, "already destroyed by a first run"))
        say(run.steps[-1].line())
    for extra in [home / "secretum.key.lock", *sorted(home.glob(".secretum.key.*"))]:
        if extra.exists():
            step(f"key file's companion {extra}", shredded(extra))
    for folder, what in (
        ("audit", "the audit log's signing and MAC keys"),
        ("tls", "the TLS certificate and its private key"),
        ("compliance", "the register's report-signing key"),
    ):
        if (home / folder).exists():
            step(f"{home / folder}: {what}", tree(home / folder))
    here = Path.cwd()
    for material in materials:
        for path in sorted(here.glob(f"secretum-recovery-{material}-*")):
            if home not in path.resolve().parents:
                step(f"recovery file {path}", shredded(path))
    # 4. The database.
    if database is not None:
        for suffix in ("", "-wal", "-shm", "-journal", "-writers"):  # -writers: lib/sqlite3
            path = Path(f"{database}{suffix}")
            if path.exists():
                step(f"database file {path}", shredded(path))
    else:
        step(f"PostgreSQL database {run.database}: schema 'public' dropped with every table, "
             "made again empty", _drop_schema)  # fmt: skip
        run.remains.append(
            f"PostgreSQL: the tables of {run.database} were dropped, but the server's data "
            "files, its WAL archive, its replicas and its base backups may still hold their "
            "pages: overwriting them is the database administrator's part (DROP DATABASE, then "
            "the server's disks as in 1)."
        )
    # 5. Everything else in the folder, then scans still waiting in the intake folder.
    if home.exists():
        step(f"instance folder {home} (backups, logs, witness kept there, the marker)", tree(home))
    if outside.intake and outside.intake.is_dir():
        for path in sorted(p for p in outside.intake.iterdir() if p.is_file()):
            step(f"scan waiting in the intake folder {path}", shredded(path))
    _remaining(run, outside)


def _drop_schema() -> str:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE")
        cur.execute("CREATE SCHEMA public")
    return "empty"


def _remaining(run: Run, outside: Outside) -> None:
    """What the settings name outside the folder: said in the certificate, left in place."""
    if outside.backups is not None:
        count = len(list(outside.backups.glob("*.scbk"))) if outside.backups.is_dir() else 0
        run.remains.append(
            f"Backups in {outside.backups} (SECRETUM_BACKUP_DIR, outside the folder): {count} "
            "backup files, left in place, unreadable without the destroyed key material; delete "
            "them with the off-site ones (below)."
        )
    if outside.copy_to:
        run.remains.append(
            f"The second backup target {outside.copy_to} (SECRETUM_BACKUP_COPY_TO): delete its "
            "backups, and the server's SFTP key if one was set up for it."
        )
    if outside.witness is not None:
        run.remains.append(
            f"The audit witness {outside.witness}: signed checkpoints (hashes, no record); "
            "delete it when the audit log no longer needs to be proven."
        )
    if outside.logs is not None:
        run.remains.append(
            f"Logs in {outside.logs} (SECRETUM_LOG_DIR): no names nor record (H2), request "
            "paths and times; delete them with the disk."
        )
    for path in outside.tls:
        run.remains.append(
            f"{path} (SECRETUM_TLS_*): the practice's own certificate or key; revoke the "
            "certificate and destroy its private key."
        )
