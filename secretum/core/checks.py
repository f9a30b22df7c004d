"""System checks that refuse an unsafe configuration (run by `secretum check` and `serve`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.db import DatabaseError, connection, transaction

from secretum.instance import InstanceError
from secretum.lib import dburl
from secretum.lib.continuity import MARKER, read_marker


@register("secretum", deploy=True)
def instance_checks(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    inst = settings.INSTANCE
    if settings.SECRETUM_BENCHMARK_BASELINE:
        errors.append(
            Error(
                "SECRETUM_BENCHMARK_BASELINE is set: encryption and audit are OFF.",
                hint="This setting exists for bench/ only; unset it.",
                id="secretum.E001",
            )
        )
    if settings.DEBUG:
        errors.append(
            Error("SECRETUM_DEBUG is on.", hint="Unset it in production.", id="secretum.E002")
        )
    try:
        inst.read_keys()
    except InstanceError as exc:
        errors.append(Error(str(exc), id="secretum.E003"))
    if not 1 <= settings.SECRETUM_IDLE_TIMEOUT <= 20 * 60:
        errors.append(
            Error(
                f"SECRETUM_IDLE_TIMEOUT is {settings.SECRETUM_IDLE_TIMEOUT} s; E1 requires a lock "
                "after at most 20 minutes (1200 s).",
                id="secretum.E004",
            )
        )
    errors.extend(_private_folder_checks(inst))
    errors.extend(_database_file_checks())
    errors.extend(_database_password_checks())
    errors.extend(_oidc_checks())
    errors.extend(_continuity_checks(inst))
    if len(settings.SECRET_KEY) < 50:
        errors.append(Error("The Django secret key is missing or short.", id="secretum.E005"))
    return errors


def _continuity_checks(inst: Any) -> list[Any]:
    """I5: a continuity copy is served read-only, and only a continuity copy is: written on, a
    copy would hold records the server never gets back (only its audit events are merged)."""
    copy = read_marker(inst.home) is not None
    if copy and not settings.SECRETUM_READ_ONLY:
        return [
            Error(
                f"This instance is a continuity copy of a backup ({MARKER}) but "
                "SECRETUM_READ_ONLY is off: what is written there would never reach the server.",
                hint="Serve it with 'secretum serve --read-only --from-backup FILE --key-file "
                "KEYFILE --home DIR', or set SECRETUM_READ_ONLY=1.",
                id="secretum.E010",
            )
        ]
    if settings.SECRETUM_READ_ONLY and not copy:
        return [
            Warning(
                "SECRETUM_READ_ONLY is on for an instance that is not a continuity copy: every "
                "write is refused.",
                hint="Unset it on the server; 'secretum serve --read-only --from-backup' sets it "
                "on a copy.",
                id="secretum.W006",
            )
        ]
    return []


def _private_folder_checks(inst: Any) -> list[Any]:
    """O2: the instance folder, its folders of keys and the TLS key are the owner's alone (the
    key file is checked with its contents, secretum.E003; the audit keys by secretum.E101)."""
    problems: list[Any] = []
    for folder in (inst.home, inst.tls_cert.parent, inst.home / "audit", inst.home / "compliance"):
        problems += _owner_only(
            folder, f"The folder {folder} is open to group or others", "secretum.E009"
        )
    key = settings.SECRETUM_TLS_KEY_FILE  # the instance's own, or the practice's (H1)
    problems += _owner_only(
        key, f"The TLS private key {key} is readable by others", "secretum.E008"
    )
    return problems


def _owner_only(path: Path, fact: str, check_id: str) -> list[Any]:
    """O2, H3: the error ``check_id`` (``fact``, the mode, the chmod that mends it) when group or
    others may open ``path``; nothing when only its owner may, or when it is absent."""
    try:
        st = path.stat()
    except OSError:
        return []
    mode = st.st_mode & 0o777
    if not mode & 0o077:
        return []
    owner_only = "700" if stat.S_ISDIR(st.st_mode) else "600"
    hint = f"Run 'chmod {owner_only} {path}'."
    return [Error(f"{fact} (mode {mode:04o}).", hint=hint, id=check_id)]


def _database_file_checks() -> list[Any]:
    """O2, H3: the SQLite file (and its -wal and -shm) is the owner's alone; the database, SQLite
    or PostgreSQL, accepts writes (every access writes an audit event, D2)."""
    problems: list[Any] = []
    if connection.vendor == "sqlite":
        files = _sqlite_files()
        for file in files:
            problems += _owner_only(
                file,
                f"The database file {file} is readable by others than its owner",
                "secretum.E302",
            )
        if not files[0].exists():
            return problems  # no database yet: `serve` and `migrate` create it
    try:
        refused = _refused_write()
    except DatabaseError:
        return problems  # unreachable: `check` says so when it reads the migrations
    if refused:
        problems.append(
            Error(
                f"The database at {dburl.describe(connection.settings_dict)} is read-only "
                f"({refused}).",
                hint="Secretum writes an audit event at every access: let the user it runs as "
                "write (file mode, database role), or point it at the primary server.",
                id="secretum.E303",
            )
        )
    return problems


def _sqlite_files() -> list[Path]:
    """The SQLite database file, then its write-ahead log and shared-memory index."""
    path = Path(str(connection.settings_dict["NAME"]))
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def _refused_write() -> str:
    """Why the database refuses a write, or "" when it takes one: a SQLite file or folder the
    user cannot write, a PostgreSQL session that is read-only, or a harmless write (rolled back)
    that fails."""
    from secretum.crypto.models import KeyFingerprint

    if connection.vendor == "sqlite":
        files = _sqlite_files()
        for file in (*files, files[0].parent):  # the folder: SQLite creates -wal and -shm there
            if file.exists() and not os.access(file, os.W_OK):
                return f"{file} cannot be written"
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SHOW transaction_read_only")
            if cur.fetchone()[0] == "on":
                return "transaction_read_only is on: a standby, or default_transaction_read_only"
    table = KeyFingerprint._meta.db_table
    if table not in connection.introspection.table_names():
        return ""  # not migrated yet: `check` reports the pending migrations
    try:
        with transaction.atomic():
            with connection.cursor() as cur:
                # Writes the one row onto itself, then rolls back: nothing changes.
                cur.execute(f"UPDATE {connection.ops.quote_name(table)} SET id = id")  # noqa: S608
            transaction.set_rollback(True)
    except DatabaseError as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ""


def _database_password_checks() -> list[Any]:
    """H3: the database password comes from a file (mode 600), not from the environment."""
    problems: list[Any] = []
    for name in ("SECRETUM_DATABASE_URL_FILE", "SECRETUM_DATABASE_PASSWORD_FILE"):
        value = os.environ.get(name, "").strip()
        if value:
            fact = f"The file {value} named by {name} is readable by others"
            problems += _owner_only(Path(value), fact, "secretum.E304")
    url = os.environ.get("SECRETUM_DATABASE_URL", "")
    if not os.environ.get("SECRETUM_DATABASE_URL_FILE") and dburl.url_password(url):
        # A warning, so that `check` fails and `serve` goes on: existing setups keep running.
        problems.append(
            Warning(
                "The database password is written inside SECRETUM_DATABASE_URL, where every "
                "process of the user, and often a log, can read it.",
                hint="Put it in a file (mode 600) named by SECRETUM_DATABASE_PASSWORD_FILE and "
                "remove it from the URL.",
                id="secretum.W301",
            )
        )
    return problems


def _oidc_checks() -> list[Any]:
    """The external identity provider (B3): off without an issuer; complete and safe with one."""
    from urllib.parse import urlsplit

    problems: list[Any] = []
    if os.environ.get("SECRETUM_OIDC_CLIENT_SECRET"):
        problems.append(
            Error(
                "SECRETUM_OIDC_CLIENT_SECRET is set: a secret never comes from the environment.",
                hint="Put it in a file (mode 600) named by SECRETUM_OIDC_CLIENT_SECRET_FILE.",
                id="secretum.E201",
            )
        )
    issuer = settings.SECRETUM_OIDC_ISSUER
    if not issuer:
        return problems
    if urlsplit(issuer).scheme != "https" or not urlsplit(issuer).hostname:
        problems.append(Error("SECRETUM_OIDC_ISSUER must be an https URL.", id="secretum.E202"))
    if not settings.SECRETUM_OIDC_CLIENT_ID:
        problems.append(
            Error(
                "SECRETUM_OIDC_ISSUER is set without SECRETUM_OIDC_CLIENT_ID.", id="secretum.E203"
            )
        )
    secret_file = settings.SECRETUM_OIDC_CLIENT_SECRET_FILE
    if not secret_file:
        problems.append(
            Error(
                "SECRETUM_OIDC_ISSUER is set without SECRETUM_OIDC_CLIENT_SECRET_FILE.",
                id="secretum.E204",
            )
        )
    else:
        path = Path(secret_file)
        try:
            empty = not path.read_text().strip()
        except OSError:
            empty = True
        if empty:
            problems.append(
                Error(
                    f"The OIDC client secret file {path} is missing or empty.", id="secretum.E204"
                )
            )
        elif path.stat().st_mode & 0o077:
            problems.append(
                Error(
                    f"The OIDC client secret file {path} is readable by others.", id="secretum.E205"
                )
            )
    ca_file = settings.SECRETUM_OIDC_CA_FILE
    if ca_file and not Path(ca_file).is_file():
        problems.append(
            Error(f"SECRETUM_OIDC_CA_FILE {ca_file} does not exist.", id="secretum.E206")
        )
    if not settings.SECRETUM_OIDC_STRONG_ACR and not settings.SECRETUM_OIDC_STRONG_AMR:
        problems.append(
            Warning(
                "Neither SECRETUM_OIDC_STRONG_ACR nor SECRETUM_OIDC_STRONG_AMR is set: every "
                "login through the identity provider will also ask for Secretum's second factor.",
                id="secretum.W201",
            )
        )
    return problems
