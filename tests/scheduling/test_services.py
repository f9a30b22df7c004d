"""The appointments block of a page read (issue 17: one read per page)."""

from __future__ import annotations

from typing import Any

import pytest

from secretum.access.policy import Role
from tests.conftest import actor_for, make_user


def test_appointments_are_read_only_inside_a_read_that_asked_for_them(db: Any) -> None:
    """Issue 17: ``appointments_of`` opens nothing itself; called outside a guarded read that
    asked APPOINTMENT_READ (no actor, or one without it), it refuses rather than read."""
    from secretum.access.guard import EventDraft
    from secretum.scheduling.services import appointments_of

    with pytest.raises(RuntimeError, match="guarded read"):
        appointments_of(None, "", EventDraft("read", "patients.Patient"))  # type: ignore[arg-type]
    draft = EventDraft("read", "patients.Patient", actor=actor_for(make_user(Role.AUDITOR)))
    with pytest.raises(RuntimeError, match="guarded read"):
        appointments_of(None, "", draft)  # type: ignore[arg-type]


def test_a_days_agenda_is_that_local_day_in_order_with_each_practitioners_name(db: Any) -> None:
    """Issue 17 (the day read by SQL written once): local midnight belongs to its day, the next
    midnight to the next; the appointments in order of their start, each with its patient and
    its own practitioner, whatever the time zone's offset on either engine."""
    import datetime as dt

    from django.utils import timezone

    from secretum.patients import services as patients
    from secretum.scheduling import services as scheduling
    from tests.conftest import identity

    first, second = make_user(Role.PRACTITIONER), make_user(Role.PRACTITIONER)
    actor = actor_for(first)
    day = timezone.localdate() + dt.timedelta(days=3)
    midnight = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
    booked = {}
    for name, who, at in (
        ("Avant", first, midnight - dt.timedelta(minutes=15)),  # the day before
        ("Minuit", second, midnight),
        ("Tard", first, midnight + dt.timedelta(hours=23, minutes=45)),
        ("Midi", second, midnight + dt.timedelta(hours=12)),
        ("Lendemain", first, midnight + dt.timedelta(days=1)),  # the next day
    ):
        uid = patients.register_patient(actor, identity(family_name=name)).uid
        scheduling.book_appointment(actor, uid, who.pk, at, 15)
        booked[name] = (uid, str(who))
    again = midnight + dt.timedelta(hours=16)  # a patient seen twice that day: named twice
    scheduling.book_appointment(actor, booked["Midi"][0], second.pk, again, 15)
    shown = scheduling.agenda(actor, day)
    assert [a.patient_name.split()[0] for a in shown] == ["MINUIT", "MIDI", "MIDI", "TARD"]
    for a in shown:
        uid, practitioner = booked[a.patient_name.split()[0].capitalize()]
        assert (a.patient_uid, a.practitioner) == (str(uid), practitioner)
    assert booked["Tard"][1] != booked["Midi"][1]
    assert scheduling.agenda(actor, day + dt.timedelta(days=1))[0].patient_name.startswith("LEND")


def test_a_duration_not_proposed_is_refused(db: Any) -> None:
    import datetime as dt

    from django.core.exceptions import ValidationError
    from django.utils import timezone

    from secretum.patients import services as patients
    from secretum.scheduling import services as scheduling
    from tests.conftest import identity

    doctor = make_user(Role.PRACTITIONER)
    uid = patients.register_patient(actor_for(doctor), identity()).uid
    later = timezone.now() + dt.timedelta(days=2)
    with pytest.raises(ValidationError, match="proposed durations"):
        scheduling.book_appointment(actor_for(doctor), uid, doctor.pk, later, 7)
    assert scheduling.agenda(actor_for(doctor), timezone.localdate(later)) == []
