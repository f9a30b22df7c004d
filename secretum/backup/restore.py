"""Restoring a backup (I3): ``secretum restore FILE --home NEWDIR --key-file KEYFILE`` onto a new
instance folder, and the restore drill of ``secretum backup verify --restore-drill``.

Both read the whole backup first (every chunk authenticated, every part hashed, the manifest's
signature checked) into a staging folder, then place the parts: the SQLite file, or PostgreSQL's
dump restored with ``pg_restore`` into the empty database of SECRETUM_DATABASE_URL (the drill:
into a scratch database it creates and drops). Then the restored instance is opened by a process
of its own (``secretum backup drill-check``): the key file must belong to its database, the rows
of every table must be as many as the manifest says, the audit log must verify, and a sample of
patient records must decrypt and match their seals. A refusal changes nothing: a folder the
restore made is removed again.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.utils import timezone

from secretum.audit import keys as audit_keys
from secretum.backup import archive, snapshot
from secretum.backup.archive import BackupError
from secretum.backup.progress import Progress
from secretum.instance import Instance, InstanceError, write_private
from secretum.lib import dburl


@dataclass(frozen=True)
class Opened:
    """What ``drill-check`` found in a restored instance."""

    ok: bool
    findings: dict[str, Any]

    @property
    def summary(self) -> str:
        f = self.findings
        if not self.ok:
            return str(f.get("problem", "the restored instance did not open"))
        return (
            f"{f['tables']} tables and {f['rows']} rows as in the manifest, audit log intact "
            f"({f['audit_events']} events), {f['sampled']} patient records decrypted"
        )


def _empty_or_new(home: Path) -> bool:
    return not home.exists() or (home.is_dir() and not any(home.iterdir()))


def child_env(home: Path, database_url: str = "", password_file: str = "") -> dict[str, str]:
    """The environment of a process opened on the instance in ``home`` (its own settings only:
    none of this process's SECRETUM_* variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["SECRETUM_HOME"] = str(home)
    if database_url:
        env["SECRETUM_DATABASE_URL"] = database_url
    if password_file:
        env["SECRETUM_DATABASE_PASSWORD_FILE"] = password_file
    return env


def open_restored(home: Path, manifest: Path, env: dict[str, str]) -> Opened:
    """Open a restored instance in a process of its own and check it (``drill-check``)."""
    done = subprocess.run(  # noqa: S603  (our own module, fixed arguments)
        [sys.executable, "-m", "secretum.cli", "backup", "drill-check", str(manifest)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    try:
        findings = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        problem = (done.stderr.strip() or done.stdout.strip() or "no output")[-500:]
        return Opened(False, {"problem": f"the restored instance did not open: {problem}"})
    return Opened(bool(findings.get("ok")) and done.returncode == 0, findings)


def _pg_restore(dump: Path, conf: dict[str, Any]) -> None:
    try:
        done = subprocess.run(  # noqa: S603  (fixed arguments, no shell)
            [
                *("pg_restore", "--no-owner", "--no-privileges", "--exit-on-error"),
                *("-d", conf["NAME"], str(dump)),
            ],
            env=snapshot.pg_environment(conf),
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise BackupError("pg_restore is not installed (Debian: postgresql-client).") from None
    if done.returncode != 0:
        raise BackupError(f"pg_restore failed: {done.stderr.strip()[:300]}")


def _pg_is_empty(conf: dict[str, Any]) -> bool:
    import psycopg

    params = {"dbname": conf["NAME"], "user": conf.get("USER") or None}
    params.update(host=conf.get("HOST") or None, port=conf.get("PORT") or None)
    params["password"] = conf.get("PASSWORD") or None
    with psycopg.connect(**{k: v for k, v in params.items() if v}) as db:
        row = db.execute(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
    return row is not None and row[0] == 0


def _place(reading: archive.Reading, home: Path, conf: dict[str, Any] | None) -> None:
    """Put the parts of a checked backup into the instance folder ``home`` (and database)."""
    snapshot.extract_config(reading.files[snapshot.CONFIG_PART], home)
    (home / "environment.json").unlink(missing_ok=True)
    (home / "restored-environment.json").write_text(
        json.dumps(_environment(reading), indent=2), encoding="utf-8"
    )
    database = Instance(home).database  # data/, apart from the key file (docs/keys.md)
    database.parent.mkdir(mode=0o700, exist_ok=True)
    place_database(reading, database, conf)


def place_database(
    reading: archive.Reading, sqlite_file: Path, conf: dict[str, Any] | None
) -> None:
    """The database part of a checked backup: the SQLite file moved to ``sqlite_file`` (one
    rename), or PostgreSQL's dump restored into the database of ``conf``, which must be empty
    (``secretum upgrade`` empties it first to roll back)."""
    if snapshot.SQLITE_PART in reading.files:
        os.replace(reading.files[snapshot.SQLITE_PART], sqlite_file)
        return
    if conf is None:
        raise BackupError(
            "This backup is of a PostgreSQL database: set SECRETUM_DATABASE_URL to the new, empty "
            "database to restore it into."
        )
    _pg_restore(reading.files[snapshot.PG_PART], conf)


def _environment(reading: archive.Reading) -> dict[str, Any]:
    return {"restored_from": reading.header, "tables": reading.manifest.get("tables", {})}


def _public_key_from(staging: Path, given: Path | None) -> Ed25519PublicKey:
    """The key the manifest must be signed with: the operator's (``--public-key``) or the
    instance's own, from the backup's configuration part (authenticated by its encryption)."""
    import tarfile

    if given is not None:
        return audit_keys.load_public_key_pem(given.read_bytes())
    with tarfile.open(staging / snapshot.CONFIG_PART) as tar:
        member = tar.extractfile("audit/checkpoint-signing.pub")
        if member is None:
            raise BackupError("The backup's configuration holds no audit public key.")
        return audit_keys.load_public_key_pem(member.read())


def restored_line(home: Path, opened: Opened) -> str:
    """What ``secretum restore`` says once the restored instance passed its checks."""
    home = home.resolve()
    return (
        f"restored into {home}: {opened.summary}. Start it with SECRETUM_HOME={home} secretum "
        "serve."
    )


def restore(
    path: Path, home: Path, key_file: Path, public_key: Path | None = None, progress: bool = True
) -> Opened:
    """I3: a new instance in ``home`` from the backup ``path`` and the key file ``key_file``."""
    home = home.resolve()
    if not path.is_file():
        raise BackupError(f"{path} is not a file.")
    if not _empty_or_new(home):
        raise BackupError(f"{home} is not empty: restore into a new folder.")
    url = os.environ.get("SECRETUM_DATABASE_URL", "").strip()
    password_file = os.environ.get("SECRETUM_DATABASE_PASSWORD_FILE", "").strip()
    conf = dburl.parse(url, password_file) if url else None
    header = archive.read_header(path)
    postgresql = conf is not None and conf["ENGINE"].endswith("postgresql")
    if header.get("engine") == "postgresql" and not postgresql:
        raise BackupError(
            "This backup is of a PostgreSQL database: set SECRETUM_DATABASE_URL to the new, empty "
            "PostgreSQL database to restore it into."
        )
    if header.get("engine") != "postgresql" and conf is not None:
        raise BackupError(
            "This backup is of a SQLite database, restored into the new instance folder: unset "
            "SECRETUM_DATABASE_URL."
        )
    if conf is not None and postgresql and not _pg_is_empty(conf):
        raise BackupError(f"The database {conf['NAME']} is not empty: restore into a new one.")
    made = not home.exists()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        try:
            write_private(home / "secretum.key", key_file.read_bytes())
        except OSError as exc:
            raise BackupError(f"The key file {key_file} cannot be read ({exc.strerror}).") from None
        inst = Instance(home)
        backup_key, instance_id = snapshot.keys_of(inst)
        if header.get("instance") != instance_id:
            raise BackupError(
                f"{path} is a backup of another instance than the key file {key_file} "
                f"({str(header.get('instance'))[:12]}…, the key file's is {instance_id[:12]}…): "
                "bring the key file of the instance that made it."
            )
        staging = home / ".restore"
        staging.mkdir(mode=0o700)
        bar = Progress("restore", path.stat().st_size) if progress else None
        reading = archive.read(
            path,
            backup_key,
            lambda _m: _public_key_from(staging, public_key),
            staging,
            bar or (lambda n: None),
        )
        if bar:
            bar.end()
        _place(reading, home, conf)
        manifest = home / "restored-manifest.json"
        manifest.write_text(json.dumps(reading.manifest), encoding="utf-8")
        shutil.rmtree(staging)
        opened = open_restored(home, manifest, child_env(home, url, password_file))
        if not opened.ok:
            raise BackupError(f"The restored instance fails its checks: {opened.summary}.")
        return opened
    except BaseException:
        undo(home, made)
        raise


def undo(home: Path, made: bool) -> None:
    """What a failed restore or import wrote into ``home`` removed: the folder when it made
    it, else everything in it (it was empty)."""
    if made:
        shutil.rmtree(home, ignore_errors=True)
    else:
        for child in home.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()


@contextlib.contextmanager
def _scratch_database() -> Iterator[tuple[dict[str, Any] | None, str]]:
    """PostgreSQL: a new database on the same server, dropped afterwards; SQLite: none."""
    if snapshot.engine() != "postgresql":
        yield None, ""
        return
    from django.db import connection

    conf = dict(connection.settings_dict)
    name = f"{conf['NAME']}_drill_{secrets.token_hex(4)}"
    with connection.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conf["NAME"] = name
    where = f"{conf.get('HOST') or ''}:{conf.get('PORT') or 5432}"
    url = f"postgresql://{conf.get('USER') or ''}@{where}/{name}"
    try:
        yield conf, url
    finally:
        with connection.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drill(path: Path, progress: bool = True) -> Opened:
    """I3: the backup restored into a scratch folder (and database), opened, checked, removed;
    the result recorded with its date."""
    from secretum.backup.models import BackupRecord

    at = timezone.now()
    try:
        opened = _drill(path, progress)
    except (BackupError, InstanceError, OSError) as exc:
        opened = Opened(False, {"problem": str(exc)})
    BackupRecord.objects.create(
        kind=BackupRecord.Kind.DRILL, ok=opened.ok, at=at, path=str(path),
        size=path.stat().st_size if path.is_file() else 0, message=opened.summary[:1000],
    )  # fmt: skip
    return opened


def _drill(path: Path, progress: bool) -> Opened:
    from secretum.backup import service

    inst = settings.INSTANCE
    scratch = Path(tempfile.mkdtemp(prefix=".drill-", dir=inst.home))
    try:
        home = scratch / "var"
        staging = scratch / "staging"
        staging.mkdir(mode=0o700)
        reading = service.verify(path, staging, progress)
        home.mkdir(mode=0o700)
        write_private(home / "secretum.key", inst.key_content().encode())  # any provider
        with _scratch_database() as (conf, url):
            password_file = ""
            if conf is not None and conf.get("PASSWORD"):
                password_file = str(scratch / "pgpassword")
                write_private(Path(password_file), str(conf["PASSWORD"]).encode())
            _place(reading, home, conf)
            manifest = scratch / "manifest.json"
            manifest.write_text(json.dumps(reading.manifest), encoding="utf-8")
            return open_restored(home, manifest, child_env(home, url, password_file))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
