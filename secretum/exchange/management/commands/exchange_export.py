"""`secretum export --format fhir|sumehr [--patient NATIONAL_NUMBER] --out PATH --reason TEXT
[--recipient AGE_PUBLIC_KEY | --plain]`: one patient's record as a FHIR R4 Bundle, or its summary
as a KMEHR SumEHR 2.0 (issue 14); without ``--patient`` (FHIR only) the whole practice as FHIR
Bulk Data NDJSON in the folder ``--out`` (one file per resource type and a manifest,
``exchange/bulk.py``), its progress on stderr. Encrypted with age by default (L1, L2, E7, M3).

Who acts: the person at the server's console, as for `secretum shell` (G1): no account of
Secretum and no care relationship, so the operating system's user is recorded (``os:NAME``,
purpose maintenance) with the reason, always required, in the export's audit event. With
``--plain`` the same reason justifies the copy in clear."""

from __future__ import annotations

import getpass
import os
import shutil
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, no_translations

from secretum.access.actor import Purpose
from secretum.backup.progress import Progress
from secretum.crypto import sealing
from secretum.exchange import bulk, kmehr, moving, practice, services
from secretum.maintenance.console import ConsoleActor

# The option's words, to the services' formats; "secretum": the practice's own (practice.py).
FORMATS = {"fhir": services.FORMAT, "sumehr": kmehr.FORMAT, "secretum": practice.FORMAT}
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
    help = (
        "Export one patient's record (FHIR R4) or SumEHR (KMEHR), or the whole practice as FHIR "
        "R4 (without --patient), encrypted with age unless --plain."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--format", choices=list(FORMATS), required=True)
        parser.add_argument("--patient", metavar="NATIONAL_NUMBER", help="else: every patient")
        parser.add_argument(
            "--out", metavar="PATH", help="a new file; a new folder for a bulk or secretum"
        )
        parser.add_argument(
            "--test", action="store_true",
            help="secretum: export into a scratch folder, import it into a scratch instance, "
            "compare, record the result (L1, L2)",
        )  # fmt: skip
        parser.add_argument("--reason", required=True, help="why, in 10 to 200 characters")
        how = parser.add_mutually_exclusive_group()
        how.add_argument("--recipient", default="", metavar="AGE_PUBLIC_KEY")
        how.add_argument("--plain", action="store_true", help="in clear (audited as such)")

    @no_translations  # the command line speaks English, as every other command does
    def handle(self, *args: Any, **options: Any) -> None:
        actor = ConsoleActor(
            user=None, role=None, source="console", purpose=Purpose.MAINTENANCE,
            os_user=_os_user(),
        )  # fmt: skip
        reason = options["reason"]
        if options["format"] == "secretum":
            self._practice(actor, options)
            return
        if options["test"]:
            raise CommandError("--test is the practice export's: --format secretum --test.")
        if not options["out"]:
            raise CommandError("--out PATH: where to write the export.")
        out = Path(options["out"])
        if not options["patient"]:
            if options["format"] != "fhir":
                raise CommandError(
                    "A SumEHR is one patient's summary: give --patient NATIONAL_NUMBER."
                )
            self._bulk(actor, out, options)
            return
        try:
            reason = sealing.checked_reason(reason)
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

    def _bulk(self, actor: ConsoleActor, out: Path, options: dict[str, Any]) -> None:
        try:
            reason = sealing.checked_reason(options["reason"])
            out.mkdir(mode=0o700)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except FileExistsError:
            raise CommandError(f"--out {out}: it exists; give the name of a new folder.") from None
        except OSError as exc:
            raise CommandError(f"--out {out}: cannot be made ({exc.strerror}).") from None

        def progress(done: int, total: int) -> None:
            if done == total or done % 100 == 0:
                self.stderr.write(f"{done}/{total} patients")

        try:
            done = bulk.export_practice(
                actor, out, recipient=options["recipient"],
                plain_reason=reason if options["plain"] else None,
                detail={"reason": reason, "uid": os.getuid(), "folder": out.name},
                progress=progress,
            )  # fmt: skip
        except BaseException as exc:
            for path in out.iterdir():  # nothing half-written is left behind
                path.unlink()
            out.rmdir()
            if isinstance(exc, ValidationError):
                raise CommandError(" ".join(exc.messages)) from None
            raise
        counts = ", ".join(f"{n} {rtype}" for rtype, n in done.counts.items())
        self.stdout.write(
            f"Wrote {out}/ ({done.written} bytes): FHIR Bulk Data NDJSON, {done.patients} "
            f"patients ({done.archived} archived, exported with active false): {counts}."
        )
        if done.altered:
            self.stdout.write(
                f"Warning: {done.altered} records were altered outside Secretum; they are "
                "exported as they stand ('secretum records verify' names what)."
            )
        if done.encryption == "none":
            self.stdout.write("In clear, as asked: the export and its reason are in the audit log.")
            return
        if done.passphrase:
            self.stdout.write(f"Passphrase (shown this once, not kept): {done.passphrase}")
            self.stdout.write("Give it to the recipient by another channel than the files.")
        else:
            self.stdout.write("Encrypted for the recipient's age key given with --recipient.")
        self.stdout.write(
            f"To open it: secretum import {out}, or each file with age -d FILE.ndjson.age; "
            "manifest.json (in clear: no patient data) lists the files and their SHA-256."
        )

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

    def _practice(self, actor: ConsoleActor, options: dict[str, Any]) -> None:
        """L1, L2: Secretum's own export (practice.py), or its test (moving.py)."""
        if options["patient"] or options["plain"]:
            raise CommandError(
                "--format secretum is the whole practice with its keys: never one patient, never "
                "in clear (give --recipient AGE_PUBLIC_KEY, or a passphrase is made)."
            )
        try:
            reason = sealing.checked_reason(options["reason"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        detail = {"reason": reason, "uid": os.getuid()}
        if options["test"]:
            if options["out"] or options["recipient"]:
                raise CommandError("--test writes into a scratch folder: no --out, --recipient.")
            tested = moving.export_test(actor, detail, progress=self.stderr.isatty())
            if not tested.ok:
                raise CommandError(f"The export test failed: {tested.problem}")
            self.stdout.write(tested.summary())
            return
        if not options["out"]:
            raise CommandError("--out DIR: the new folder to write the practice into.")
        out = Path(options["out"])
        try:
            out.mkdir(mode=0o700)
        except FileExistsError:
            raise CommandError(f"--out {out}: it exists; give the name of a new folder.") from None
        except OSError as exc:
            raise CommandError(f"--out {out}: cannot be made ({exc.strerror}).") from None
        bar = Progress("export", 0, self.stderr, unit="rows")

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar(done - bar.done)

        try:
            done = practice.export_practice(
                actor, out, recipient=options["recipient"],
                detail={**detail, "folder": out.name}, progress=progress,
            )  # fmt: skip
        except BaseException as exc:
            shutil.rmtree(out, ignore_errors=True)  # nothing half-written is left behind
            if isinstance(exc, ValidationError):
                raise CommandError(" ".join(exc.messages)) from None
            raise
        bar.end()
        tables = sum(1 for n in done.rows.values() if n)
        self.stdout.write(
            f"Wrote {out}/ ({done.written} bytes): Secretum's own export, {done.patients} "
            f"patients, {sum(done.rows.values())} rows in {tables} tables, the audit log apart."
        )
        self.stdout.write(f"Manifest signed by {done.fingerprint} (this instance's audit key).")
        if done.passphrase:
            self.stdout.write(f"Passphrase (shown this once, not kept): {done.passphrase}")
            self.stdout.write("Give it by another channel than the folder: it opens the keys.")
        else:
            self.stdout.write("Encrypted for the recipient's age key given with --recipient.")
        self.stdout.write(
            f"To make the new instance: secretum import {out} --home NEW_FOLDER --reason TEXT "
            f"--expect-key {done.fingerprint}"
        )
