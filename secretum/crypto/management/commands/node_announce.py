"""`secretum node_announce --every 60`: this node serves, and its key file holds these KEK
versions (issue 17, E10, O2; ``secretum.crypto.nodes``). ``secretum serve`` runs it as one of its
periodic tasks; when serve stops it, the node withdraws, and a rotation elsewhere no longer waits
for it."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from secretum.crypto import nodes
from secretum.lib.periodic import add_every, run_every


class Command(BaseCommand):
    help = "Announce this serving node and its key file's versions (serve runs it every minute)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        add_every(parser, "60: every minute")

    def handle(self, *args: Any, **options: Any) -> None:
        run_every(options["every"], self._once, "node announce")
        if options["every"] > 0:
            nodes.withdraw()  # stopped by serve: this node serves no more

    def _once(self) -> None:
        nodes.announce()
