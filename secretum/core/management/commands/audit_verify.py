from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.audit.log import record_integrity_failure
from secretum.audit.verify import verify_log


class Command(BaseCommand):
    help = (
        "Verify the audit log (D2): every event against its leaf hash and authentication code, "
        "the Merkle tree against every signed checkpoint and the witness; name the first event "
        "that does not fit."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--workers", type=int, default=0, help="processes that read the log (default: 2)"
        )
        parser.add_argument(
            "--expect-key",
            default="",
            metavar="FINGERPRINT",
            help="the checkpoint key's fingerprint that 'secretum init' printed, kept outside the "
            "instance (default: SECRETUM_AUDIT_KEY_FINGERPRINT)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = verify_log(
                workers=options["workers"] or None, expect_key=options["expect_key"] or None
            )
        except ValueError as exc:
            raise CommandError(f"the expected checkpoint key: {exc}.") from None
        if not result.ok:
            record_integrity_failure("verify", result.problem)
            raise CommandError(
                f"audit log is NOT intact: {result.problem} ({result.checked} events verified "
                "before it)."
            )
        covered = result.covered
        signed = (
            f"the first {covered.tree_size} match the checkpoint signed at {covered.signed_at_text}"
            if covered
            else "no signed checkpoint yet"
        )
        self.stdout.write(
            f"audit log intact: {result.checked} events verified (hashes, authentication codes, "
            f"Merkle tree); {signed}."
        )
        if result.key_checked:
            self.stdout.write(f"checkpoint key: {result.key_checked} (the expected key).")
        # D2: what no signature and no witness covers yet, in events.
        self.stdout.write(
            f"window: {result.unsigned} event(s) newer than the latest signed checkpoint, "
            f"{result.unwitnessed} newer than the witness's latest tree head."
        )
        for note in result.notes:
            self.stdout.write(f"note: {note}")
