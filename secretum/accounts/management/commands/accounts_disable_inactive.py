"""`secretum accounts disable-inactive`: disable the accounts unused for the practice's limit (C2).

Prints what it did, one line per account, and exits 0. `secretum serve` runs it as a process of
its own with ``--every 86400``: once at start, then once a day until stopped
(``secretum.lib.periodic``, as ``maintenance close-expired`` every minute).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from secretum.accounts import lifecycle
from secretum.lib.periodic import add_every, run_every

DAY = 24 * 3600


class Command(BaseCommand):
    help = "Disable the accounts nobody signed in to for the practice's inactivity limit (C2)."

    def add_arguments(self, parser: Any) -> None:
        add_every(parser, f"{DAY}: once a day")

    def handle(self, *args: Any, **options: Any) -> None:
        run_every(options["every"], self._once, "disable-inactive")

    def _once(self) -> None:
        run = lifecycle.disable_inactive()
        for user in run.disabled:
            self.stdout.write(
                f"disabled {user.username}: unused since "
                f"{lifecycle.unused_since(user).date().isoformat()} "
                f"(limit {run.days} days); its sessions ended"
            )
        for user in run.spared:
            self.stdout.write(
                f"not disabled {user.username}: unused since "
                f"{lifecycle.unused_since(user).date().isoformat()}, but the last active manager "
                "(the practice would have nobody left to enable an account)"
            )
        for user in run.altered:
            self.stdout.write(
                f"left as found {user.username}: altered outside Secretum (the auditor is alerted)"
            )
        self.stdout.write(
            f"disable-inactive: {len(run.disabled)} disabled, {len(run.spared)} spared "
            f"(limit {run.days} days)"
        )
        self.stdout.flush()
