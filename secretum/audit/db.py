"""Append-only at the database level (D2): triggers, and the application role's privileges.

The triggers refuse UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) on the audit tables,
whoever asks. Someone with the database owner's rights can still drop a trigger: that is what
the signed checkpoints, the witness and the per-event authentication codes are for.

On PostgreSQL, run the migrations as the owner of the tables and serve as another role that
holds INSERT and SELECT only on the audit tables (``secretum audit grant --role NAME`` prints or
applies the statements).
"""

from __future__ import annotations

from typing import Any

AUDIT_TABLES = ("audit_auditevent", "audit_auditcheckpoint")
APPEND_ONLY_MESSAGE = "audit records are append-only"


def sqlite_triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
        for verb in ("UPDATE", "DELETE")
    ]


POSTGRESQL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION secretum_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{APPEND_ONLY_MESSAGE} (% on %)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def postgresql_triggers(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION secretum_audit_append_only()",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION secretum_audit_append_only()",
    ]


def trigger_statements(vendor: str) -> list[str]:
    """For SQLite or PostgreSQL, the two engines a database URL may name (lib/dburl.py)."""
    if vendor == "sqlite":
        return [s for t in AUDIT_TABLES for s in sqlite_triggers(t)]
    return [POSTGRESQL_FUNCTION] + [s for t in AUDIT_TABLES for s in postgresql_triggers(t)]


def install_triggers(connection: Any) -> None:
    with connection.cursor() as cur:
        for sql in trigger_statements(connection.vendor):
            cur.execute(sql)


def drop_trigger_statements(vendor: str) -> list[str]:
    """What an attacker with the owner's rights would run (tests use it to play that part)."""
    if vendor == "sqlite":
        return [
            f"DROP TRIGGER IF EXISTS {t}_no_{verb}"
            for t in AUDIT_TABLES
            for verb in ("update", "delete")
        ]
    return [
        f"DROP TRIGGER IF EXISTS {t}_{name} ON {t}"
        for t in AUDIT_TABLES
        for name in ("append_only", "no_truncate")
    ]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant_statements(role: str, other_tables: list[str]) -> list[str]:
    """PostgreSQL: the application role may append to and read the audit tables, nothing more."""
    r = _quote(role)
    audit = ", ".join(AUDIT_TABLES)
    out = [
        f"REVOKE ALL ON {audit} FROM {r}",
        f"GRANT SELECT, INSERT ON {audit} TO {r}",
        f"GRANT USAGE ON SEQUENCE {', '.join(t + '_id_seq' for t in AUDIT_TABLES)} TO {r}",
    ]
    if other_tables:
        tables = ", ".join(_quote(t) for t in other_tables)
        out.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {r}")
        # USAGE lets nextval() run, never setval() (which needs UPDATE).
        out.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {r}")
    return out
