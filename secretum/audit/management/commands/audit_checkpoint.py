"""`secretum audit checkpoint`: sign a checkpoint now, or every N seconds until stopped.

`secretum serve` runs ``audit checkpoint --every 300 --until-closed`` as a process of its own:
it alone reads the signing key; it signs at start, every interval, and once more when serve
closes its standard input, after the web workers have ended (D2: a SIGTERM sent to every process
of the service at once is ignored, so the last checkpoint covers the workers' last events). It
beats every few seconds (``audit.signer``), which ``/healthz`` reads; serve restarts it if it
dies. On PostgreSQL, where several nodes may serve one practice, only the signer elected through
the database signs (``audit.election``); the others beat and stand by. Run by hand with
``--every`` alone, SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, cast

from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from secretum.audit import signer
from secretum.audit.checkpoints import Checkpoint, CheckpointError, create_checkpoint, signing_key
from secretum.audit.election import Election
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
        parser.add_argument(
            "--signed-note",
            action="store_true",
            help="print the checkpoint as a C2SP signed note (tlog-checkpoint), and its "
            "verifier key, for a standard witness",
        )
        parser.add_argument(
            "--until-closed",
            action="store_true",
            help="with --every: ignore SIGTERM and SIGINT, stop when standard input closes "
            "(how serve stops it, after its workers)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        every = options["every"]
        if every <= 0:
            signed = self._once(options["force"], fail=True)
            if options["signed_note"]:
                self._signed_note(cast(Checkpoint, signed))  # fail=True: signed, or raised
            return
        if options["until_closed"]:
            # Under `serve`: a SIGTERM sent to every process at once (systemd's default) must
            # not stop the signer before the workers; serve closes the pipe after them.
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, signal.SIG_IGN)
            stopped = until_closed(sys.stdin.fileno())
        else:
            stopped = until_signalled()
        election = Election()
        self._leading: bool | None = None
        signer.beat()
        self._if_leading(election)
        due = time.monotonic() + every
        while not stopped(max(0.0, min(signer.BEAT_EVERY, due - time.monotonic()))):
            signer.beat()
            if time.monotonic() >= due or not self._leading:
                # A standby asks at each beat: it takes over within seconds of the leader's end.
                self._if_leading(election)
                due = time.monotonic() + every
        self._if_leading(election)  # at shutdown
        election.resign()
        signer.stop_beating()
        connections.close_all()

    def _if_leading(self, election: Election) -> None:
        """Sign if this signer is the elected one (election.py); say when that changes."""
        leading = election.holds()
        if leading != self._leading and election.contested:
            said = (
                "audit signer: elected, signing checkpoints"
                if leading
                else "audit signer: standing by (the signer of another node signs)"
            )
            print(said, file=sys.stderr, flush=True)
        self._leading = leading
        if leading:
            self._once(False, fail=False)

    def _signed_note(self, checkpoint: Checkpoint) -> None:
        """D2: the checkpoint, signed anew as a C2SP note by the same key."""
        from secretum.audit import note

        key = signing_key()
        name = note.origin(checkpoint.key_id)
        self.stdout.write(note.verifier_key(name, key.public_key()))
        root = bytes.fromhex(checkpoint.root_hash)
        self.stdout.write(note.sign_note(key, name, checkpoint.tree_size, root), ending="")

    def _once(self, force: bool, *, fail: bool) -> Checkpoint | None:
        try:
            checkpoint, new = create_checkpoint(force=force)
        except CheckpointError as exc:
            record_integrity_failure("checkpoint", str(exc))
            if fail:
                raise CommandError(f"checkpoint refused: {exc}.") from None
            print(f"secretum: audit checkpoint refused: {exc}.", file=sys.stderr, flush=True)
            return None
        finally:
            if not fail:
                connections.close_all()  # the long-running signer holds no idle connection
        if new or fail:
            self.stdout.write(
                f"audit checkpoint: {checkpoint.tree_size} events, root {checkpoint.root_hash}, "
                f"signed at {checkpoint.signed_at_text}" + ("" if new else " (unchanged)")
            )
            self.stdout.flush()
        return checkpoint


def until_closed(fd: int) -> Callable[[float], bool]:
    """A wait of so many seconds that the end of ``fd`` (a pipe whose writer closed it, or
    died) ends at once: True when it has ended."""

    def wait(seconds: float) -> bool:
        ready, _, _ = select.select([fd], [], [], seconds)
        return bool(ready) and os.read(fd, 512) == b""

    return wait
