"""Prescriptions (issue 15): stop a medication, renew it, read one to print, and the prescriber's
RIZIV/INAMI number. Every call through the gate (access/guard.py) with its audit event, like
clinical/services.py, whose helpers it shares. Printing itself (the PDF, the print log, P1) is
compliance/printing.py's, above this layer.

Renewing and printing are a practitioner's acts (``CLINICAL_SIGN``); stopping a medication
is any carer's (``CLINICAL_WRITE``), as recording one is. An electronic prescription (Recip-e)
needs the eHealth platform: not faked here; docs/prescriptions.md maps the fields onto it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import AccessDenied, Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.log import record_tampered
from secretum.audit.models import Action
from secretum.clinical import integrity, medications, rules
from secretum.clinical.models import Medication, Prescriber
from secretum.clinical.services import (
    Entry,
    _count_write,
    _entry_patient_ref,
    _new_row,
    _open_entry,
    _reveal,
    _supersede_row,
)
from secretum.patients import integrity as records
from secretum.patients.services import PatientIdentity, reveal_identity

KIND = "medication"
RESOURCE = "clinical.Medication"
# What a renewal copies: the product and its posology; the dates are the renewal's own.
RENEWED = ("drug", "dose", "frequency", "duration", "cnk", "atc", "strength", "route", "quantity")


@dataclass(frozen=True)
class Prescription:
    """What a printed prescription holds: the patient, the medication, the prescriber."""

    patient: PatientIdentity
    medication: Entry
    prescriber: str
    riziv: str  # 11 digits


def _current(row: Any) -> None:
    if row.superseded_at is not None or row.retracted:
        raise ValidationError(_("Only the current version of a medication can be used."))


def _stop_on(values: dict[str, Any], today: dt.date) -> str:
    """Today, or the start if it is still to come (a stop is never before its start)."""
    start = values.get("start")
    return max(today.isoformat(), start or "")


def stop_medication(actor: Actor, uid: Any) -> str:
    """Stop a medication today: a new version whose stop date is today (the first day without
    it), the earlier version kept; the patient's uid. Refused for one already stopped."""
    with guarded(
        actor,
        Permission.CLINICAL_WRITE,
        Action.UPDATE,
        RESOURCE,
        patient_ref=_entry_patient_ref(KIND, uid),
        resource_ref=uid,
        detail={"medication": "stop"},
    ) as event:
        row, key = _open_entry(KIND, uid, write=True)
        _current(row)
        values = _reveal(KIND, row, event.reader(key)).values
        today = timezone.localdate()
        if not medications.is_active(values, today):
            raise ValidationError(_("This medication is already stopped."))
        values = rules.clean_entry(KIND, {**values, "stop": _stop_on(values, today)})
        new = _supersede_row(actor, row, key, values)
        _count_write(actor, row.patient, event)
        event.detail.update({"stop": values["stop"], "new_version": str(new.uid)})
        return str(row.patient.uid)


def renew_medication(actor: Actor, uid: Any) -> tuple[Entry, str]:
    """A new prescription of the same product and posology starting today, as long as the
    earlier one lasted when it had a stop date; the earlier one, if still taken, stops today
    (a new version of it, so the active list names the product once). The new entry and the
    patient's uid."""
    with guarded(
        actor,
        Permission.CLINICAL_SIGN,
        Action.CREATE,
        RESOURCE,
        patient_ref=_entry_patient_ref(KIND, uid),
        detail={"medication": "renewal", "renewal_of": str(uid)},
    ) as event:
        row, key = _open_entry(KIND, uid, write=True)
        _current(row)
        reader = event.reader(key)
        values = _reveal(KIND, row, reader).values
        today = timezone.localdate()
        renewed: dict[str, Any] = {name: values.get(name) for name in RENEWED}
        renewed["start"] = today.isoformat()
        start, stop = values.get("start"), values.get("stop")
        if start and stop:  # as long as the earlier one lasted
            length = dt.date.fromisoformat(stop) - dt.date.fromisoformat(start)
            renewed["stop"] = (today + length).isoformat()
        renewed = rules.clean_entry(KIND, renewed)
        if medications.is_active(values, today):
            stopped = rules.clean_entry(KIND, {**values, "stop": _stop_on(values, today)})
            event.detail["stopped_version"] = str(_supersede_row(actor, row, key, stopped).uid)
        new = _new_row(actor, row.patient, key, Medication, renewed)
        _count_write(actor, row.patient, event)
        event.resource_ref = str(new.uid)
        return _reveal(KIND, new, reader), str(row.patient.uid)


def access_prescription(actor: Actor, uid: Any) -> Prescription:
    """A current medication read to print as a prescription, with its patient and prescriber.
    Refused with a clear message when the prescriber has no RIZIV/INAMI number, or one altered
    outside Secretum."""
    with guarded(
        actor,
        Permission.CLINICAL_SIGN,
        Action.READ,
        RESOURCE,
        patient_ref=_entry_patient_ref(KIND, uid),
        resource_ref=uid,
        detail={"view": "prescription"},
    ) as event:
        if actor.user is None:
            raise AccessDenied("a prescription is signed by a person")
        riziv = prescriber_number(actor.user)
        if riziv is None:
            raise ValidationError(
                _(
                    "Set your RIZIV/INAMI number (My prescriber number) before printing a "
                    "prescription: it is printed on it."
                )
            )
        row, key = _open_entry(KIND, uid)
        _current(row)
        # What a physician signs must be what they recorded: a row, or the record's set of
        # entries, altered outside Secretum is refused (reported by _open_entry), never printed.
        if not integrity.intact(row, str(row.patient.uid)) or not records.entries_intact(
            row.patient
        ):
            raise records.altered_error()
        reader = event.reader(key)
        return Prescription(
            patient=reveal_identity(row.patient, reader),
            medication=_reveal(KIND, row, reader),
            prescriber=str(actor.user),
            riziv=riziv,
        )


def prescriber_number(user: Any) -> str | None:
    """A practitioner's own RIZIV/INAMI number; None if unset (or for the system). One altered
    in the database (its row seal does not hold) is reported and treated as unset: never
    printed. Not patient data: no gate (the page and the print that use it pass theirs)."""
    row = Prescriber.objects.filter(user_id=user.pk).first() if user is not None else None
    if row is None:
        return None
    if not row.seal_intact():
        record_tampered("clinical.Prescriber", str(row.pk))
        return None
    return row.riziv


def set_prescriber_number(actor: Actor, text: str) -> str:
    """Set the acting practitioner's own RIZIV/INAMI number (checked: 11 digits, check digits);
    audited with the number (public in the INAMI's register, not patient data)."""
    number = medications.check_riziv(text)
    with guarded(
        actor,
        Permission.CLINICAL_SIGN,
        Action.UPDATE,
        "clinical.Prescriber",
        resource_ref=getattr(actor.user, "pk", ""),
        detail={"riziv": number},
    ):
        user = actor.user
        if user is None:  # the system passes the gate; it is no prescriber
            raise AccessDenied("a prescriber is a person")
        row = Prescriber.objects.select_for_update().filter(user_id=user.pk).first()
        if row is None:
            row = Prescriber(user=user)
        row.riziv = number
        row.save()
        return number
