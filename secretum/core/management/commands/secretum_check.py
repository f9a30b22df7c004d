from __future__ import annotations

from typing import Any

from django.core import checks
from django.core.management.base import BaseCommand, CommandError

from secretum.crypto import nodes


class Command(BaseCommand):
    help = "Configuration and security self-check; exits non-zero on any unsafe setting."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        from secretum.backup import upgrade
        from secretum.core.host_checks import status

        found = checks.run_checks(include_deployment_checks=True)
        for line in status():  # version, age, certificate, networks, vulnerabilities (G2, F1)
            self.stdout.write(line)
        for line in nodes.status_lines():  # the serving nodes and their copies of the key file
            self.stdout.write(line)
        problems = [m for m in found if m.level >= checks.WARNING and not m.is_silenced()]
        pending = upgrade.pending()
        for message in problems:
            level = "error" if message.level >= checks.ERROR else "warning"
            self.stderr.write(
                f"{level}: {message.msg}" + (f" ({message.hint})" if message.hint else "")
            )
        if pending:
            self.stderr.write(
                f"error: {len(pending)} database migrations are not applied "
                "(run 'secretum migrate')."
            )
        if problems or pending:
            raise CommandError(f"{len(problems) + bool(pending)} problem(s) found; see above.")
        self.stdout.write(
            "secretum check: configuration is safe (TLS, keys and the database they belong "
            "to, file modes, sessions, idle lock, headers, database)."
        )
