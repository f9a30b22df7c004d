"""The maintenance log is append-only in the database too (K1): triggers refuse UPDATE and
DELETE (and, on PostgreSQL, TRUNCATE) on its table, whoever asks, as the audit log's do
(``audit/db.py``, with a message and a function of its own). Someone with the database owner's
rights can drop a trigger: each entry's audit event, in the signed audit log, names it."""

from __future__ import annotations

from typing import Any

TABLES = ("maintenance_maintenanceentry",)
APPEND_ONLY_MESSAGE = "maintenance log entries are append-only"

_POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION secretum_maintenance_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY_MESSAGE} (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def trigger_statements(vendor: str) -> list[str]:
    """For SQLite or PostgreSQL, the two engines a database URL may name (lib/dburl.py)."""
    if vendor == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {t}_no_{verb.lower()} BEFORE {verb} ON {t} "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            for t in TABLES
            for verb in ("UPDATE", "DELETE")
        ]
    out = [_POSTGRESQL_FUNCTION]
    for t in TABLES:
        out += [
            f"DROP TRIGGER IF EXISTS {t}_append_only ON {t}",
            f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
            "FOR EACH ROW EXECUTE FUNCTION secretum_maintenance_append_only()",
            f"DROP TRIGGER IF EXISTS {t}_no_truncate ON {t}",
            f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} "
            "FOR EACH STATEMENT EXECUTE FUNCTION secretum_maintenance_append_only()",
        ]
    return out


def drop_trigger_statements(vendor: str) -> list[str]:
    """What an attacker with the owner's rights would run (the tests' flush uses it too)."""
    if vendor == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {t}_no_{v}" for t in TABLES for v in ("update", "delete")]
    return [
        f"DROP TRIGGER IF EXISTS {t}_{name} ON {t}"
        for t in TABLES
        for name in ("append_only", "no_truncate")
    ]


def install_triggers(connection: Any) -> None:
    with connection.cursor() as cur:
        for sql in trigger_statements(connection.vendor):
            cur.execute(sql)
