"""`secretum node export --out FILE [--recipient AGE_KEY]`: this installation's key material for
another serving node (issue 17, E10, O2, D2; ``secretum.node_material``), in an age file
under a new passphrase shown once, or for the recipient's age key. Recorded with its audit event
(D1): who made it and how it is encrypted, never a key. ``secretum node join FILE`` takes it on
the other node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from secretum import node_material
from secretum.access.actor import Actor
from secretum.audit.log import record_event
from secretum.audit.models import Action
from secretum.crypto import age, nodes, recovery_io, rotation
from secretum.instance import write_private


class Command(BaseCommand):
    help = "Write this installation's key material for another serving node (secretum node join)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, help="the file to write (a new one)")
        parser.add_argument("--recipient", help="an age public key (age1…) instead of a passphrase")

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"])
        if out.exists():
            raise CommandError(f"--out {out}: a file is there already; choose a new name.")
        if not out.parent.is_dir():
            raise CommandError(f"--out {out}: no such folder {out.parent}.")
        passphrase = None
        if options["recipient"]:
            try:
                target: Any = age.X25519Recipient.parse(options["recipient"])
            except age.AgeError as exc:
                raise CommandError(f"--recipient: {exc}") from None
        else:
            passphrase = age.generate_passphrase()
            target = age.ScryptRecipient(passphrase)
        data = node_material.bundle(settings.INSTANCE, nodes.name(), timezone.now())
        with transaction.atomic():  # written only with its audit event (D1)
            record_event(
                Actor.system(),
                Action.EXPORT,
                rotation.RESOURCE,
                resource_ref="node-material",
                detail={
                    "os_user": recovery_io.os_user()[:150],
                    "encryption": "recipient" if passphrase is None else "passphrase",
                    "recipient": options["recipient"] or "",
                },
            )
            write_private(out, node_material.seal(data, target))
        self.stdout.write(f"Key material of this installation written to {out} (owner-only).")
        if passphrase is not None:
            self.stdout.write(
                f"Passphrase, shown once: {passphrase}\nGive it by another way than the file."
            )
        # A KEK kept in a PKCS#11 token never leaves it: the other node reaches the same token.
        in_token = settings.INSTANCE.read_key_versions().in_token
        token = (
            " and the same PKCS#11 token (SECRETUM_PKCS11_*: not in this file)" if in_token else ""
        )
        self.stdout.write(
            "On the other node: 'secretum node join FILE' (with SECRETUM_DATABASE_URL set to "
            f"this installation's database{token}), then 'secretum serve'."
        )
