"""Upgrading an instance to the installed release (I3, I1, D2): ``secretum upgrade``.

Run with the server stopped, after installing the new release's code. In this order:

1. the database must not be in use (SQLite: another process holding a write lock is refused; a
   PostgreSQL server cannot tell, so the README says to stop every ``secretum serve`` first);
2. the audit log must verify *before* anything changes (a log that is already broken would
   otherwise be blamed on the upgrade, or rolled back over);
3. the pending migrations are listed; with none, that is said, the checks of step 6 run, and
   nothing is written;
4. a backup is taken with the backup service (I1) and verified, signature and every part (I4),
   into a staging folder of the instance, before anything is touched;
5. the migrations are applied;
6. the audit log verifies and every patient record matches its seals (what ``secretum audit
   verify`` and ``secretum records verify`` run, in this process);
7. on any failure in 5 or 6 the database is put back from that backup (I3): SQLite, the file
   from the backup takes the database's place (``restore.place_database``, the restore's own
   placing); PostgreSQL, the public schema is dropped and made again, and the dump restored
   into it with ``pg_restore`` as ``secretum restore`` does. What a rollback cannot do is said,
   with the manual command;
8. the upgrade is recorded in the audit log (from which migrations to which, the backup file,
   the outcome), in whichever database is now the instance's.

D2: the backup's own audit event is written only after step 6 decides, into the database that
stays; a rollback then puts back a log that holds every event the witness has seen, and the log
verifies after it without a re-anchoring. Should a migration itself have written audit events
(none does today), the log after the rollback is shorter than the witness says: this is named,
and ``secretum audit reanchor`` is the way on, as after any restore of an older database.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from secretum.access.actor import Actor
from secretum.audit import heads
from secretum.audit.log import record_event
from secretum.audit.models import Action, Outcome
from secretum.audit.verify import verify_log
from secretum.backup import archive, restore, service, snapshot
from secretum.backup.archive import BackupError

RESOURCE = "backup.Upgrade"

Say = Callable[[str], None]


class UpgradeError(Exception):
    """The upgrade did not happen or was undone; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Upgrade:
    """What an upgrade did (``detail`` of its audit event)."""

    before: dict[str, str]
    pending: list[str]
    after: dict[str, str] = field(default_factory=dict)
    backup: Path | None = None
    problem: str = ""
    rolled_back: bool = False


def state() -> dict[str, str]:
    """The latest applied migration of each app (the migration state, as recorded)."""
    applied = MigrationRecorder(connection).applied_migrations()
    latest: dict[str, str] = {}
    for app, name in sorted(applied):  # names are numbered: the last one sorted is the latest
        latest[app] = name
    return latest


def pending() -> list[str]:
    """The migrations of this release not applied to the database, in the order they run."""
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def refuse_if_in_use() -> None:
    """SQLite: a database another process is writing to (a running server's transaction) is
    refused; what a server merely holds open cannot be told cheaply, hence step 1 of the
    README's "Upgrading"."""
    if snapshot.engine() != "sqlite":
        return
    probe = sqlite3.connect(str(connection.settings_dict["NAME"]), timeout=0.5)
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        raise UpgradeError(
            f"the database is in use by another process ({exc}): stop 'secretum serve' and every "
            "other secretum command, then run 'secretum upgrade' again. Nothing was changed."
        ) from None
    finally:
        probe.close()


def _migrate() -> None:
    call_command("migrate", interactive=False, verbosity=0)


def _checks(say: Say, *, log_checked: bool = False) -> str:
    """D2, E10, G3: the audit log (unless it was just verified and nothing wrote since) and every
    patient record; the first problem, or ""."""
    from secretum.clinical.records import verify_records

    if not log_checked:
        log = verify_log()
        if not log.ok:
            return f"the audit log does not verify: {log.problem}"
        say(f"  audit log intact: {log.checked} events verified")
    checked, findings = verify_records()
    if findings:
        names = ", ".join(f.patient_uid for f in findings[:3])
        return f"{len(findings)} of {checked} patient records do not match their seals ({names})"
    say(f"  records intact: {checked} patient records verified")
    return ""


