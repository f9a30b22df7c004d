from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from secretum.access.actor import Actor
from secretum.clinical.records import acknowledge_alteration


class Command(BaseCommand):
    help = (
        "After examining a record altered outside Secretum, make it as it now stands the "
        "reference again (audited, with the reason given)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("patient", help="the patient's reference (uid)")
        parser.add_argument("--reason", required=True, help="why, in 10 to 200 characters")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            version = acknowledge_alteration(Actor.system(), options["patient"], options["reason"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(
            f"record {options['patient']} acknowledged as it stands (record version {version})."
        )
