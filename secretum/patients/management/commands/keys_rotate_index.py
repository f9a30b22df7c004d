"""`secretum keys rotate --index-key [--if-due] [--batch N] [--pause S]`: a new generation of
the search index (a new index key, tokens sized from the number of patients), every patient's
tokens rebuilt while the server serves, the older generation retired (E10, O1;
``secretum.patients.reindex``). Interrupted, it is run again and carries on. With ``--if-due``
only when the number of patients has moved so far that the index should be sized again
(``secretum serve`` runs it so once a day). Each start and end is an audit event (D1)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from secretum.access.actor import Actor
from secretum.audit.log import record_event
from secretum.audit.models import Action
from secretum.crypto import indexkeys, keyring, recovery_io
from secretum.lib.periodic import add_every, run_every
from secretum.patients import reindex

RESOURCE = "crypto.IndexKey"


def _record(detail: dict[str, str]) -> None:
    with transaction.atomic():
        record_event(
            Actor.system(),
            Action.UPDATE,
            RESOURCE,
            resource_ref=f"index-g{detail['generation']}",
            detail={**detail, "os_user": recovery_io.os_user()[:150]},
        )


def _bits(bits: dict[str, int]) -> str:
    return ", ".join(f"{kind} {n}" for kind, n in sorted(bits.items())) or "128 each"


class Command(BaseCommand):
    help = (
        "Rebuild the search index under a new index key, its tokens sized from the number of "
        "patients; the older key retired. Run it again if it was interrupted."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch", type=int, default=reindex.BATCH, help="patients per batch")
        parser.add_argument(
            "--pause", type=float, default=0.0, help="seconds between batches (a busy server)"
        )
        parser.add_argument(
            "--if-due", action="store_true", help="only if the number of patients calls for it"
        )
        add_every(parser, "serve: once a day, with --if-due")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch"] < 1 or options["pause"] < 0:
            raise CommandError("--batch is at least 1 and --pause is not negative.")
        run_every(options["every"], lambda: self._once(options), "keys rotate --index-key")

    def _once(self, options: dict[str, Any]) -> None:
        under_way = len(keyring.index_generations()) > 1
        if options["if_due"] and not under_way and not reindex.resize_due():
            self.stdout.write("The search index is sized for the number of patients.")
            return
        pause, begun = options["pause"], time.monotonic()

        def progress(counts: reindex.Counts) -> None:
            self.stdout.write(f"  {counts.rebuilt} of {counts.patients} patients re-indexed")
            if pause:
                time.sleep(pause)

        def started(found: indexkeys.Started) -> None:
            phase = "resumed" if found.resumed else "started"
            _record({"phase": phase, "generation": str(found.generation)})
            self.stdout.write(
                f"Index key rotation {phase}: generation {found.generation}, bits per token: "
                f"{_bits(found.bits)}."
            )

        summary = reindex.run(progress, options["batch"], on_start=started)
        retired = ",".join(map(str, summary.retired))
        _record(
            {
                "phase": "finished",
                "generation": str(summary.started.generation),
                "rebuilt": str(summary.counts.rebuilt),
                "unreadable": str(summary.counts.unreadable),
                "retired": retired or "none",
            }
        )
        self.stdout.write(
            f"{summary.counts.rebuilt} patients re-indexed under generation "
            f"{summary.started.generation} in {time.monotonic() - begun:.1f} s; retired: "
            f"{retired or 'none'}."
        )
        if summary.left:
            raise CommandError(
                f"{summary.counts.unreadable} records did not open (altered outside Secretum: "
                "see 'secretum records verify'); the older index key stays in the key file. Run "
                "'secretum keys rotate --index-key' again once they are examined."
            )
        self.stdout.write(
            "The key file changed: make new recovery material now ('secretum keys backup')."
        )
