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


def test_a_name_written_to_attack_the_page_is_shown_as_text(
    practitioner: Any, secretary: Any
) -> None:
    """Issue 17 made the agenda's rows in one pass, outside the template engine: every value is
    still escaped (a family name carrying markup, a practitioner's name with an ampersand), a
    cancelled appointment offers no form, a booked one its form with the CSRF field, and the time
    is the practice's local time."""
    practitioner.first_name, practitioner.last_name = "Anaïs", "Lambotte & Fils"
    practitioner.save()
    doctor = actor_for(practitioner)
    day = timezone.localdate() + dt.timedelta(days=3)
    hostile = '<script>alert("x")</script>'
    uid = patients.register_patient(doctor, identity(family_name=hostile)).uid
    other = patients.register_patient(doctor, identity(family_name="Ertvelde")).uid
    at = timezone.make_aware(dt.datetime.combine(day, dt.time(8, 5)))
    kept = scheduling.book_appointment(doctor, uid, practitioner.pk, at, 20)
    later = at + dt.timedelta(minutes=25)
    gone = scheduling.book_appointment(doctor, other, practitioner.pk, later, 20)
    scheduling.cancel_appointment(actor_for(secretary), gone.uid)
    text = client_for(secretary).get(f"/agenda/?day={day.isoformat()}").content.decode()
    assert "<script>alert" not in text and "&lt;SCRIPT&gt;ALERT(&quot;X&quot;)" in text
    assert "Lambotte &amp; Fils" in text and "Lambotte & Fils" not in text
    rows = text[text.index("<tbody>") : text.index("</tbody>")].split("</tr>")[:-1]
    assert len(rows) == 2
    booked, cancelled = rows
    assert "<td>08:05 (20 min)</td>" in booked and "<td>08:30 (20 min)</td>" in cancelled
    assert 'class="cancelled"' in cancelled and 'class="cancelled"' not in booked
    assert f'action="{reverse("scheduling:cancel", args=[kept.uid])}"' in booked
    assert 'name="csrfmiddlewaretoken"' in booked and "<form" not in cancelled
    assert cancelled.rstrip().endswith("<td>cancelled</td>")


def test_a_day_without_appointment_says_so(secretary: Any) -> None:
    day = timezone.localdate() + dt.timedelta(days=4)
    text = client_for(secretary).get(f"/agenda/?day={day.isoformat()}").content.decode()
    assert "No appointment this day." in text and "<form method" not in text.split("<tbody>")[1]
