"""Tests that commit (``transactional_db``) end with Django's flush: DELETE or TRUNCATE of every
table, which the append-only triggers of the audit tables (D2) and of the maintenance log (K1)
refuse. For the test database only, the flush lifts the triggers for its own statements and puts
them back in the same transaction. Production has no such door: the application's role cannot
drop a trigger."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections

from secretum.audit import db as audit_db
from secretum.maintenance import db as maintenance_db

# Each group of append-only tables: (tables, lift its triggers, put them back).
_APPEND_ONLY: list[
    tuple[tuple[str, ...], Callable[[str], list[str]], Callable[[str], list[str]]]
] = [
    (audit_db.AUDIT_TABLES, audit_db.drop_trigger_statements, audit_db.trigger_statements),
    (
        maintenance_db.TABLES,
        maintenance_db.drop_trigger_statements,
        maintenance_db.trigger_statements,
    ),
]


def _wrap(original: Any) -> Any:
    def sql_flush(self: Any, style: Any, tables: Any, **kwargs: Any) -> list[str]:
        statements = list(original(self, style, tables, **kwargs))
        vendor = self.connection.vendor
        for guarded, lift, restore in _APPEND_ONLY:
            if statements and set(guarded) & set(tables):
                statements = [*lift(vendor), *statements, *restore(vendor)]
        return statements

    return sql_flush


@contextmanager
def flushable() -> Iterator[None]:
    originals = {type(c.ops): type(c.ops).sql_flush for c in connections.all()}
    for cls, original in originals.items():
        cls.sql_flush = _wrap(original)  # type: ignore[method-assign]
    try:
        yield
    finally:
        for cls, original in originals.items():
            cls.sql_flush = original  # type: ignore[method-assign]
