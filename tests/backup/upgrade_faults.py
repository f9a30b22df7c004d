"""``python -m tests.backup.upgrade_faults FAULT upgrade ...``: ``secretum`` with a fault put into
the migrate step of ``secretum upgrade`` (tests/backup/test_upgrade.py), in a process of its own
as an operator runs it.

- ``migration``: the real migrations run, then the "migration" makes a table, writes a row to
  it and to a patient's row, and raises: the database is partly altered when it fails;
- ``unrollable``: ``migration``, and the rollback's placing of the backup fails too (a disk
  full, a right missing);
- ``audit``: the real migrations run, then an audit event is changed in place (the triggers
  lifted, as a migration with a bug or an attacker with the database could), so the log no
  longer verifies after the migrate.
"""

from __future__ import annotations

import sys

FAULT_TABLE = "upgrade_fault"


def _migration() -> None:
    from django.db import connection

    from secretum.backup import upgrade

    upgrade.call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cur:
        cur.execute(f"CREATE TABLE {FAULT_TABLE} (id INTEGER PRIMARY KEY)")
        cur.execute(f"INSERT INTO {FAULT_TABLE} (id) VALUES (1)")  # noqa: S608  (a fixed name)
        cur.execute("UPDATE patients_patient SET record_version = record_version + 7")
    raise RuntimeError("injected failure of a migration, half way")


def _audit() -> None:
    from django.db import connection

    from secretum.audit import db as audit_db
    from secretum.backup import upgrade

    upgrade.call_command("migrate", interactive=False, verbosity=0)
    with connection.cursor() as cur:
        for statement in audit_db.drop_trigger_statements(connection.vendor):
            cur.execute(statement)
        cur.execute("UPDATE audit_auditevent SET resource_ref = 'changed' WHERE seq = 2")


def _no_space(*_args: object) -> None:
    raise OSError(28, "No space left on device")


def main() -> int:
    fault, *argv = sys.argv[1:]
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secretum.settings")
    django.setup()
    from secretum import cli
    from secretum.backup import upgrade

    upgrade._migrate = {"migration": _migration, "unrollable": _migration, "audit": _audit}[fault]
    if fault == "unrollable":
        upgrade.restore.place_database = _no_space
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
