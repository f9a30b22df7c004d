"""`secretum keys rotate [--batch N] [--pause S]`: a new key-encryption key, every data key and
sealed secret re-wrapped under it while the server keeps serving, the older version retired from
the key file once nothing uses it (E10, G3, O1, O2; ``secretum.crypto.rotation``). Interrupted,
it is run again and carries on. Each start and each end is an audit event (D1): versions and
counts, never a key."""

from __future__ import annotations

import time
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from secretum.access.actor import Actor
from secretum.audit.log import record_event
from secretum.audit.models import Action
from secretum.crypto import recovery_io, rotation


def _record(detail: dict[str, str]) -> None:
    with transaction.atomic():
        record_event(
            Actor.system(),
            Action.UPDATE,
            rotation.RESOURCE,
            resource_ref=f"kek-v{detail['kek_version']}",
            detail={**detail, "os_user": recovery_io.os_user()[:150]},
        )


class Command(BaseCommand):
    help = (
        "Rotate the key-encryption key: a new version, every data key and sealed secret "
        "re-wrapped, the old version retired once unused. Run it again if it was interrupted."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch", type=int, default=rotation.BATCH, help="rows per transaction"
        )
        parser.add_argument(
            "--pause", type=float, default=0.0, help="seconds between batches (a busy server)"
        )
        parser.add_argument(
            "--to-token",
            action="store_true",
            help="generate the new version inside the PKCS#11 token named by SECRETUM_PKCS11_*",
        )
        # The search index's key (E10, O1) and a patient's data key are rotated by the patients
        # app, below which crypto stands: their commands are called by name.
        parser.add_argument(
            "--index-key",
            action="store_true",
            help="rotate the search index's key instead (tokens rebuilt and sized)",
        )
        parser.add_argument("--if-due", action="store_true", help="with --index-key")
        parser.add_argument(
            "--patient",
            action="append",
            default=[],
            metavar="NISS-OR-UID",
            help="rotate this patient's data key instead ('all': every patient)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        pace = {"batch": options["batch"], "pause": options["pause"]}
        if options["index_key"]:
            call_command("keys_rotate_index", if_due=options["if_due"], stdout=self.stdout, **pace)
            return
        if options["patient"]:
            call_command("keys_rotate_patient", *options["patient"], stdout=self.stdout)
            return
        if options["batch"] < 1 or options["pause"] < 0:
            raise CommandError("--batch is at least 1 and --pause is not negative.")
        pause = options["pause"]
        begun = time.monotonic()

        def progress(use: rotation.KekUse, counts: rotation.Counts) -> None:
            self.stdout.write(
                f"  {use.name}: {counts.rows} rows looked at, {counts.rewrapped} re-wrapped"
            )
            if pause:
                time.sleep(pause)

        def started(found: rotation.Started) -> None:
            phase = "resumed" if found.resumed else "started"
            _record({"phase": phase, "kek_version": str(found.version)})
            self.stdout.write(
                f"Key rotation {phase}: re-wrapping under KEK version {found.version} "
                f"(older versions in the key file: {', '.join(map(str, found.older))})."
            )

        summary = rotation.run(
            progress, options["batch"], on_start=started, to_token=options["to_token"]
        )
        rewrapped = sum(c.rewrapped for c in summary.counts.values())
        retired = ",".join(map(str, summary.retired))
        removed = ",".join(map(str, summary.removed))
        _record(
            {
                "phase": "finished",
                "kek_version": str(summary.started.version),
                "rewrapped": str(rewrapped),
                "unreadable": str(summary.unreadable),
                "retired": retired or "none",
                "removed": removed or "none",
            }
        )
        for name, counts in summary.counts.items():
            self.stdout.write(f"  {name}: {counts.rewrapped} of {counts.rows} re-wrapped")
        kept = sorted(v for v in summary.in_use if v and v != summary.started.version)
        self.stdout.write(
            f"{rewrapped} values re-wrapped under KEK version {summary.started.version} in "
            f"{time.monotonic() - begun:.1f} s; retired: {retired or 'none'} (kept in the key "
            f"file until the next rotation); removed: {removed or 'none'}."
        )
        if summary.unreadable or kept:
            raise CommandError(
                f"{summary.unreadable} values did not open (altered outside Secretum: see "
                f"'secretum records verify'); KEK versions still in use: "
                f"{', '.join(map(str, kept)) or 'none'}. Run 'secretum keys rotate' again once "
                "they are examined; the key file keeps those versions meanwhile."
            )
        self.stdout.write(
            "The key file changed: make new recovery material now ('secretum keys backup'); "
            "keep the previous one until the backups made before this rotation have expired."
        )
