"""`secretum keys backup --passphrase | --shares K-of-N [--out DIR]`: the key file as recovery
material, written apart from the data (O2, I2; ``secretum.crypto.custody``). Recorded with
its audit event (D1): who made which set, never the material. A command stands above the
audit log; the rest of ``secretum.crypto`` stands below it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import CommonPasswordValidator
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import translation

from secretum.access.actor import Actor
from secretum.audit.log import record_event
from secretum.audit.models import Action
from secretum.crypto import custody, custody_records, recovery_io, sheets
from secretum.instance import write_private


def scheme(text: str) -> tuple[int, int]:
    """'2-of-3' -> (2, 3); refused unless offered (2-of-2, 2-of-3, 3-of-3)."""
    k, sep, n = text.partition("-of-")
    if not (sep and k.isdigit() and n.isdigit()) or (int(k), int(n)) not in custody.SCHEMES:
        raise CommandError(
            f"--shares {text!r}: choose 2-of-2, 2-of-3 or 3-of-3 (two or three trusted people)."
        )
    return int(k), int(n)


class Command(BaseCommand):
    help = "Write the key file as recovery material: under a passphrase, or as 2 or 3 shares."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        how = parser.add_mutually_exclusive_group(required=True)
        how.add_argument("--passphrase", action="store_true", help="seal under a passphrase")
        how.add_argument("--shares", metavar="K-of-N", help="split: 2-of-2, 2-of-3 or 3-of-3")
        parser.add_argument("--passphrase-file", help="file holding the passphrase")
        parser.add_argument("--out", default=".", help="folder to write into (default: here)")

    def handle(self, *args: Any, **options: Any) -> None:
        out = Path(options["out"])
        if not out.is_dir():
            raise CommandError(f"--out {out}: no such folder.")
        key_file_text = settings.INSTANCE.key_content()
        if options["shares"]:
            k, n = scheme(options["shares"])
            pieces = custody.seal_with_shares(key_file_text, k, n)
        else:
            passphrase = recovery_io.read_passphrase(options["passphrase_file"], confirm=True)
            common = frozenset(CommonPasswordValidator().passwords)
            custody.refuse_weak_passphrase(passphrase, common)
            pieces = [custody.seal_with_passphrase(key_file_text, passphrase)]
        written = []
        with translation.override(settings.LANGUAGE_CODE):
            for piece in pieces:
                written.append(write_piece(out, piece))
        who = recovery_io.os_user()
        with transaction.atomic():  # the record and its audit event together (D1)
            made = custody_records.record_made(pieces[0], who)
            record_event(
                Actor.system(),
                Action.EXPORT,
                custody_records.RESOURCE,
                resource_ref=made.material,
                detail=custody_records.event_detail(pieces[0], who),
            )
        for path in written:
            self.stdout.write(f"{path}\n{path.with_suffix('.pdf')}")
        self.stdout.write(
            f"Recovery material {pieces[0].material_id} of instance {pieces[0].instance_id}: "
            "print it, keep it away from the server, and test it with 'secretum keys "
            "test-recovery'."
        )


def write_piece(out: Path, piece: custody.Material) -> Path:
    """One piece as a text file and a printable PDF sheet with its QR code (owner-only, never
    over another file); the text file's path."""
    if piece.kind == custody.Kind.PASSPHRASE:
        stem = f"secretum-recovery-{piece.material_id}-passphrase"
    else:
        _k, n = piece.threshold
        stem = f"secretum-recovery-{piece.material_id}-share-{piece.index}-of-{n}"
    path = out / f"{stem}.txt"
    write_private(path, custody.to_text(piece, sheets.instructions(piece)).encode())
    write_private(out / f"{stem}.pdf", sheets.pdf(piece))
    return path
