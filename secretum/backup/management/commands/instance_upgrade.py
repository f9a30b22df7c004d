"""`secretum upgrade [--to DIR]`: bring the database to the installed release, with the server
stopped (I3, I1, D2; ``secretum.backup.upgrade``): a verified backup first, the migrations, the
audit log and every record checked, and a rollback to that backup when anything fails.

Exit status: 0 upgraded (or nothing to do); 1 refused with nothing changed, or rolled back;
3 the rollback failed too (the message gives the manual restore).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.backup import upgrade
from secretum.backup.archive import BackupError


class Command(BaseCommand):
    help = "Upgrade the database to this release: backup, migrations, checks, rollback on failure."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--to", type=Path, default=None, help="folder of the backup (default: the backups')"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        def say(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        try:
            done = upgrade.run(say, options["to"])
        except upgrade.UpgradeError as exc:
            raise CommandError(str(exc), returncode=exc.code) from None
        except BackupError as exc:  # the backup could not be made or verified: nothing changed
            raise CommandError(f"{exc} Nothing was changed.") from None
        if not done.pending:
            say("upgrade: nothing to do; the audit log and the records verify.")
            return
        say(
            f"upgrade done: {len(done.pending)} migration(s) applied, checks passed; the backup "
            f"taken before it is {done.backup}."
        )
