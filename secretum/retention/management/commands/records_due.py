"""`secretum records due`: the records whose retention period ended, or whose patient's erasure
request a practitioner recorded (J2), by their opaque reference; and the destroyed records whose
old backups are still readable until the next key rotation. Lists only: a manager approves each
destruction on the page, after re-authentication. Audited like the page (a system "search")."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from secretum.access.actor import Actor
from secretum.retention import services


class Command(BaseCommand):
    help = (
        "List the records due for destruction (retention ended, or an erasure request) and the "
        "destructions still waiting for a key rotation (J2)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system()
        found = services.due_records(actor)
        self.stdout.write(
            f"Retention: {found.retention_years} years after the last contact; "
            f"{len(found.records)} records due for destruction."
        )
        for record in found.records:
            why = (
                f"retention ended {record.due_since.isoformat()}"
                if record.due_since
                else f"erasure request ({record.erasure_basis})"
            )
            self.stdout.write(
                f"  {record.ref}  last contact {record.last_contact.isoformat()}  {why}"
            )
        pending = [c for c, readable in services.certificates_list(actor) if not readable.until]
        if pending:
            versions = ", ".join(sorted({str(c.kek_version) for c in pending}))
            self.stdout.write(
                f"{len(pending)} destroyed records stay readable in old backups with key "
                f"version(s) {versions}: run 'secretum keys rotate' until the version is removed "
                f"(the first rotation retires it, kept one rotation longer; the next removes it), "
                f"then discard the key-store backups older than the rotation that removed it "
                f"after {found.key_backup_expiry_days} days."
            )
