from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.audit.services import verify_chain


class Command(BaseCommand):
    help = "Recompute the audit log's hash chain and name the first event that does not fit (D2)."

    def handle(self, *args: Any, **options: Any) -> None:
        result = verify_chain()
        if not result.ok:
            raise CommandError(
                f"audit log is NOT intact: {result.problem} ({result.checked} events verified "
                "before it)."
            )
        self.stdout.write(f"audit log intact: {result.checked} events, chain verified.")
