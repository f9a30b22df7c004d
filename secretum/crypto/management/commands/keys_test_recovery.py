"""`secretum keys test-recovery FILE | --share A --share B`: prove that recovery material
rebuilds this instance's key file, writing no key file; record the date and its audit event
(O2, I2, D1)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from secretum.access.actor import Actor
from secretum.audit.log import record_event
from secretum.audit.models import Action
from secretum.crypto import custody, custody_records, recovery_io


class Command(BaseCommand):
    help = "Prove that recovery material rebuilds this key file (nothing is written)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", help="passphrase recovery file ('-': typed)")
        parser.add_argument("--share", action="append", default=[], help="a share (repeat)")
        parser.add_argument("--passphrase-file", help="file holding the passphrase")

    def handle(self, *args: Any, **options: Any) -> None:
        names = [options["file"]] if options["file"] else options["share"]
        if bool(options["file"]) == bool(options["share"]):
            raise CommandError("give either a recovery FILE or --share twice or more, not both.")
        pieces = [recovery_io.read_material(name) for name in names]
        mine = custody_records.instance_id()
        for piece in pieces:
            if piece.instance != mine:
                raise CommandError(
                    f"the {piece.describe()} is not of this instance ({custody.id_text(mine)}): "
                    "it cannot rebuild this key file."
                )
        rebuilt = recovery_io.rebuild(pieces, options["passphrase_file"])
        current = settings.INSTANCE.key_content()
        if json.loads(rebuilt) != json.loads(current):
            raise CommandError(
                f"the {pieces[0].describe()} rebuilds an earlier version of this key file, not "
                "the present one: make new recovery material with 'secretum keys backup'."
            )
        who = recovery_io.os_user()
        with transaction.atomic():  # the record and its audit event together (D1)
            tested = custody_records.record_tested(pieces[0], who)
            record_event(
                Actor.system(),
                Action.REVIEW,
                custody_records.RESOURCE,
                resource_ref=tested.material,
                detail=custody_records.event_detail(pieces[0], who, phase="test-recovery"),
            )
        self.stdout.write(
            f"The {pieces[0].describe()} rebuilds this instance's key file (nothing written); "
            f"test recorded on {timezone.localdate().isoformat()}."
        )
