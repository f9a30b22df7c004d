"""`secretum audit grant --role NAME`: PostgreSQL privileges of the application's role (D2).

Run the migrations as the owner of the tables; serve as another role. This command, run with
the owner's database URL, gives that role INSERT and SELECT only on the audit tables (and the
ordinary rights on the others). Without ``--apply`` it prints the statements for a DBA.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from secretum.audit.db import AUDIT_TABLES, grant_statements


class Command(BaseCommand):
    help = "Give a PostgreSQL role INSERT and SELECT only on the audit tables (append-only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--role", required=True, help="the role the web server connects as")
        parser.add_argument("--apply", action="store_true", help="run the statements now")

    def handle(self, *args: Any, **options: Any) -> None:
        others = sorted(t for t in connection.introspection.table_names() if t not in AUDIT_TABLES)
        statements = grant_statements(options["role"], others)
        if not options["apply"]:
            for sql in statements:
                self.stdout.write(sql + ";")
            return
        if connection.vendor != "postgresql":
            raise CommandError("roles and grants exist on PostgreSQL only.")
        with transaction.atomic(), connection.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
        self.stdout.write(
            f"role {options['role']}: INSERT and SELECT only on {', '.join(AUDIT_TABLES)}."
        )
