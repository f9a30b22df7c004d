"""`secretum audit merge-continuity DIR`: the audit events recorded on a continuity copy (I5,
``secretum serve --read-only --from-backup``), brought into this instance's audit log once the
server is back: the copy must be of this instance and its log must verify; a second merge of
the same copy adds nothing (``secretum.backup.continuity.merge``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.backup import continuity


class Command(BaseCommand):
    help = "Merge a continuity copy's audit events into this instance's audit log (I5)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("folder", type=Path, help="the continuity copy's folder")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            merged = continuity.merge(options["folder"])
        except continuity.MergeError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{merged.events} events merged from the continuity copy"
            + (f" (its events through {merged.through} are in this log)" if merged.through else "")
            + "."
        )
