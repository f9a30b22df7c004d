"""`secretum audit reanchor --backup LABEL --user NAME`: after restoring an older database (D2).

A manager proves who they are again (password, then an authenticator or recovery code, asked at
the terminal and never on the command line); the restore is then recorded as an audit event and
signed into the witness as a re-anchoring, and checkpoints resume (``audit.anchor``).
"""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from secretum.access.actor import role_of
from secretum.access.policy import Role
from secretum.accounts import services as accounts
from secretum.audit.anchor import reanchor
from secretum.audit.checkpoints import CheckpointError

SOURCE = "command line"


class Command(BaseCommand):
    help = (
        "After restoring an older database: re-anchor the audit log (a manager, re-authenticated)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--backup", required=True, help="the backup restored (its name or date)"
        )
        parser.add_argument("--user", required=True, help="the manager's user name")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["backup"].strip():
            raise CommandError("--backup: name the backup the database was restored from.")
        password = getpass.getpass(f"Password of {options['user']}: ")
        user = accounts.check_password_step(options["user"], password, SOURCE).user
        refused = "refused: the user name, password or code is wrong, or the account is no manager"
        if user is None:
            raise CommandError(refused + ".")
        code = getpass.getpass("Authenticator or recovery code: ")
        if accounts.verify_code_factor(user, code, SOURCE) is None or role_of(user) != Role.MANAGER:
            raise CommandError(refused + ".")
        try:
            anchor = reanchor(accounts.actor_of(user, SOURCE), options["backup"])
        except (ValueError, CheckpointError) as exc:
            raise CommandError(f"re-anchoring refused: {exc}.") from None
        self.stdout.write(
            f"audit log re-anchored: restored from backup {options['backup']!r}, "
            f"{anchor.tree_size} events, signed at {anchor.signed_at_text}; checkpoints resume."
        )
