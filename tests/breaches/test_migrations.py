"""The breach register left the compliance app for its own without losing a row (D3).

A database at the migrations as they were before the move (compliance 0001, no breaches app)
holds a breach written as the compliance app wrote it; migrating to the head changes no table,
and the breach reads back, its sealed text included, through the breach register's services.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from secretum.breaches import services
from secretum.breaches.models import Breach, BreachUpdate
from secretum.crypto import keyring
from tests.conftest import actor_for

# The migrations before the move: every app at its head, except these two.
BEFORE = [("compliance", "0001_initial"), ("breaches", None)]
TABLES = ("compliance_breach", "compliance_breachupdate")
WHAT = "Fictitious: the reception laptop was stolen from the car of Dr Quilline Zorbatova."


def _executor() -> MigrationExecutor:
    return MigrationExecutor(connection)  # reads the migrations table afresh


def _head() -> list[tuple[str, str]]:
    return _executor().loader.graph.leaf_nodes()


def _schema() -> dict[str, Any]:
    """The breach tables as the database describes them: columns, types, constraints."""
    with connection.cursor() as cursor:
        return {
            table: (
                [
                    (c.name, c.type_code, c.null_ok)
                    for c in connection.introspection.get_table_description(cursor, table)
                ],
                sorted(
                    (
                        (sorted(c["columns"]), c["primary_key"], c["unique"], c["foreign_key"])
                        for c in connection.introspection.get_constraints(cursor, table).values()
                    ),
                    key=repr,
                ),
            )
            for table in TABLES
        }


def _sealed(data: dict[str, Any], aad: str) -> bytes:
    # As the compliance app sealed it before the move (its services.py at 142469c).
    return keyring.seal_secret(json.dumps(data, sort_keys=True).encode(), aad)


def _write_as_before(user: Any) -> str:
    """A breach and its first update, written through the models as they were before."""
    old = _executor().loader.project_state([("compliance", "0001_initial")]).apps
    OldBreach = old.get_model("compliance", "Breach")
    OldUpdate = old.get_model("compliance", "BreachUpdate")
    uid = uuid.uuid4()
    now = timezone.now()
    aware = now - dt.timedelta(hours=5)
    breach = OldBreach.objects.create(
        uid=uid,
        aware_at=aware,
        recorded_at=now,
        recorded_by_id=user.pk,
        narrative=_sealed({"what_happened": WHAT}, f"compliance.Breach.narrative:{uid}"),
        updated_at=now,
    )
    OldUpdate.objects.create(
        breach=breach,
        at=now,
        by_id=user.pk,
        kind="reported",
        fields="what_happened,aware_at",
        sealed=_sealed(
            {"what_happened": WHAT, "aware_at": aware.isoformat()},
            f"compliance.BreachUpdate:{uid}",
        ),
    )
    return str(uid)


@pytest.mark.django_db(transaction=True)  # migrations run outside the test's transaction
def test_a_breach_written_before_the_move_reads_back_after_it(manager: Any) -> None:
    head = _head()
    try:
        _executor().migrate(BEFORE)
        uid = _write_as_before(manager)
        before = _schema()

        # The move itself: up to compliance 0002 (later compliance migrations are not the move).
        moved = [n for n in head if n[0] != "compliance"] + [
            ("compliance", "0002_breaches_own_app")
        ]
        executor = _executor()
        plan = executor.migration_plan(moved)
        assert {(m.app_label, m.name) for m, _backwards in plan} == {
            ("breaches", "0001_initial"),
            ("compliance", "0002_breaches_own_app"),
        }
        statements = [s for s in executor.loader.collect_sql(plan) if not s.startswith("--")]
        assert statements == []  # not one statement for the database: the tables stay as they are

        executor.migrate(head)
    finally:
        _executor().migrate(head)  # the next tests need the database at the head

    assert _schema() == before
    assert Breach._meta.db_table == "compliance_breach"
    assert BreachUpdate._meta.db_table == "compliance_breachupdate"
    found = services.access_breach(actor_for(manager), uid)
    assert found.narrative == {"what_happened": WHAT}
    assert found.status == "open" and found.recorded_by == manager.get_full_name()
    assert [(u.kind, u.values["what_happened"]) for u in found.history] == [("reported", WHAT)]
    assert [b.uid for b in services.list_breaches(actor_for(manager))] == [uid]
