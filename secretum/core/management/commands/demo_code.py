"""`secretum demo_code USER`: the current TOTP code of a demo account (demo factors only)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.accounts import totp
from secretum.accounts.models import Factor
from secretum.accounts.services import totp_secret


class Command(BaseCommand):
    help = "Print the current authenticator code of a demo account (demo instances only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        factor = Factor.objects.filter(
            user__username=options["username"], is_demo=True, kind=Factor.Kind.TOTP, confirmed=True
        ).first()
        if factor is None:
            raise CommandError(
                f"'{options['username']}' has no demo authenticator: this "
                "command only serves accounts made by 'secretum demo'."
            )
        self.stdout.write(totp.current_code(totp_secret(factor)))
