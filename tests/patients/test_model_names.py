"""What ``str()`` of a record's rows says: it may reach a log or an error page, so it names the
row by its opaque uid or its kind, never by a name, a birth date or a national number (H2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from secretum.patients import services as patients
from secretum.patients.models import Patient, SearchToken
from secretum.scheduling.models import Appointment
from tests.conftest import actor_for
from tests.conftest import identity as fictitious_identity


def test_a_row_is_named_by_its_uid_or_kind_never_by_what_it_holds(practitioner: Any) -> None:
    given = fictitious_identity()
    uid = patients.register_patient(actor_for(practitioner), given).uid
    patient = Patient.objects.get(uid=uid)
    token = SearchToken.objects.filter(patient=patient, kind=SearchToken.Kind.NAME).first()
    appointment = Appointment.objects.create(
        patient=patient,
        practitioner=practitioner,
        starts_at=timezone.now() + dt.timedelta(days=1),
        duration_minutes=15,
        booked_by=practitioner,
    )
    names = [str(patient), str(token), str(appointment)]
    assert names == [
        f"Patient {patient.uid}",
        f"SearchToken {SearchToken.Kind.NAME}",
        f"Appointment {appointment.uid}",
    ]
    held = [str(given[k]) for k in ("family_name", "given_name", "niss", "birth_date") if given[k]]
    assert held and not [v for v in held if any(v.lower() in name.lower() for name in names)]
