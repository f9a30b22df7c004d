"""What the KEK seals in this app, for its rotation (E10, G3, O2; ``crypto.rotation``): the
names and texts of maintenance windows and of maintenance log entries.

The log is append-only in the database too (``db``, K1). The rotation, which its operator runs
with the owner's rights the triggers yield to anyway, lifts them inside each batch's own
transaction and puts them back before it commits: no other connection ever sees the table
without them (DDL is transactional on SQLite and PostgreSQL; PostgreSQL holds writers of the
table for the batch). It rewrites only the envelope of ``sealed``, the same texts under the new
KEK version, and only a row whose blob is still the one it read."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection

from secretum.crypto.rotation import KekUse, Kind, register
from secretum.maintenance import db, services, windows


@contextlib.contextmanager
def _unlocked() -> Iterator[None]:
    with connection.cursor() as cursor:
        for sql in db.drop_trigger_statements(connection.vendor):
            cursor.execute(sql)
    yield
    db.install_triggers(connection)


ENTRIES = register(
    KekUse(
        "maintenance.MaintenanceEntry",
        "sealed",
        Kind.SECRET,
        lambda e: services.sealed_aad(e.uid),
        unlocked=_unlocked,
    )
)
WINDOWS = register(
    KekUse(
        "maintenance.MaintenanceWindow", "sealed", Kind.SECRET, lambda w: windows.sealed_aad(w.uid)
    )
)
