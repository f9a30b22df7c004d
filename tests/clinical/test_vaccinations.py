"""Vaccinations (issue 15): which vaccine and lot, when, which dose, where, by whom; sealed,
versioned and shown on the chart like every entry, never dated in the future."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from secretum.clinical import services
from secretum.clinical.models import Vaccination
from tests.conftest import actor_for, client_for

GIVEN = {"vaccine": "Quzflu 2026", "lot": "QZ-4411", "dose": "2", "site": "right-arm"}


def test_recorded_sealed_and_shown_newest_given_first(practitioner: Any, patient: Any) -> None:
    actor = actor_for(practitioner)
    for day in ("2024-10-01", "2026-10-07", "2025-10-03"):
        services.record_entry(actor, patient.uid, "vaccination", {**GIVEN, "given_on": day})
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT lot, vaccine FROM {Vaccination._meta.db_table}")  # noqa: S608
        rows = cursor.fetchall()
    assert len(rows) == 3
    assert all(b"QZ-4411" not in bytes(lot) and b"Quzflu" not in bytes(v) for lot, v in rows)
    page = client_for(practitioner).get(f"/patients/{patient.uid}/").content.decode()
    table = page[page.index('data-testid="vaccinations"') :]
    assert table.index("07/10/2026") < table.index("03/10/2025") < table.index("01/10/2024")
    assert "right arm (deltoid)" in table and "QZ-4411" in table
    assert practitioner.get_full_name() in table  # given by the author when no one else is named


def test_the_form_records_a_vaccination_given_elsewhere(practitioner: Any, patient: Any) -> None:
    client = client_for(practitioner)
    form = client.get(f"/clinical/{patient.uid}/vaccination/new/")
    assert form.status_code == 200 and 'type="date"' in form.content.decode()
    answer = client.post(
        f"/clinical/{patient.uid}/vaccination/new/",
        {**GIVEN, "given_on": "2026-09-15", "given_by": "Centre de vaccination fictif"},
    )
    assert answer.status_code == 302
    (entry,) = services.access_chart(actor_for(practitioner), patient.uid).entries["vaccination"]
    assert entry.values["given_by"] == "Centre de vaccination fictif"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"given_on": "tomorrow"}, "must be a date"),
        ({"dose": "7"}, "choose one of the options"),
        ({"site": "ear"}, "choose one of the options"),
        ({"lot": ""}, "is required"),
        ({"lot": "L" * 41}, "limited to 40 characters"),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(
    practitioner: Any, patient: Any, change: dict[str, str], message: str
) -> None:
    data = {**GIVEN, "given_on": "2026-01-05", **change}
    with pytest.raises(ValidationError, match=message):
        services.record_entry(actor_for(practitioner), patient.uid, "vaccination", data)


def test_a_date_in_the_future_is_refused(practitioner: Any, patient: Any) -> None:
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    with pytest.raises(ValidationError, match="in the future"):
        services.record_entry(
            actor_for(practitioner),
            patient.uid,
            "vaccination",
            {**GIVEN, "given_on": tomorrow.isoformat()},
        )
    today = {**GIVEN, "given_on": timezone.localdate().isoformat()}
    services.record_entry(actor_for(practitioner), patient.uid, "vaccination", today)
