"""`secretum audit checkpoint`: sign a checkpoint now, or every N seconds until stopped.

`secretum serve` runs ``audit checkpoint --every 300`` as a process of its own: it alone reads
the signing key; it signs at start, every interval, and once more when told to stop (SIGTERM or
SIGINT), after the web workers have ended.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from secretum.audit.checkpoints import CheckpointError, create_checkpoint
from secretum.audit.log import record_integrity_failure
from secretum.lib.periodic import until_signalled


class Command(BaseCommand):
    help = "Sign a checkpoint of the audit log (tree size, Merkle root, time) and witness it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--every",
            type=int,
            default=0,
            metavar="SECONDS",
            help="keep running: sign every SECONDS, and once more when stopped",
        )
        parser.add_argument(
            "--force", action="store_true", help="sign even when no event was added"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        every = options["every"]
        if every <= 0:
            self._once(options["force"], fail=True)
            return
        stopped = until_signalled()
        self._once(False, fail=False)
        while not stopped(every):
            self._once(False, fail=False)
        self._once(False, fail=False)  # at shutdown
        connections.close_all()

    def _once(self, force: bool, *, fail: bool) -> None:
        try:
            checkpoint, new = create_checkpoint(force=force)
        except CheckpointError as exc:
            record_integrity_failure("checkpoint", str(exc))
            if fail:
                raise CommandError(f"checkpoint refused: {exc}.") from None
            print(f"secretum: audit checkpoint refused: {exc}.", file=sys.stderr, flush=True)
            return
        finally:
            if not fail:
                connections.close_all()  # the long-running signer holds no idle connection
        if new or fail:
            self.stdout.write(
                f"audit checkpoint: {checkpoint.tree_size} events, root {checkpoint.root_hash}, "
                f"signed at {checkpoint.signed_at_text}" + ("" if new else " (unchanged)")
            )
            self.stdout.flush()
