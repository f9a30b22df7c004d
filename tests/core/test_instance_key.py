"""One key file, one database (O2, G3, E10, H3): found by an attacker who holds the database but
not the key file (issue 9).

Real instances made by `secretum init` in temporary folders, driven as a user drives them: each
command is a process of `.venv/bin/secretum` with SECRETUM_HOME set. The SQLite tests always run;
the ones about a database URL run on PostgreSQL too, in a database (and a role) of their own,
when the session's database or SECRETUM_TEST_DATABASE_URL names a PostgreSQL server.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from secretum import init, instance
from secretum.lib import dburl
from tests import instances
from tests.audit.elsewhere import witness_elsewhere

ROOT = Path(__file__).resolve().parents[2]
_SCRIPT = Path(sys.executable).with_name("secretum")
SECRETUM = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "secretum.cli"]
# Tables whose rows a refused command must leave as they were.
WATCHED = ("patients_patient", "audit_auditevent", "accounts_user", "clinical_encounter")


def environment(home: Path, **env: str) -> dict[str, str]:
    """The environment of a `secretum` process of the instance at ``home``: none of the test
    run's SECRETUM_* settings, ``env`` added."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SECRETUM_") and k not in ("DJANGO_SETTINGS_MODULE", "PYTEST_VERSION")
    }
    # D2: the witness on another file system than the instance's (`check` warns otherwise).
    environ.update(
        SECRETUM_HOME=str(home), SECRETUM_AUDIT_WITNESS=str(witness_elsewhere(str(home)))
    )
    environ.update(env)
    return environ


