"""`secretum compliance verify-report FILE SIGFILE [--public-key PEM]` (L3).

Checks a report of the measures register against its detached Ed25519 signature: with the
public key given, or else with this instance's own report key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.compliance import signing


class Command(BaseCommand):
    help = "Check a signed report of the security measures register against its signature."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("report", help="the report (PDF or HTML) as received")
        parser.add_argument("signature", help="its signature file (.sig)")
        parser.add_argument(
            "--public-key",
            help="the practice's report public key (PEM); default: this instance's own",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            data = Path(options["report"]).read_bytes()
            signature = Path(options["signature"]).read_text(encoding="utf-8")
            if options["public_key"]:
                public = Path(options["public_key"]).read_bytes()
            else:
                if not signing.key_path().exists():
                    raise CommandError(
                        "this instance has no report key: give the practice's with --public-key."
                    )
                public = signing.public_key_pem()
        except OSError as exc:
            raise CommandError(f"cannot read {exc.filename}: {exc.strerror}.") from None
        result = signing.verify(data, signature, public)
        if not result.ok:
            raise CommandError(f"report NOT authentic: {result.message}.")
        self.stdout.write(f"report authentic: signed {result.signed_at} with key {result.key_id}.")
