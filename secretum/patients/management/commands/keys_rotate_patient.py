"""`secretum keys rotate --patient NISS-OR-UID [--patient ...]` (or ``all``): each patient's data
key replaced by a new one, every value of the record sealed again under it, one transaction per
patient, each an audit event (E10, O1; ``secretum.patients.dekrotation``)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from secretum.access.actor import Actor, Purpose
from secretum.lib import niss as niss_lib
from secretum.patients import dekrotation, services
from secretum.patients.models import Patient


def _uid(given: str) -> str:
    """A patient's uid from a uid or a national number (the blind index proposes, the decrypted
    number confirms)."""
    if niss_lib.looks_like(given):
        try:
            found = services.patient_ref_for_niss(niss_lib.clean(given))
        except niss_lib.NissError as exc:
            raise CommandError(str(exc)) from None
        if found is None:
            raise CommandError(f"No patient has the national number {given}.")
        return found
    return given


class Command(BaseCommand):
    help = "Rotate patients' data keys: a new key each, every value of the record sealed again."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("patients", nargs="+", metavar="NISS-OR-UID", help="or 'all'")

    def handle(self, *args: Any, **options: Any) -> None:
        given: list[str] = options["patients"]
        uids = (
            [str(u) for u in Patient.objects.order_by("pk").values_list("uid", flat=True)]
            if given == ["all"]
            else [_uid(g) for g in given]
        )
        actor = Actor.system(Purpose.MAINTENANCE)
        refused = 0
        for uid in uids:
            try:
                done = dekrotation.rotate_patient_key(actor, uid)
            except (ValidationError, Http404) as exc:
                refused += 1
                reason = exc.messages[0] if isinstance(exc, ValidationError) else "no such patient"
                self.stderr.write(f"  {uid}: not rotated: {reason}")
                continue
            self.stdout.write(
                f"  {done.uid}: new data key; {done.values} values in {done.entries} entries and "
                f"the identity sealed again (record version {done.record_version})"
            )
        self.stdout.write(f"{len(uids) - refused} of {len(uids)} patients' data keys rotated.")
        if refused:
            raise CommandError(f"{refused} patients' data keys were not rotated (see above).")
