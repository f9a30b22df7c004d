"""`secretum maintenance close-expired`: close the maintenance windows whose end has come (K2).

From a window's end its account holds no role (``access.actor.role_of``: the next request is
refused); this run also disables the account, ends its sessions and its unused links, and records
the closing in the maintenance log (``maintenance.windows.close_expired``). Prints one line per
window closed, then a summary, and exits 0. `secretum serve` runs it as a process of its own with
``--every 60``: a window is closed within a minute of its end (``secretum.lib.periodic``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone

from secretum.lib.periodic import add_every, run_every
from secretum.maintenance import windows

MINUTE = 60


class Command(BaseCommand):
    help = "Close the maintenance windows of outside technicians whose end has come (K2)."

    def add_arguments(self, parser: Any) -> None:
        add_every(parser, f"{MINUTE}: every minute")

    def handle(self, *args: Any, **options: Any) -> None:
        run_every(options["every"], self._once, "close-expired")

    def _once(self) -> None:
        closed = windows.close_expired()
        for window in closed:
            ended = timezone.localtime(window.ends_at).isoformat(timespec="minutes")
            self.stdout.write(
                f"closed the maintenance window of {window.account.username} (end {ended}): "
                "account disabled, sessions ended, recorded in the maintenance log"
            )
        self.stdout.write(f"close-expired: {len(closed)} closed")
        self.stdout.flush()
