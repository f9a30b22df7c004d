"""`secretum backup verify FILE [--restore-drill]`: the manifest's signature and every part's
SHA-256, every chunk authenticated (I4); with ``--restore-drill``, the backup restored into a
scratch folder, opened and checked, the result recorded for the register (I3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.backup import restore, service
from secretum.backup.archive import BackupError


class Command(BaseCommand):
    help = "Verify a backup; --restore-drill restores it into a scratch folder and checks it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--restore-drill", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        if options["restore_drill"]:
            opened = restore.drill(path)
            if not opened.ok:
                raise CommandError(f"restore drill failed: {opened.summary}")
            self.stdout.write(f"restore drill passed: {opened.summary}; recorded for I3.")
            return
        try:
            reading = service.verify(path)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        parts = ", ".join(f"{p['name']} ({p['size']} bytes)" for p in reading.manifest["parts"])
        self.stdout.write(
            f"backup intact: signed manifest of {reading.header['created_at']}, instance "
            f"{reading.header['instance'][:12]}…, parts {parts}; every SHA-256 matches."
        )
