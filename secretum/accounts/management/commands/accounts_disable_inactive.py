"""`secretum accounts disable-inactive`: disable the accounts unused for the practice's limit (C2).

Prints what it did, one line per account, and exits 0. `secretum serve` runs it as a process of
its own with ``--every 86400``: once at start, then once a day until stopped (as the audit
checkpoint signer runs every 5 minutes, ``audit_checkpoint``).
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from django.core.management.base import BaseCommand
from django.db import connections

from secretum.accounts import lifecycle

DAY = 24 * 3600


class Command(BaseCommand):
    help = "Disable the accounts nobody signed in to for the practice's inactivity limit (C2)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--every",
            type=int,
            default=0,
            metavar="SECONDS",
            help=f"keep running: once now, then every SECONDS ({DAY}: once a day)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        every = options["every"]
        if every <= 0:
            self._once()
            return
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        while True:
            try:
                self._once()
            except Exception as exc:  # any failure: tomorrow's run must still happen
                print(f"secretum: disable-inactive failed: {exc}", file=sys.stderr, flush=True)
            finally:
                connections.close_all()  # the long-running process holds no idle connection
            if stop.wait(every):
                return

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
