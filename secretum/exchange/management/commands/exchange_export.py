"""`secretum export --format fhir|sumehr --patient NATIONAL_NUMBER --out PATH --reason TEXT
[--recipient AGE_PUBLIC_KEY | --plain]`: one patient's record as a FHIR R4 Bundle, or its
summary as a KMEHR SumEHR 2.0 (issue 14), encrypted with age by default (L1, L2, E7, M3).

Who acts: the person at the server's console, as for `secretum shell` (G1): no account of
Secretum and no care relationship, so the operating system's user is recorded (``os:NAME``,
purpose maintenance) with the reason, always required, in the export's audit event. With
``--plain`` the same reason justifies the copy in clear."""

from __future__ import annotations

import getpass
import os
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, no_translations

from secretum.access.actor import Purpose
from secretum.exchange import kmehr, services
from secretum.maintenance.console import ConsoleActor

# The option's words, to the services' formats.
FORMATS = {"fhir": services.FORMAT, "sumehr": kmehr.FORMAT}
NAMES = {
    services.FORMAT: ("FHIR R4 Bundle", "entries", "json"),
    kmehr.FORMAT: ("KMEHR SumEHR 2.0", "items", "xml"),
}


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # a user id without a name (a container): the number says who
        return f"uid-{os.getuid()}"


class Command(BaseCommand):
    help = "Export one patient's record (FHIR R4) or SumEHR (KMEHR), encrypted unless --plain."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=list(FORMATS), required=True)
        parser.add_argument("--patient", required=True, metavar="NATIONAL_NUMBER")
        parser.add_argument("--out", required=True, metavar="PATH", help="a new file")
        parser.add_argument("--reason", required=True, help="why, in 10 to 200 characters")
        how = parser.add_mutually_exclusive_group()
        how.add_argument("--recipient", default="", metavar="AGE_PUBLIC_KEY")
        how.add_argument("--plain", action="store_true", help="in clear (audited as such)")

    @no_translations  # the command line speaks English, as every other command does
    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"])
        actor = ConsoleActor(
            user=None, role=None, source="console", purpose=Purpose.MAINTENANCE,
            os_user=_os_user(),
        )  # fmt: skip
        reason = options["reason"]
        try:
            reason = services.checked_reason(reason)
            patient = services.patient_for_niss(options["patient"])
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except FileExistsError:
            raise CommandError(f"--out {out}: the file exists; give a new name.") from None
        except OSError as exc:
            raise CommandError(f"--out {out}: cannot be written ({exc.strerror}).") from None
        try:
            with os.fdopen(fd, "wb") as stream:
                done = services.export_patient(
                    actor, patient, stream, recipient=options["recipient"],
                    plain_reason=reason if options["plain"] else None,
                    detail={"reason": reason, "uid": os.getuid(), "file": out.name},
                    format=FORMATS[options["format"]],
                )  # fmt: skip
        except BaseException as exc:
            out.unlink(missing_ok=True)  # nothing half-written is left behind
            if isinstance(exc, ValidationError):
                raise CommandError(" ".join(exc.messages)) from None
            raise
        self._report(out, done, FORMATS[options["format"]])

    def _report(self, out: Path, done: services.Exported, kind: str) -> None:
        count = sum(done.entries.values())
        what, unit, ext = NAMES[kind]
        self.stdout.write(f"Wrote {out} ({done.written} bytes): {what}, {count} {unit}.")
        if done.altered:
            self.stdout.write(
                "Warning: this record was altered outside Secretum; the copy may lack entries or "
                "show an earlier state ('secretum records verify' names what)."
            )
        if done.encryption == "none":
            self.stdout.write("In clear, as asked: the export and its reason are in the audit log.")
            return
        if done.passphrase:
            self.stdout.write(f"Passphrase (shown this once, not kept): {done.passphrase}")
            self.stdout.write("Give it to the recipient by another channel than the file.")
        else:
            self.stdout.write("Encrypted for the recipient's age key given with --recipient.")
        self.stdout.write(f"To open it: age -d {out} > patient.{ext}")
