"""`secretum restore FILE --home NEWDIR --key-file KEYFILE`: a new instance folder from a backup
and the key file brought from the key custody's recovery material (I3). Refuses a damaged,
truncated, tampered backup, one of another instance or key, and a folder or database that is
not empty; the restored instance is opened and checked before the command says it is done."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.backup import restore
from secretum.backup.archive import BackupError
from secretum.instance import InstanceError


class Command(BaseCommand):
    help = "Restore a backup into a new instance folder (I3)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--home", type=Path, required=True, help="the new instance folder")
        parser.add_argument(
            "--key-file", type=Path, required=True, help="the instance's key file (secretum.key)"
        )
        parser.add_argument(
            "--public-key", type=Path, default=None,
            help="the instance's audit public key (PEM) the manifest must be signed with",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(self.run(options))

    @staticmethod
    def run(options: dict[str, Any]) -> str:
        """The restore, what to say once done; ``CommandError`` when refused. ``secretum
        restore`` calls it before Django is set up (``cli``): nothing here needs the apps."""
        try:
            opened = restore.restore(
                options["file"], options["home"], options["key_file"], options["public_key"]
            )
        except (BackupError, InstanceError) as exc:
            raise CommandError(str(exc)) from None
        return restore.restored_line(options["home"], opened)