def secretum(home: Path, *args: str, timeout: int = 120, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*SECRETUM, *args],
        env=environment(home, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def one_sentence(result: subprocess.CompletedProcess) -> str:
    """The refusal: a non-zero exit and one line on standard error, never a traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def sqlite_rows(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        found: dict[str, Any] = {
            # Table names from WATCHED above, never from input.
            t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchall()  # noqa: S608
            for t in WATCHED
        }
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'crypto_keyfingerprint'"
        ).fetchall()
        found["fingerprint"] = (
            conn.execute("SELECT * FROM crypto_keyfingerprint").fetchall() if has_table else None
        )
    conn.close()
    return found


def other_key_file(tmp_path: Path) -> Path:
    """The key file of another, real instance (made the way `secretum init` makes it)."""
    other = init.create(tmp_path / "other-instance")
    return other.key_file


def put_key_file(home: Path, source: Path) -> None:
    """Put another key file in place, mode 600, as an attacker or a mistaken restore would."""
    target = home / "secretum.key"
    target.write_bytes(source.read_bytes())
    target.chmod(0o600)


# --- a practice on SQLite ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance with fictitious patients, never changed: tests work on copies of it."""
    home = tmp_path_factory.mktemp("practice") / "var"
    # As `init` then `demo` leave it: a copy of the session's template (tests/instances.py).
    return instances.fresh(
        home, witness_elsewhere(str(home)), demo=("--patients", "2", "--seed", "9")
    )


@pytest.fixture
def home(practice: Path, tmp_path: Path) -> Path:
    """A copy of the practice (same keys, same database, same modes) that a test may spoil."""
    copy = tmp_path / "var"
    shutil.copytree(practice, copy)
    return copy


def test_a_fresh_instance_passes_the_check(home: Path) -> None:
    """O2, G3, E10, H3: the new checks find nothing wrong with what `init` made."""
    result = secretum(home, "check")
    assert result.returncode == 0, result.stderr
    assert "configuration is safe" in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ("check",),
        ("demo", "--patients", "1", "--seed", "4"),
        ("serve", "--port", "0", "--http-port", "0"),
        ("audit", "verify"),
        ("migrate",),
    ],
    ids=lambda c: c[0],
)
def test_another_instances_key_file_is_refused_and_nothing_is_written(
    home: Path, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """O2, G3, E10: another instance's key file (mode 600) in place: every command refuses, in one
    sentence naming the key file and the database, and writes nothing; with the right key file
    back, the practice is as it was."""
    database = home / "data" / "secretum.sqlite3"
    before = sqlite_rows(database)
    own_key = (home / "secretum.key").read_bytes()
    put_key_file(home, other_key_file(tmp_path))
    result = secretum(home, *command, timeout=60)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    said = result.stderr
    assert (
        f"The key file {home / 'secretum.key'} does not belong to the database at {database}"
        in said
    )
    assert "fingerprint mismatch" in said
    if command[0] != "check":
        assert one_sentence(result).startswith("secretum: The key file")
    assert sqlite_rows(database) == before
    (home / "secretum.key").write_bytes(own_key)
    assert secretum(home, "check").returncode == 0


def test_a_deleted_fingerprint_does_not_let_another_key_in(home: Path, tmp_path: Path) -> None:
    """O2, G3, E10: whoever holds the database deletes the fingerprint row and puts their key
    file in place: the sampled patients' keys do not open under it, so it is refused still."""
    database = home / "data" / "secretum.sqlite3"
    with sqlite3.connect(database) as conn:
        conn.execute("DELETE FROM crypto_keyfingerprint")
    conn.close()
    before = sqlite_rows(database)
    put_key_file(home, other_key_file(tmp_path))
    line = one_sentence(secretum(home, "demo", "--patients", "1"))
    assert f"The key file {home / 'secretum.key'} does not belong to the database at" in line
    assert "sampled encrypted values do not open under it" in line
    checked = secretum(home, "check")
    assert checked.returncode != 0 and "does not belong to the database" in checked.stderr
    assert sqlite_rows(database) == before  # still no fingerprint, and nothing else


def _before_fingerprints(conn: sqlite3.Connection) -> None:
    """The database as Secretum left it before issue 9: none of the crypto app's tables."""
    for table in ("crypto_keyfingerprint", "crypto_recoverymaterial", "crypto_servingnode"):
        conn.execute(f"DROP TABLE {table}")
    conn.execute("DELETE FROM django_migrations WHERE app = 'crypto'")


def test_an_instance_made_before_fingerprints_adopts_its_own_key_once(home: Path) -> None:
    """O2 (upgrade): a database with Secretum data but no fingerprint table yet, as every instance
    made before issue 9: the first start records the key file's fingerprint, once, saying so,
    because the database's sealed values open under it; later starts say nothing."""
    database = home / "data" / "secretum.sqlite3"
    with sqlite3.connect(database) as conn:
        _before_fingerprints(conn)
    conn.close()
    first = secretum(home, "migrate")
    assert first.returncode == 0, first.stderr
    assert "recorded the fingerprint of the key file" in first.stderr
    # Every sampled value opened: the 2 patients (data key, national number's index) and seeds.
    opened = re.search(r"\((\d+) of (\d+) sampled encrypted values open under it\)", first.stderr)
    assert opened and opened[1] == opened[2] and int(opened[1]) >= 2, first.stderr
    with sqlite3.connect(database) as conn:
        origin = conn.execute("SELECT origin FROM crypto_keyfingerprint").fetchall()
    conn.close()
    assert origin == [("adopted",)]
    again = secretum(home, "check")
    assert again.returncode == 0, again.stderr
    assert "recorded" not in again.stderr


def test_an_instance_made_before_fingerprints_refuses_another_key(
    home: Path, tmp_path: Path
) -> None:
    """O2 (upgrade): the same older database under another key file: `migrate` (which `serve`
    runs first) is refused before it creates anything, and no fingerprint is recorded."""
    database = home / "data" / "secretum.sqlite3"
    with sqlite3.connect(database) as conn:
        _before_fingerprints(conn)
    conn.close()
    put_key_file(home, other_key_file(tmp_path))
    line = one_sentence(secretum(home, "migrate"))
    assert "does not belong to the database" in line
    with sqlite3.connect(database) as conn:
        tables = conn.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'crypto_%'"
        ).fetchall()
    conn.close()
    assert tables == []


def test_init_refuses_a_sqlite_database_that_holds_an_installation(
    practice: Path, tmp_path: Path
) -> None:
    """H3, O2: `init` with a fresh folder, pointed at a database that holds an installation,
    refuses before it writes a key."""
    fresh = tmp_path / "fresh" / "var"
    database = practice / "data" / "secretum.sqlite3"
    before = sqlite_rows(database)
    line = one_sentence(secretum(fresh, "init", SECRETUM_DATABASE_URL=f"sqlite:///{database}"))
    assert f"The database at {database} already holds a Secretum installation" in line
    assert not fresh.exists()
    assert sqlite_rows(database) == before


# --- a missing, truncated or malformed key file -------------------------------------------------


def _edited(field: str, value: Any) -> Any:
    def edit(text: str) -> str:
        data = json.loads(text)
        if value is None:
            del data[field]
        else:
            data[field] = value
        return json.dumps(data)

    return edit


