"""`secretum audit consistency FIRST [SECOND]`: an RFC 9162 consistency proof between two signed
checkpoints (D2), for an outside witness to check before it co-signs the newer one."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.audit import checkpoints
from secretum.audit.verify import build_consistency


class Command(BaseCommand):
    help = (
        "Print (JSON) an RFC 9162 consistency proof that the signed checkpoint of FIRST events "
        "is a prefix of the one of SECOND events (default: the latest)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("first", type=int, help="the earlier checkpoint's tree size")
        parser.add_argument("second", type=int, nargs="?", help="the later one's (default: latest)")

    def handle(self, *args: Any, **options: Any) -> None:
        signed = {c.tree_size: c for c in checkpoints.known_checkpoints(checkpoints.public_key())}
        second_size = options["second"] or max(signed, default=0)
        missing = [n for n in (options["first"], second_size) if n not in signed]
        if missing:
            raise CommandError(
                f"there is no signed checkpoint of {missing[0]} events; 'secretum audit verify' "
                "lists the latest."
            )
        try:
            proof = build_consistency(signed[options["first"]], signed[second_size])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(proof, indent=2))
