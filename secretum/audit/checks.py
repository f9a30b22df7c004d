"""System checks of the audit log (D2), run by `secretum check` and `secretum serve`."""

from __future__ import annotations

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
    return problems


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
