"""`secretum audit protect`: (re)install the triggers that make the audit tables append-only."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection

from secretum.audit.db import install_triggers


class Command(BaseCommand):
    help = "Install the triggers refusing UPDATE and DELETE on the audit tables (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        install_triggers(connection)
        self.stdout.write("audit tables: UPDATE and DELETE are refused by the database.")
