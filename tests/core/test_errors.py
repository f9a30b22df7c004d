"""The refusal pages say why (C1, J1): a practitioner without a care relationship is told that
the patient's page offers the ways in, never only "your role does not give access"."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from secretum.access.policy import Role
from secretum.patients import services as patients
from tests.conftest import actor_for, client_for, identity, make_user


def test_a_record_without_care_relationship_is_refused_with_the_way_in(
    practitioner: Any,
) -> None:
    uid = patients.register_patient(actor_for(practitioner), identity()).uid
    stranger = make_user(Role.PRACTITIONER)
    response = client_for(stranger).post(
        reverse("clinical:new", args=[uid, "encounter"]),
        {"reason": "Contrôle", "subjective": "Se sent bien."},
    )
    page = response.content.decode()
    assert response.status_code == 403
    assert "no care relationship with this patient" in page
    assert "offers the ways in" in page


def test_an_archived_record_is_refused_with_how_it_opens(practitioner: Any) -> None:
    """J1: a write to an archived record is refused with the way to open it, not a bare 403."""
    from django.utils import timezone

    from secretum.lib.dates import add_years
    from secretum.patients import archive

    uid = str(patients.register_patient(actor_for(practitioner), identity()).uid)
    run = archive.archive_due(now=add_years(timezone.now(), 6))
    assert [archived for archived, _last in run.archived] == [uid]
    response = client_for(practitioner).post(
        reverse("clinical:new", args=[uid, "encounter"]),
        {"reason": "Contrôle", "subjective": "Se sent bien."},
    )
    page = response.content.decode()
    assert response.status_code == 403
    assert "record is archived" in page and "restored to active" in page
