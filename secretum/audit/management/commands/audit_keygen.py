"""`secretum audit keygen`: the audit keys of an instance made before they existed."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from secretum.audit import keys


class Command(BaseCommand):
    help = "Create the audit log's checkpoint signing key and event MAC key (never overwrites)."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            paths = keys.create(settings.INSTANCE.home)
        except keys.AuditKeyError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"audit keys created in {paths.folder} (owner-only); publish "
            f"{paths.public_key.name} so that others can check checkpoints and proofs."
        )
