"""Appointments: booked by the front desk, seen by practitioners. Administrative data only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access import care
from secretum.access.actor import Actor, role_of
from secretum.access.guard import EventDraft, guarded
from secretum.access.models import CareRelationship
from secretum.access.policy import CARE_ROLES, Permission
from secretum.accounts.integrity import checked
from secretum.audit.models import Action
from secretum.lib.dates import add_years, shown
from secretum.lib.rawrows import AUTHOR_FIELDS, Select, rows_among, value
from secretum.patients import queries
from secretum.patients.models import Patient
from secretum.patients.services import (
    NAME_FIELDS,
    PatientIdentity,
    open_patient,
    patient_key,
    reveal_identity,
)
from secretum.scheduling.models import Appointment

RESOURCE = "scheduling.Appointment"
PATIENT_PAGE = 20  # the latest appointments a patient's page lists
DURATIONS = (10, 15, 20, 30, 45, 60)
# N2: the days a practice's agenda covers; outside them a date is a typing error (and near
# year 1 or 9999, the date arithmetic of a page or a booking would overflow).
AGENDA_YEARS_BACK = 2
AGENDA_YEARS_AHEAD = 5  # check_booking_start's message says "five": change both


@dataclass(frozen=True)
class AppointmentView:
    uid: str
    starts_at: dt.datetime
    duration_minutes: int
    practitioner: str
    patient_uid: str
    patient_name: str
    status: str


@dataclass(frozen=True)
class PractitionerChoice:
    id: int
    name: str


def _bookable(users: Any) -> list[Any]:
    """The caregivers one may book (C1): practitioners and nurses, enabled, in the role today
    (C2: its dates, decided by ``role_of``), as the sealed row says (one altered outside
    Secretum is left out, and reported)."""
    found = users.filter(role__in=CARE_ROLES, is_active=True).order_by("last_name", "username")
    return [u for u in found if role_of(u) in CARE_ROLES and checked(u)]


def practitioners() -> list[PractitionerChoice]:
    return [PractitionerChoice(u.pk, str(u)) for u in _bookable(get_user_model().objects)]


def agenda_window() -> tuple[dt.date, dt.date]:
    """The first and the last day the agenda shows and books: two years back, five ahead."""
    today = timezone.localdate()
    return add_years(today, -AGENDA_YEARS_BACK), add_years(today, AGENDA_YEARS_AHEAD)


def check_agenda_day(day: dt.date) -> None:
    """ValidationError, saying the range, for a day outside :func:`agenda_window` (N2)."""
    first, last = agenda_window()
    if not first <= day <= last:
        raise ValidationError(
            _("The agenda covers %(first)s to %(last)s: choose a day between them.")
            % {"first": shown(first), "last": shown(last)}
        )


def check_booking_start(starts_at: dt.datetime) -> None:
    """ValidationError for a moment no appointment can start at: in the past (five minutes'
    grace), or after the last day of :func:`agenda_window` (N2). The form and the service both
    ask here. Compared as aware datetimes, never converted: a moment near year 1 or 9999 cannot
    always be converted to local time or UTC; bounded here, the booking's own arithmetic (its
    end, the overlap window) cannot overflow."""
    if starts_at < timezone.now() - dt.timedelta(minutes=5):
        raise ValidationError(_("An appointment cannot be booked in the past."))
    last = agenda_window()[1]
    if starts_at > timezone.make_aware(dt.datetime.combine(last, dt.time.max)):
        raise ValidationError(
            _("An appointment is booked at most five years ahead: choose a day up to %(last)s.")
            % {"last": shown(last)}
        )


def _view(a: Appointment, patient_name: str) -> AppointmentView:
    return AppointmentView(
        str(a.uid),
        a.starts_at,
        a.duration_minutes,
        str(a.practitioner),
        str(a.patient.uid),
        patient_name,
        a.status,
    )


def book_appointment(
    actor: Actor,
    patient_uid: Any,
    practitioner_id: int,
    starts_at: dt.datetime,
    duration_minutes: int,
) -> AppointmentView:
    if duration_minutes not in DURATIONS:
        raise ValidationError(_("Choose one of the proposed durations."))
    check_booking_start(starts_at)  # N2: before any arithmetic on it
    with guarded(
        actor, Permission.APPOINTMENT_WRITE, Action.CREATE, RESOURCE, patient_ref=patient_uid
    ) as event:
        patient, key = open_patient(patient_uid)
        found = _bookable(get_user_model().objects.filter(pk=practitioner_id))
        if not found:
            raise ValidationError(_("Choose a practitioner of the practice.")) from None
        practitioner = found[0]
        end = starts_at + dt.timedelta(minutes=duration_minutes)
        overlapping = [
            a
            for a in Appointment.objects.filter(
                practitioner=practitioner,
                status=Appointment.Status.BOOKED,
                starts_at__lt=end,
                starts_at__gte=starts_at - dt.timedelta(hours=2),
            )
            if a.starts_at + dt.timedelta(minutes=a.duration_minutes) > starts_at
        ]
        if overlapping:
            raise ValidationError(_("This practitioner already has an appointment at that time."))
        appt = Appointment.objects.create(
            patient=patient,
            practitioner=practitioner,
            starts_at=starts_at,
            duration_minutes=duration_minutes,
            booked_by=actor.user,
        )
        # C1: an appointment with a practitioner starts their care relationship.
        care.record_contact(practitioner, patient.pk, CareRelationship.Origin.APPOINTMENT)
        event.resource_ref = str(appt.uid)
        return _view(appt, reveal_identity(patient, event.reader(key), NAME_FIELDS).display_name)


def _with_names(rows: list[Appointment], event: EventDraft) -> list[AppointmentView]:
    names: dict[int, str] = {}
    # Issue 17: the practitioners of the day in one query, not one user row built per appointment.
    ids = sorted({a.practitioner_id for a in rows})
    staff = {u.pk: u for u in rows_among(get_user_model(), ids, AUTHOR_FIELDS)}
    out = []
    for a in rows:
        if a.patient_id not in names:
            # The row came with the appointment (select_related): no second query.
            reader = event.reader(patient_key(a.patient))
            names[a.patient_id] = reveal_identity(a.patient, reader, NAME_FIELDS).display_name
        a.practitioner = staff[a.practitioner_id]
        out.append(_view(a, names[a.patient_id]))
    return out


def agenda(actor: Actor, day: dt.date) -> list[AppointmentView]:
    check_agenda_day(day)
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    with guarded(
        actor, Permission.APPOINTMENT_READ, Action.SEARCH, RESOURCE, detail={"kind": "agenda"}
    ) as event:
        end = start + dt.timedelta(days=1)
        rows = _DAY.rows(*(value(Appointment, "starts_at", moment) for moment in (start, end)))
        return _with_names(rows, event)


# A day's appointments with their patients' rows, in SQL written once (issue 17: the ORM's
# queryset took a third of the agenda's time to compose and to build its rows). An archived
# patient's appointments are in no list (J1).
_DAY = Select(
    Appointment,
    f"WHERE {Appointment._meta.db_table}.starts_at >= %s "
    f"AND {Appointment._meta.db_table}.starts_at < %s AND r.archived_at IS NULL "
    f"ORDER BY {Appointment._meta.db_table}.starts_at",
    related="patient",
    related_names=queries.LISTED,
)


def patient_appointments(actor: Actor, patient_uid: Any) -> list[AppointmentView]:
    with guarded(
        actor,
        Permission.APPOINTMENT_READ,
        Action.SEARCH,
        RESOURCE,
        patient_ref=patient_uid,
        detail={"kind": "patient"},
    ) as event:
        patient, key = open_patient(patient_uid)
        name = reveal_identity(patient, event.reader(key), NAME_FIELDS).display_name
        return _appointments(patient, name)


def appointments_of(patient: Patient, name: str, event: EventDraft) -> list[AppointmentView]:
    """The appointments of a patient a page's read has already opened (issue 17: one opening,
    one key unwrapped, one event per page): no gate here, and no second opening. The caller's
    guarded read asked ``Permission.APPOINTMENT_READ`` among its own (``guarded(also=...)``);
    its event names this section among those it read."""
    if event.actor is None or not event.actor.may(Permission.APPOINTMENT_READ):
        raise RuntimeError("appointments are read inside a guarded read that asked for them")
    event.detail.setdefault("sections", []).append("appointments")
    return _appointments(patient, name)


# A patient's latest appointments with their practitioners' names, in SQL written once (issue
# 17: the ORM took longer to compose the query than SQLite to run it).
_LATEST = Select(
    Appointment,
    f"WHERE {Appointment._meta.db_table}.patient_id = %s "
    f"ORDER BY {Appointment._meta.db_table}.starts_at DESC LIMIT %s",
    related="practitioner",
    related_names=AUTHOR_FIELDS,
)


def _appointments(patient: Patient, name: str) -> list[AppointmentView]:
    """The patient's latest appointments, newest first; ``name``: theirs, already decrypted."""
    out = []
    for a in _LATEST.rows(patient.pk, PATIENT_PAGE):
        a.patient = patient  # the row the caller opened (and checked): not loaded again
        out.append(_view(a, name))
    return out