def run(say: Say, folder: Path | None = None) -> Upgrade:
    """``secretum upgrade``: see the module's docstring. UpgradeError when nothing changed
    (code 1), when the upgrade was rolled back (code 1), or when the rollback failed (code 3,
    its message saying what to do by hand)."""
    refuse_if_in_use()
    say("1. the audit log before anything changes")
    log = verify_log()
    if not log.ok:
        raise UpgradeError(
            f"the audit log does not verify before the upgrade: {log.problem}. Nothing was "
            "changed: examine it first ('secretum audit verify')."
        )
    say(f"  audit log intact: {log.checked} events verified")
    done = Upgrade(before=state(), pending=pending())
    if not done.pending:
        say("2. no migration pending: the database is already at this release's schema")
        say("3. checks: the records (the audit log was verified at step 1)")
        problem = _checks(say, log_checked=True)
        if problem:
            raise UpgradeError(f"{problem}. Nothing was changed.")
        done.after = done.before
        return done
    say(f"2. {len(done.pending)} migration(s) pending: {', '.join(done.pending)}")
    say("3. backup before the upgrade")
    made = service.take(folder, progress=False)
    done.backup = made.path
    say(f"  backup written: {made.path}")
    staging = Path(tempfile.mkdtemp(prefix=".upgrade-", dir=settings.INSTANCE.home))
    try:
        reading = service.verify(made.path, staging, progress=False)
        say("  backup verified: signed manifest and every part's SHA-256 (I4)")
        say("4. applying the migrations")
        try:
            _migrate()
            say("  migrations applied")
            say("5. checks after the migrations")
            done.problem = _checks(say)
        except (Exception, KeyboardInterrupt) as exc:  # whatever stops a migration: rolled back
            done.problem = f"{type(exc).__name__}: {exc}"
        if not done.problem:
            done.after = state()
            unrecorded = _record(done, made)
            if unrecorded:  # the upgrade stands; the log must say so: the operator is told
                say(f"  WARNING: {unrecorded}")
            return done
        say(f"FAILED: {done.problem}")
        say(f"6. rolling back to the backup {made.path}")
        _roll_back(reading, made.path)
        done.rolled_back = True
        done.after = state()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    back = "at its migrations before the upgrade" if done.after == done.before else "NOT as before"
    say(f"  database put back from the backup: {back}")
    log = verify_log()
    recorded = _record(done, made) if log.ok else ""
    message = f"the upgrade failed and was rolled back to {made.path}: {done.problem}."
    if done.after == done.before:
        message += " The database is as before the upgrade: serve it with the previous release."
    if not log.ok:
        message += (
            f" The audit log after the rollback does not verify ({log.problem}): a manager runs "
            f"'secretum audit reanchor --backup {made.path.name} --user NAME'."
        )
    elif recorded:
        message += f" {recorded}"
    if snapshot.engine() == "postgresql":
        # pg_restore --no-privileges: the grants of `secretum audit grant` are not in the dump.
        message += (
            " If the server connects as another role than this one, give it its rights again: "
            "'secretum audit grant --role ROLE --apply'."
        )
    raise UpgradeError(message)


def _roll_back(reading: archive.Reading, backup: Path) -> None:
    """I3: the database of the backup in the instance's place; UpgradeError (code 3) with the
    manual way when it cannot be done."""
    conf: dict[str, Any] = dict(connection.settings_dict)
    try:
        if snapshot.engine() == "sqlite":
            database = Path(conf["NAME"])
            connection.close()  # the last connection: SQLite folds its WAL into the file
            for extra in ("-wal", "-shm"):  # never let an old WAL replay over the backup
                Path(f"{database}{extra}").unlink(missing_ok=True)
            restore.place_database(reading, database, None)
        else:
            # pg_restore wants an empty database: the schema goes, with every table in it (on
            # a connection of its own: the failed migration's may be in a failed transaction).
            connection.close()
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute("DROP SCHEMA public CASCADE")
                cur.execute("CREATE SCHEMA public")
                # PostgreSQL 15's default for the public schema: every role may use it.
                cur.execute("GRANT USAGE ON SCHEMA public TO PUBLIC")
            connection.close()
            restore.place_database(reading, Path(), conf)
    except (OSError, DatabaseError, BackupError) as exc:
        raise UpgradeError(
            f"the upgrade failed and the rollback failed too ({exc}). The backup {backup} is "
            "intact: make a new instance from it, 'secretum restore "
            f"{backup} --home NEWDIR --key-file {settings.INSTANCE.key_file}' (for PostgreSQL "
            "with SECRETUM_DATABASE_URL naming a new, empty database), and serve from there.",
            code=3,
        ) from None
    heads.forget()  # this process's tree of the log is of the database that went


def _record(done: Upgrade, made: service.Made) -> str:
    """I1, D2: the backup and the upgrade in the audit log of the database that stays; on a
    database put back at an older schema that this release cannot write to, a sentence saying
    so instead."""
    try:
        service.record(made)
        record_event(
            Actor.system(),
            Action.MAINTENANCE,
            RESOURCE,
            outcome=Outcome.FAILURE if done.rolled_back else Outcome.SUCCESS,
            detail={
                "backup": made.path.name,
                "from": done.before,
                "to": done.after,
                "migrations": len(done.pending),
                "rolled_back": done.rolled_back,
            },
        )
    except DatabaseError as exc:
        return f"The upgrade could not be recorded in the older database ({exc})."
    return ""
