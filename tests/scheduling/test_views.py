"""The agenda page (issue 17): each row links to its patient's chart and cancels its own
appointment, the links made as `{% url %}` makes them (`uid_url`: the route reversed once per
page, each row's uid in its place)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.urls import reverse
from django.utils import timezone

from secretum.patients import services as patients
from secretum.scheduling import services as scheduling
from tests.conftest import actor_for, client_for, identity


def test_each_row_links_to_its_own_patient_and_appointment(
    practitioner: Any, secretary: Any
) -> None:
    doctor = actor_for(practitioner)
    day = timezone.localdate() + dt.timedelta(days=2)
    booked = []
    for n, family in enumerate(("Vandermaele", "Quoidbach", "Ertvelde")):
        uid = patients.register_patient(doctor, identity(family_name=family)).uid
        start = timezone.make_aware(dt.datetime.combine(day, dt.time(9 + n, 0)))
        booked.append(
            (family, uid, scheduling.book_appointment(doctor, uid, practitioner.pk, start, 20))
        )
    page = client_for(secretary).get(f"/agenda/?day={day.isoformat()}")
    assert page.status_code == 200
    text = page.content.decode()
    for family, uid, appointment in booked:
        chart = reverse("patients:detail", args=[uid])
        cancel = reverse("scheduling:cancel", args=[appointment.uid])
        row = text[text.index(f'href="{chart}"') :]
        assert row.index(family.upper()) < row.index(f'action="{cancel}"') < row.index("</tr>")