def access_identity(
    actor: Actor, patient_uid: Any
) -> tuple[PatientIdentity, list[AppointmentView]]:
    """A patient's page for whoever reads identities and appointments, not the medical record
    (the front desk; a practitioner without a basis, C1): the identity and the appointments in
    one read, one event ("read", patients.Patient) naming both sections (issue 17)."""
    with guarded(
        actor,
        Permission.PATIENT_IDENTITY_READ,
        Action.READ,
        "patients.Patient",
        patient_ref=patient_uid,
        resource_ref=patient_uid,
        detail={"sections": ["identity"]},
        also=(Permission.APPOINTMENT_READ,),
    ) as event:
        patient, key = open_patient(patient_uid)
        identity = reveal_identity(patient, event.reader(key))
        return identity, appointments_of(patient, identity.display_name, event)


def cancel_appointment(actor: Actor, uid: Any) -> None:
    appt = Appointment.objects.filter(uid=uid).select_related("patient").first()
    with guarded(
        actor,
        Permission.APPOINTMENT_WRITE,
        Action.UPDATE,
        RESOURCE,
        patient_ref=appt.patient.uid if appt else "",
        resource_ref=uid,
        detail={"status": "cancelled"},
    ):
        if appt is None:
            raise ValidationError(_("No such appointment."))
        appt.status = Appointment.Status.CANCELLED
        appt.save(update_fields=["status"])
