"""`secretum backup create [--to DIR]`: a consistent, compressed, encrypted and signed backup of
the instance, taken while the server keeps serving (I1, I4; ``secretum.backup.service``). Prints
the path of the file it wrote; a progress bar on standard error when it is a terminal.

With ``--every SECONDS`` (as `secretum serve` runs it, default daily) it keeps running: each
backup is then followed by the grandfather-father-son retention of the backup folder and the
copy to the second target (SECRETUM_BACKUP_COPY_TO); managers are alerted when one fails
(``secretum.backup.schedule``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.backup import schedule, service
from secretum.backup.archive import BackupError
from secretum.lib.periodic import add_every, run_every


class Command(BaseCommand):
    help = "Make an encrypted, signed backup of the instance (I1, I4)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--to", type=Path, default=None, help="folder to write the backup in")
        add_every(parser, "86400: daily, as secretum serve runs it")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["every"] > 0:
            run_every(options["every"], lambda: self._scheduled(options["to"]), "backup")
            return
        try:
            made = service.create(options["to"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(str(made.path))

    def _scheduled(self, to: Path | None) -> None:
        for line in schedule.run_scheduled(to):
            self.stdout.write(line)
        self.stdout.flush()
