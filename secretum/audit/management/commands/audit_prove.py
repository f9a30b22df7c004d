"""`secretum audit prove N`: an inclusion proof of event N that anyone can check (D2)."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.audit.checkpoints import CheckpointError, create_checkpoint
from secretum.audit.verify import build_proof, covering_checkpoint


class Command(BaseCommand):
    help = (
        "Print (JSON) an RFC 9162 inclusion proof of event N against the latest signed "
        "checkpoint; check it with 'secretum audit check-proof' or audit/proof.py."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("seq", type=int, help="the event's sequence number")

    def handle(self, *args: Any, **options: Any) -> None:
        seq = options["seq"]
        checkpoint = covering_checkpoint(seq)
        if checkpoint is None:
            try:
                checkpoint, _new = create_checkpoint()
            except CheckpointError as exc:
                raise CommandError(f"no checkpoint can be signed: {exc}.") from None
            if checkpoint.tree_size < seq:
                raise CommandError(f"there is no event {seq} in the audit log.")
            print(f"(signed a new checkpoint of {checkpoint.tree_size} events)", file=sys.stderr)
        try:
            proof = build_proof(seq, checkpoint)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(proof, indent=2, ensure_ascii=False))
