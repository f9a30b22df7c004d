"""System checks of the audit log (D2), run by `secretum check` and `secretum serve`."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.db import DatabaseError, connection

from secretum.audit import keys
from secretum.audit.db import AUDIT_TABLES


@register("secretum", deploy=True)
def audit_checks(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    problems: list[Any] = []
    paths = keys.AuditKeyPaths(settings.INSTANCE.home)
    try:
        # The signing key is checked, never read: `serve` runs these checks in the process its
        # web workers are forked from, and only the signer process may hold that key.
        keys.check_private(paths.signing_key)
        keys.load_mac_key(paths)
        keys.load_public_key(paths)
    except (keys.AuditKeyError, ValueError) as exc:
        problems.append(Error(str(exc), id="secretum.E101"))
    else:
        problems.extend(_expected_key(paths))
    interval = settings.SECRETUM_AUDIT_CHECKPOINT_INTERVAL
    if not 1 <= interval <= 300:
        problems.append(
            Error(
                f"SECRETUM_AUDIT_CHECKPOINT_INTERVAL is {interval} s; D2 requires a signed "
                "checkpoint at least every 5 minutes (300 s).",
                id="secretum.E102",
            )
        )
    problems.extend(_database_checks())
    beside = None
    with contextlib.suppress(DatabaseError):  # no database yet: `serve` migrates after its checks
        beside = witness_beside_database()
    if beside is not None:
        problems.append(
            Warning(
                f"The audit witness {settings.SECRETUM_AUDIT_WITNESS} shares a file system with "
                f"the database ({beside}): whoever can cut the log can cut its witness too.",
                hint="Set SECRETUM_AUDIT_WITNESS to another disk or another machine's mount "
                "(docs/audit.md).",
                id="secretum.W102",
            )
        )
    return problems


_LOCAL_HOSTS = ("", "localhost", "127.0.0.1", "::1")


def witness_beside_database() -> Path | None:
    """D2: what the witness shares a file system with, the instance folder or the database
    (its file, or a local PostgreSQL's data directory when the role may read where that is);
    None when it is elsewhere or that cannot be told."""
    witness = Path(settings.SECRETUM_AUDIT_WITNESS).absolute()
    home = Path(settings.INSTANCE.home).absolute()
    if witness.is_relative_to(home):
        return home
    folder = witness
    while not folder.exists():  # the witness (and its folder) may not exist yet
        folder = folder.parent
    for database in _database_paths():
        try:
            if folder.stat().st_dev == database.stat().st_dev:
                return database
        except OSError:  # not a file (an in-memory database), or not ours to see
            continue
    return None


def _database_paths() -> list[Path]:
    if connection.vendor == "sqlite":
        return [Path(str(connection.settings_dict["NAME"]))]
    # A server on another host has another file system, whatever its folder is called: it is
    # not asked (nor is the question logged on a server that refuses it).
    if not on_this_machine(str(connection.settings_dict.get("HOST") or "")):
        return []
    # Readable by a superuser or a member of pg_read_all_settings; hidden from other roles.
    with connection.cursor() as cur:
        cur.execute("SELECT setting FROM pg_settings WHERE name = 'data_directory'")
        row = cur.fetchone()
    return [Path(row[0])] if row else []


def on_this_machine(host: str) -> bool:
    """A database HOST setting that names this machine: none, the loopback, or a socket folder."""
    return host in _LOCAL_HOSTS or host.startswith("/")


def _expected_key(paths: keys.AuditKeyPaths) -> list[Any]:
    """D2: the checkpoint key is the one whose fingerprint the practice kept outside."""
    pinned = settings.SECRETUM_AUDIT_KEY_FINGERPRINT
    if not pinned:
        return []
    try:
        expected = keys.normalise_fingerprint(pinned)
    except ValueError as exc:
        return [Error(f"SECRETUM_AUDIT_KEY_FINGERPRINT: {exc}.", id="secretum.E104")]
    found = keys.fingerprint(keys.load_public_key(paths))
    if found != expected:
        return [
            Error(
                f"The checkpoint key {paths.public_key} ({found}) is not the one "
                f"SECRETUM_AUDIT_KEY_FINGERPRINT names ({expected}): the audit log may have been "
                "rewritten and signed again with a new key pair.",
                hint="Run 'secretum audit verify' and follow docs/audit.md.",
                id="secretum.E104",
            )
        ]
    return []


def _database_checks() -> list[Any]:
    try:
        tables = set(connection.introspection.table_names())
    except DatabaseError:
        return []  # no database yet: `serve` migrates after its checks
    if not set(AUDIT_TABLES) <= tables:
        return []
    out: list[Any] = []
    with connection.cursor() as cur:
        # SQLite or PostgreSQL, the two engines a database URL may name (lib/dburl.py).
        if connection.vendor == "sqlite":
            cur.execute(
                "SELECT COUNT(*) FROM sqlite_master "
                "WHERE type = 'trigger' AND tbl_name IN (%s, %s)",
                list(AUDIT_TABLES),
            )
        else:
            cur.execute(
                "SELECT COUNT(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D' "
                "AND tgrelid IN (%s::regclass, %s::regclass)",
                list(AUDIT_TABLES),
            )
        if cur.fetchone()[0] < 2 * len(AUDIT_TABLES):
            out.append(
                Error(
                    "The audit tables' append-only triggers are missing or disabled.",
                    hint="Run 'secretum audit verify', then 'secretum audit protect'.",
                    id="secretum.E103",
                )
            )
        if connection.vendor == "postgresql":
            cur.execute(
                "SELECT has_table_privilege(current_user, %s, 'UPDATE') "
                "OR has_table_privilege(current_user, %s, 'DELETE')",
                [AUDIT_TABLES[0], AUDIT_TABLES[0]],
            )
            if cur.fetchone()[0]:
                out.append(
                    Warning(
                        "The database role Secretum connects as may UPDATE or DELETE audit "
                        "events (it owns the tables, or was granted too much).",
                        hint="Migrate as the owner, serve as another role: "
                        "'secretum audit grant --role NAME --apply' (docs/audit.md).",
                        id="secretum.W101",
                    )
                )
    return out