KEY_FILE_DAMAGE = {
    "missing": (None, "is missing"),
    "empty": (lambda text: "", "is empty"),
    "truncated": (lambda text: text[: len(text) // 2], "is truncated"),
    "not-json": (lambda text: "kek = abc\n", "is not valid JSON"),
    "not-an-object": (lambda text: "[]", "is not a Secretum key file"),
    "format-marker": (
        _edited("format", "another-keyfile-9"),
        "has an unknown format marker ('another-keyfile-9', expected 'secretum-keyfile-1')",
    ),
    "missing-field": (_edited("blind_index_key", None), "lacks the field 'blind_index_key'"),
    "short-key": (
        _edited("kek", base64.b64encode(b"k" * 16).decode()),
        "holds a 16-byte key where a 32-byte (256-bit) key is expected",
    ),
    "not-base64": (_edited("kek", "not*base64!"), "is not valid base64"),
}


@pytest.mark.parametrize("damage", list(KEY_FILE_DAMAGE))
def test_a_damaged_key_file_is_named_in_one_sentence(home: Path, damage: str) -> None:
    """O2: each way a key file can be lost or damaged is told in one sentence naming the file, by
    `check` and by any other command (no SECRET_KEY or JSONDecodeError), and nothing runs."""
    key_file = home / "secretum.key"
    change, expected = KEY_FILE_DAMAGE[damage]
    if change is None:
        key_file.unlink()
    else:
        key_file.write_text(change(key_file.read_text()))
    before = sqlite_rows(home / "data" / "secretum.sqlite3")
    for command in (("check",), ("demo", "--patients", "1"), ("audit", "verify")):
        line = one_sentence(secretum(home, *command))
        assert str(key_file) in line, line
        assert expected in line, line
    assert sqlite_rows(home / "data" / "secretum.sqlite3") == before


def test_the_key_file_is_read_once_per_process_until_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O2: settings, the command line, the keyring and the checks each ask for the keys; the file
    is read once, its mode is checked at every ask, and a file that changes is read again."""
    inst = init.create(tmp_path / "var")
    reads: list[Path] = []
    read_text = Path.read_text

    def counted(path: Path, *args: Any, **kwargs: Any) -> str:
        if path == inst.key_file:
            reads.append(path)
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counted)
    first = inst.read_keys()
    assert instance.Instance(inst.home).read_keys() == first
    assert len(reads) == 1
    inst.key_file.chmod(0o640)
    with pytest.raises(instance.InstanceError, match="readable by others"):
        inst.read_keys()
    inst.key_file.chmod(0o600)
    inst.key_file.write_text("")
    with pytest.raises(instance.InstanceError, match="is empty"):
        inst.read_keys()
    assert len(reads) == 2


# --- `secretum check`: what is open to others, what cannot be written ----------------------------


@pytest.mark.parametrize(
    ("path", "mode", "message"),
    [
        (".", 0o755, "The folder {p} is open to group or others (mode 0755)"),
        (".", 0o770, "The folder {p} is open to group or others (mode 0770)"),
        ("tls", 0o755, "The folder {p} is open to group or others (mode 0755)"),
        ("audit", 0o750, "The folder {p} is open to group or others (mode 0750)"),
        ("tls/key.pem", 0o644, "The TLS private key {p} is readable by others (mode 0644)"),
        ("data/secretum.sqlite3", 0o644, "The database file {p} is readable by others"),
        ("data/secretum.sqlite3-wal", 0o604, "The database file {p} is readable by others"),
    ],
)
def test_check_fails_on_what_group_or_others_may_open(
    home: Path, path: str, mode: int, message: str
) -> None:
    """O2, H3: the instance folder, its key and TLS folders, the TLS key and the SQLite file (with
    its -wal and -shm) are the owner's alone; `check` names each one opened, with the chmod."""
    target = (home / path).resolve()
    server = None
    if path.endswith("-wal"):
        # A running server's write-ahead log: kept while a connection is open.
        server = sqlite3.connect(home / "data" / "secretum.sqlite3")
        server.execute("UPDATE crypto_keyfingerprint SET id = id")
        server.commit()
        assert target.exists()
    target.chmod(mode)
    try:
        result = secretum(home, "check")
    finally:
        if server is not None:
            server.close()
    assert result.returncode != 0
    assert message.format(p=target) in result.stderr, result.stderr
    assert "chmod" in result.stderr


def test_check_on_a_database_not_migrated_yet_names_the_migrations_only(
    home: Path, tmp_path: Path
) -> None:
    """O2, D2: a database file with no table yet (made before `secretum migrate`) holds no key
    to mismatch and no audit table to protect: `check` names the migrations to run, and no
    key or trigger problem."""
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    empty.chmod(0o600)
    result = secretum(home, "check", SECRETUM_DATABASE_URL=f"sqlite:///{empty}")
    assert result.returncode != 0
    assert "database migrations are not applied" in result.stderr, result.stderr
    assert "does not belong" not in result.stderr and "append-only" not in result.stderr


def test_check_fails_on_a_read_only_sqlite_database(home: Path) -> None:
    """H3, D2: a database Secretum cannot write (every access writes an audit event)."""
    database = home / "data" / "secretum.sqlite3"
    if os.geteuid() == 0:
        # root writes through file modes: make the file immutable instead.
        made = subprocess.run(["chattr", "+i", str(database)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip("running as root without chattr: no way to make a file read-only")
    else:
        database.chmod(0o400)
    try:
        result = secretum(home, "check")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(database)], check=True)
        database.chmod(0o600)
    assert result.returncode != 0
    assert f"The database at {database} is read-only" in result.stderr, result.stderr


# --- PostgreSQL ---------------------------------------------------------------------------------


def _server() -> dict[str, Any]:
    """The PostgreSQL server the tests may create databases on, or skip."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        return dict(db)
    url = os.environ.get("SECRETUM_TEST_DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return dburl.parse(url)
    pytest.skip("PostgreSQL only (SECRETUM_DATABASE_URL or SECRETUM_TEST_DATABASE_URL)")


def _admin(server: dict[str, Any]) -> Any:
    import psycopg

    return psycopg.connect(
        dbname="postgres",
        user=server["USER"] or None,
        password=server["PASSWORD"] or None,
        host=server["HOST"] or None,
        port=server["PORT"] or None,
        autocommit=True,
    )


@dataclass
class Postgres:
    server: dict[str, Any]
    name: str
    role: str
    home: Path

    def url(self, user: str = "", password: str = "") -> str:
        user = user or self.server["USER"]
        auth = user + (f":{password}" if password else "")
        host = self.server["HOST"] or "127.0.0.1"
        return f"postgresql://{auth}@{host}:{self.server['PORT'] or 5432}/{self.name}"

    def env(self, **more: str) -> dict[str, str]:
        env = {"SECRETUM_DATABASE_URL": self.url()}
        if self.server["PASSWORD"]:
            env["SECRETUM_DATABASE_PASSWORD_FILE"] = str(self.home.parent / "owner-password")
        env.update(more)
        return env

    def count(self, table: str) -> int:
        import psycopg

        with psycopg.connect(
            dbname=self.name,
            user=self.server["USER"] or None,
            password=self.server["PASSWORD"] or None,
            host=self.server["HOST"] or None,
            port=self.server["PORT"] or None,
        ) as conn:
            row = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()  # noqa: S608
        return int(row[0]) if row else 0


@pytest.fixture(scope="module")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Postgres]:
    """A practice on a PostgreSQL database of its own (init + fictitious patients), and a role
    that may only append to the audit log, as `secretum serve` should connect."""
    server = _server()
    suffix = secrets.token_hex(4)
    folder = tmp_path_factory.mktemp("pg")
    pg = Postgres(server, f"secretum_key_{suffix}", f"secretum_keyapp_{suffix}", folder / "var")
    if server["PASSWORD"]:
        (folder / "owner-password").write_text(server["PASSWORD"])
        (folder / "owner-password").chmod(0o600)
    with _admin(server) as admin:
        admin.execute(f"CREATE DATABASE {pg.name}")
        admin.execute(f"CREATE ROLE {pg.role} LOGIN")
    try:
        made = secretum(pg.home, "init", **pg.env())
        assert made.returncode == 0, made.stderr
        filled = secretum(pg.home, "demo", "--patients", "2", "--seed", "9", **pg.env())
        assert filled.returncode == 0, filled.stderr
        granted = secretum(pg.home, "audit", "grant", "--role", pg.role, "--apply", **pg.env())
        assert granted.returncode == 0, granted.stderr
        yield pg
    finally:
        with _admin(server) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {pg.name} WITH (FORCE)")
            admin.execute(f"DROP ROLE IF EXISTS {pg.role}")


DECRYPT_ALL = (
    "from secretum.patients.models import Patient; "
    "from secretum.patients.services import patient_key; "
    "print(sum(p.unseal(patient_key(p), 'family_name') is not None "
    "for p in Patient.objects.all()))"
)


@pytest.mark.postgresql
def test_init_refuses_a_postgresql_database_that_holds_an_installation(
    postgres: Postgres, tmp_path: Path
) -> None:
    """H3, O2: `secretum init` with a fresh folder against the practice's PostgreSQL database
    exits non-zero in one sentence naming the database (never its password), writes no key
    file, and every patient still decrypts under the practice's own key file."""
    fresh = tmp_path / "fresh" / "var"
    before = {t: postgres.count(t) for t in WATCHED}
    line = one_sentence(secretum(fresh, "init", **postgres.env()))
    where = dburl.describe(dburl.parse(postgres.url()))
    assert f"The database at {where} already holds a Secretum installation" in line
    assert not fresh.exists() and not (fresh / "secretum.key").exists()
    assert {t: postgres.count(t) for t in WATCHED} == before
    opened = secretum(
        postgres.home,
        "shell",
        "--reason",
        "test: the key opens every record",
        "-c",
        DECRYPT_ALL,
        **postgres.env(),
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip().splitlines()[-1] == "2"
    verified = secretum(postgres.home, "audit", "verify", **postgres.env())
    assert verified.returncode == 0, verified.stderr


@pytest.mark.postgresql
@pytest.mark.parametrize("command", [("check",), ("demo", "--patients", "1")], ids=lambda c: c[0])
def test_another_key_file_is_refused_on_postgresql(
    postgres: Postgres, tmp_path: Path, command: tuple[str, ...]
) -> None:
    """O2, G3, E10: another instance's key file against the practice's PostgreSQL database: the
    command refuses, names the key file and the database (without a password), writes nothing."""
    home = tmp_path / "var"
    shutil.copytree(postgres.home, home)
    put_key_file(home, other_key_file(tmp_path))
    before = {t: postgres.count(t) for t in WATCHED}
    result = secretum(home, *command, **postgres.env())
    where = dburl.describe(dburl.parse(postgres.url()))
    assert result.returncode != 0
    assert (
        f"The key file {home / 'secretum.key'} does not belong to the database at {where} "
        "(fingerprint mismatch)" in result.stderr
    ), result.stderr
    assert {t: postgres.count(t) for t in WATCHED} == before


@pytest.mark.postgresql
def test_check_refuses_a_database_password_inside_the_url(
    postgres: Postgres, tmp_path: Path
) -> None:
    """H3: the database password belongs in SECRETUM_DATABASE_PASSWORD_FILE (mode 600): `check`
    fails on one inside SECRETUM_DATABASE_URL (and never prints it), and on a password file that
    others may read; with the file, the application's role passes the check. The server's
    trust authentication ignores the password itself."""
    password = "Fictitious-" + secrets.token_hex(8)
    app_url = postgres.url(postgres.role)
    in_url = secretum(
        postgres.home, "check", SECRETUM_DATABASE_URL=postgres.url(postgres.role, password)
    )
    assert in_url.returncode != 0
    assert "The database password is written inside SECRETUM_DATABASE_URL" in in_url.stderr
    assert "SECRETUM_DATABASE_PASSWORD_FILE" in in_url.stderr
    assert password not in in_url.stderr + in_url.stdout
    # Existing setups keep running: commands other than `check` still work with it.
    runs = secretum(
        postgres.home,
        "audit",
        "verify",
        SECRETUM_DATABASE_URL=postgres.url(postgres.role, password),
    )
    assert runs.returncode == 0, runs.stderr

    password_file = tmp_path / "database-password"
    password_file.write_text(password + "\n")
    password_file.chmod(0o644)
    from_file = {
        "SECRETUM_DATABASE_URL": app_url,
        "SECRETUM_DATABASE_PASSWORD_FILE": str(password_file),
    }
    opened = secretum(postgres.home, "check", **from_file)
    assert opened.returncode != 0
    assert f"The file {password_file} named by SECRETUM_DATABASE_PASSWORD_FILE" in opened.stderr
    password_file.chmod(0o600)
    good = secretum(postgres.home, "check", **from_file)
    assert good.returncode == 0, good.stderr


@pytest.mark.postgresql
def test_check_fails_on_a_read_only_postgresql_database(postgres: Postgres) -> None:
    """H3, D2: a database that refuses writes (a standby, default_transaction_read_only)."""
    with _admin(postgres.server) as admin:
        admin.execute(f"ALTER DATABASE {postgres.name} SET default_transaction_read_only = on")
    try:
        result = secretum(postgres.home, "check", SECRETUM_DATABASE_URL=postgres.url(postgres.role))
    finally:
        with _admin(postgres.server) as admin:
            admin.execute(f"ALTER DATABASE {postgres.name} RESET default_transaction_read_only")
    assert result.returncode != 0
    where = dburl.describe(dburl.parse(postgres.url(postgres.role)))
    assert f"The database at {where} is read-only" in result.stderr, result.stderr
