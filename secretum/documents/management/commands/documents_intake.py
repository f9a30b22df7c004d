from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from secretum.documents import intake


class Command(BaseCommand):
    help = (
        "Import the files of the scan intake folder (SECRETUM_INTAKE_DIR, D4): each scanned by "
        "clamd (E2), attached to the patient its name names or put in the unfiled tray, then "
        "removed from the folder. With --every N, again every N seconds until stopped."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--every", type=int, default=0, help="seconds between two runs")
        parser.add_argument("--folder", default="", help="the folder (default: the setting)")

    def handle(self, *args: Any, **options: Any) -> None:
        every = options["every"]
        if every < 0 or 0 < every < 10:
            raise CommandError("--every takes a number of seconds, at least 10.")
        folder = Path(options["folder"]) if options["folder"] else intake.intake_folder()
        if folder is None:
            raise CommandError("no intake folder: set SECRETUM_INTAKE_DIR (or give --folder).")
        while True:
            self._once(folder)
            if not every:
                return
            time.sleep(every)

    def _once(self, folder: Path) -> None:
        try:
            report = intake.import_folder(folder)
        except ValidationError as exc:  # no folder, or clamd down: nothing was taken unscanned
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"intake {folder}: {report.filed} filed to patients, {report.unfiled} to the unfiled "
            f"tray, {report.quarantined} quarantined (virus), {len(report.left)} left."
        )
        for line in report.left:
            self.stdout.write(f"  left: {line}")
        for name in report.old:
            self.stderr.write(
                f"WARNING: {name} has been in the intake folder for more than the set time: "
                "import it or remove it."
            )
