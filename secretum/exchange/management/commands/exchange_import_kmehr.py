"""`exchange_import_kmehr PATH --as USERNAME`: a SumEHR made by another package into Secretum
(issue 14), under the account of the practitioner who takes responsibility for its entries (their
author); the audit events name the person at the console (``os:NAME``, as for the export).
A registry of formats (`secretum import`) calls ``kmehr.detect`` and the same importer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, no_translations

from secretum.access.actor import AccessDenied, Purpose, role_of
from secretum.exchange.kmehr import importer
from secretum.exchange.management.commands.exchange_export import _os_user
from secretum.maintenance.console import ConsoleActor


class Command(BaseCommand):
    help = "Import a KMEHR SumEHR from another package, its entries authored by --as."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", metavar="PATH")
        parser.add_argument(
            "--as", dest="author", required=True, metavar="USERNAME",
            help="the practitioner who takes responsibility for the entries",
        )  # fmt: skip

    @no_translations  # the command line speaks English, as every other command does
    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        user = get_user_model().objects.filter(username=options["author"], is_active=True).first()
        if user is None:
            raise CommandError(f"--as {options['author']}: no active account of that name.")
        actor = ConsoleActor(
            user=user, role=role_of(user), source="console", purpose=Purpose.CARE,
            os_user=_os_user(),
        )  # fmt: skip
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: cannot be read ({exc.strerror}).") from None
        try:
            report = importer.import_sumehr(actor, data, source_name=path.name)
        except ValidationError as exc:
            raise CommandError(f"{path}: {' '.join(exc.messages)} Nothing was imported.") from None
        except AccessDenied as exc:
            raise CommandError(f"{path}: refused ({exc}). Nothing was imported.") from None
        self._report(path, report)

    def _report(self, path: Path, report: importer.ImportReport) -> None:
        said = "registered from the message" if report.created else "found by national number"
        self.stdout.write(
            f"Imported {path} from {report.sender}: patient {report.patient_uid} ({said})."
        )
        for kind, count in sorted(report.imported.items()):
            self.stdout.write(f"  {kind}: {count} new")
        if report.already:
            self.stdout.write(f"  {report.already} already in the record, not added again")
        for line in report.notes:
            self.stdout.write(f"  note: {line}")
        if report.mismatch:
            self.stdout.write(
                "Warning: the record's identity differs from the message's in "
                f"{', '.join(report.mismatch)}; the record's was kept, check the patient."
            )
        if report.kept:
            self.stdout.write(
                f"Not understood, kept in the original attached to the patient ({report.document}):"
            )
            for line in report.kept:
                self.stdout.write(f"  - {line}")
