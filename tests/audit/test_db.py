"""The database itself refuses to change or remove audit rows (D2), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import Error
from django.db import DatabaseError, connection, transaction

from secretum.access.actor import Actor
from secretum.audit.checkpoints import create_checkpoint
from secretum.audit.checks import audit_checks
from secretum.audit.db import grant_statements
from secretum.audit.log import record_event
from tests.audit.conftest import as_owner


@pytest.fixture
def logged(db: Any) -> None:
    for _ in range(3):
        record_event(Actor.system(), "read", "session")
    create_checkpoint()


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET outcome = 'denied' WHERE seq = 2",
        "DELETE FROM audit_auditevent WHERE seq = 3",
        "DELETE FROM audit_auditevent",
        "UPDATE audit_auditcheckpoint SET tree_size = 1",
        "DELETE FROM audit_auditcheckpoint",
    ],
)
def test_update_and_delete_are_refused(logged: None, sql: str) -> None:
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql)


def test_truncate_is_refused_on_postgresql(logged: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the rows were added in this test
            cur.execute("TRUNCATE audit_auditevent")


def test_the_orm_cannot_delete_either(logged: None) -> None:
    from secretum.audit.models import AuditEvent

    with pytest.raises(DatabaseError):
        with transaction.atomic():
            AuditEvent.objects.filter(seq=1).delete()


def test_check_refuses_a_database_whose_triggers_were_dropped(logged: None) -> None:
    assert not [p for p in audit_checks() if p.id == "secretum.E103"]
    as_owner("SELECT 1")  # drops the triggers, as the attacker does
    assert [p for p in audit_checks() if isinstance(p, Error) and p.id == "secretum.E103"]
    from django.core.management import call_command

    call_command("audit_protect")
    assert not [p for p in audit_checks() if p.id == "secretum.E103"]


def test_grant_gives_insert_and_select_only_on_audit_tables() -> None:
    statements = grant_statements("secretum_app", ["patients_patient"])
    assert "GRANT SELECT, INSERT ON audit_auditevent, audit_auditcheckpoint" in statements[1]
    assert statements[0].startswith("REVOKE ALL ON audit_auditevent")
    assert not any("audit_" in s and "UPDATE" in s for s in statements)
    assert '"secretum_app"' in statements[1]
    # A database of the audit tables alone: nothing else to grant.
    assert grant_statements("secretum_app", []) == statements[:3]


def test_grant_prints_the_statements_and_applies_them_on_postgresql_only(db: Any) -> None:
    """`secretum audit grant --role NAME`: printed for the owner to read; --apply runs them,
    on PostgreSQL (SQLite has no roles)."""
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out = io.StringIO()
    call_command("audit_grant", "--role", "secretum_app", stdout=out)
    printed = out.getvalue().splitlines()
    revoke = 'REVOKE ALL ON audit_auditevent, audit_auditcheckpoint FROM "secretum_app";'
    assert printed[0] == revoke
    assert any('"patients_patient"' in line for line in printed)
    assert not any("audit_" in line and "UPDATE" in line for line in printed)
    if connection.vendor == "sqlite":
        with pytest.raises(CommandError, match="PostgreSQL only"):
            call_command("audit_grant", "--role", "secretum_app", "--apply")


def test_check_stays_silent_when_the_database_cannot_be_reached(logged: None) -> None:
    """H3: an unreachable database is named by the command itself, not as missing triggers."""
    from django.db import OperationalError

    def unreachable(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        raise OperationalError("unable to open database file")

    with connection.execute_wrapper(unreachable):
        found = audit_checks()
    assert not [p for p in found if p.id == "secretum.E103"]


def test_each_engines_statements_guard_both_tables_against_every_rewrite() -> None:
    """Whatever engine this run is on, the statements of both engines (SQLite, PostgreSQL) are
    complete: every audit table refuses UPDATE and DELETE, and on PostgreSQL TRUNCATE too, and
    the attacker's drop statements (the tests' part to play) name every trigger installed."""
    from secretum.audit.db import AUDIT_TABLES, drop_trigger_statements, trigger_statements

    for vendor in ("sqlite", "postgresql"):
        installed = trigger_statements(vendor)
        dropped = drop_trigger_statements(vendor)
        for table in AUDIT_TABLES:
            creates = [s for s in installed if s.startswith("CREATE TRIGGER") and table in s]
            verbs = " ".join(creates)
            assert "UPDATE" in verbs and "DELETE" in verbs, (vendor, table)
            assert ("TRUNCATE" in verbs) == (vendor == "postgresql"), (vendor, table)
            names = {s.split()[5 if vendor == "sqlite" else 2] for s in creates}
            assert {d.split()[4] for d in dropped if d.split()[4] in names} == names
    assert "RAISE EXCEPTION 'audit records are append-only" in trigger_statements("postgresql")[0]
