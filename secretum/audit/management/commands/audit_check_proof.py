"""`secretum audit check-proof FILE`: check an inclusion proof as a third party would (D2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.audit.proof import ProofError, verify_proof


class Command(BaseCommand):
    help = "Check an inclusion proof from 'secretum audit prove' against a trusted public key."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("proof", help="the JSON file printed by 'secretum audit prove'")
        parser.add_argument(
            "--public-key",
            required=True,
            help="the checkpoint public key (PEM) as the practice published it",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            proof = json.loads(Path(options["proof"]).read_text())
            pem = Path(options["public_key"]).read_bytes()
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the proof or the key ({exc}).") from None
        try:
            summary = verify_proof(proof, pem)
        except (ProofError, ValueError) as exc:
            raise CommandError(f"the proof does NOT hold: {exc}.") from None
        self.stdout.write(f"proof holds: {summary}")
