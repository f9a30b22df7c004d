"""`secretum records archive`: move to the archive the records without contact for the
practice's archive period (J1; ``patients.archive``).

Prints one line per record archived (its opaque reference and last contact, never a name), one
per record left as found (altered outside Secretum), then a summary, and exits 0. `secretum
serve` runs it as a process of its own with ``--every 86400``: once at start, then once a day
(``secretum.lib.periodic``, as ``accounts disable-inactive``). A second run finds nothing more.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from secretum.lib.periodic import add_every, run_every
from secretum.patients import archive

DAY = 24 * 3600


class Command(BaseCommand):
    help = "Archive the records of patients without contact for the practice's period (J1)."

    def add_arguments(self, parser: Any) -> None:
        add_every(parser, f"{DAY}: once a day")

    def handle(self, *args: Any, **options: Any) -> None:
        run_every(options["every"], self._once, "records archive")

    def _once(self) -> None:
        run = archive.archive_due()
        for uid, last in run.archived:
            self.stdout.write(f"archived {uid}: last contact {last.date().isoformat()}")
        for uid in run.altered:
            self.stdout.write(
                f"left as found {uid}: altered outside Secretum (the auditor is alerted)"
            )
        self.stdout.write(
            f"records archive: {len(run.archived)} archived, {len(run.altered)} left as found "
            f"(no contact since {run.before.date().isoformat()}: {run.years} years)"
        )
        self.stdout.flush()
