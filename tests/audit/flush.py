"""Tests that commit (``transactional_db``) end with Django's flush: DELETE or TRUNCATE of every
table, which the audit tables' append-only triggers refuse (D2). For the test database only,
the flush lifts the triggers for its own statements and puts them back in the same
transaction. Production has no such door: the application's role cannot drop a trigger."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connections

from secretum.audit.db import AUDIT_TABLES, drop_trigger_statements, trigger_statements


def _wrap(original: Any) -> Any:
    def sql_flush(self: Any, style: Any, tables: Any, **kwargs: Any) -> list[str]:
        statements = original(self, style, tables, **kwargs)
        if not statements or not set(AUDIT_TABLES) & set(tables):
            return list(statements)
        vendor = self.connection.vendor
        return [
            *drop_trigger_statements(vendor),
            *statements,
            *trigger_statements(vendor),
        ]

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
