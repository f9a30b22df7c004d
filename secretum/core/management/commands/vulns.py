"""`secretum vulns [--db PATH] [--json]`: the known vulnerabilities of the installed packages
(G2), from the offline OSV database (``secretum.core.updates``).

Exit 0: the database is current and nothing HIGH or CRITICAL is known. Exit 1 otherwise (a
finding to install without delay, no database, one older than 30 days or unreadable): fit for a
monitoring job.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.core import updates


class Command(BaseCommand):
    help = "List the known vulnerabilities of the installed packages (offline OSV database)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--db",
            type=Path,
            help="folder or zip of OSV advisories (default: SECRETUM_VULNERABILITY_DB)",
        )
        parser.add_argument("--json", action="store_true", help="print the findings as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        found = updates.state(options["db"])
        if found.updated_at is None:
            raise CommandError(
                f"no vulnerability database at {found.database}: "
                f"{updates.how_to_update(found.database)}."
            )
        if found.problem or found.scan is None:
            raise CommandError(f"the vulnerability database cannot be read: {found.problem}.")
        findings = found.scan.findings
        if options["json"]:
            self.stdout.write(json.dumps([asdict(f) for f in findings], indent=2))
        else:
            for finding in findings:
                self.stdout.write(updates.describe(finding))
            self.stdout.write(
                f"{len(findings)} known vulnerabilities ({len(found.serious)} HIGH or CRITICAL) "
                f"in {len(updates.installed())} installed packages; {found.scan.advisories} "
                f"advisories read from {found.database}, updated {found.updated_at.date()} "
                f"({found.database_days} days ago)."
            )
        if found.stale:
            raise CommandError(
                f"the vulnerability database is {found.database_days} days old (at most "
                f"{updates.STALE_DAYS}): {updates.how_to_update(found.database)}."
            )
        if found.serious:
            raise CommandError(
                f"{len(found.serious)} HIGH or CRITICAL vulnerabilities: install the fixed "
                "versions now."
            )
