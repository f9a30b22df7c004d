"""`secretum import PATH --reason TEXT [--identity FILE] [--as USERNAME]`: records from another
system or another Secretum (L1, L2): the format is detected (``exchange/importing.py``), an
encrypted input is opened with the passphrase asked on the terminal (or an age X25519 identity
file), and the report says what was created and what was skipped, and why.

Who acts: the person at the server's console, as for `secretum export` (G1): the operating
system's user is recorded (``os:NAME``, purpose maintenance) with the reason in each patient's
audit events. A KMEHR SumEHR's entries are authored by the practitioner ``--as`` names, who must
care for a patient already known (purpose care, the console's user still recorded)."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, no_translations

from secretum.access.actor import Purpose, role_of
from secretum.crypto import age, sealing
from secretum.exchange import importing
from secretum.exchange.management.commands.exchange_export import _os_user
from secretum.maintenance.console import ConsoleActor


def _ask() -> str:
    return getpass.getpass("Passphrase of the export: ")


class Command(BaseCommand):
    help = "Import records: a FHIR Bundle, a FHIR Bulk Data folder, a KMEHR SumEHR (with --as)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", metavar="PATH", help="a file, or a Bulk Data folder")
        parser.add_argument("--reason", required=True, help="why, in 10 to 200 characters")
        parser.add_argument("--identity", metavar="FILE", help="an age X25519 identity file")
        parser.add_argument(
            "--as", dest="author", metavar="USERNAME",
            help="KMEHR: the practitioner who takes responsibility for the entries (their author)",
        )  # fmt: skip

    @no_translations  # the command line speaks English, as every other command does
    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["path"])
        actor = ConsoleActor(
            user=None, role=None, source="console", purpose=Purpose.MAINTENANCE,
            os_user=_os_user(),
        )  # fmt: skip
        try:
            reason = sealing.checked_reason(options["reason"])
        except ValidationError:
            raise CommandError("--reason: why, in 10 to 200 characters.") from None
        if not path.exists():
            raise CommandError(f"{path}: no such file or folder.")
        secrets = importing.Secrets(passphrase=_ask)
        if options["identity"]:
            secrets.identity = self._identity(Path(options["identity"]))
        fmt = importing.detect(path)
        if options["author"]:
            actor = self._author(options["author"], fmt)
        detail = {"reason": reason, "uid": os.getuid(), "source": path.name, "format": str(fmt)}
        try:
            report = importing.importer(fmt)(actor, path, secrets, detail)
        except importing.ImportRefused as exc:
            raise CommandError(f"{path}: {exc}") from None
        for line in report.lines():
            self.stdout.write(line)

    def _author(self, username: str, fmt: importing.Format) -> ConsoleActor:
        """A KMEHR message's entries are recorded under a practitioner's account (their author,
        who must care for a known patient); the audit events still name the console's user."""
        if fmt != importing.Format.KMEHR:
            raise CommandError("--as names the author of a KMEHR import's entries only.")
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"--as {username}: no active account of that name.")
        return ConsoleActor(
            user=user, role=role_of(user), source="console", purpose=Purpose.CARE,
            os_user=_os_user(),
        )  # fmt: skip

    def _identity(self, path: Path) -> age.X25519Identity:
        try:
            lines = path.read_text().splitlines()
            key = next(x.strip() for x in lines if x.strip() and not x.startswith("#"))
            return age.X25519Identity.parse(key)
        except (OSError, StopIteration, UnicodeDecodeError, age.AgeError):
            raise CommandError(f"--identity {path}: not an age identity file.") from None
