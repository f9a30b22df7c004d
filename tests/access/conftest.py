"""The people and the record the care tests share: a patient registered by their own doctor
(who thereby takes care of them), with an allergy on the chart, and a colleague who does not."""

from __future__ import annotations

from typing import Any

import pytest

from secretum.access.policy import Role
from secretum.clinical import services as clinical
from secretum.patients import services as patients
from tests.conftest import actor_for, identity, make_user

ALLERGY = {"substance": "Arachide", "reaction": "œdème", "severity": "severe"}
REASON = "Patient unconscious in the waiting room"


@pytest.fixture
def own_doctor(db: Any) -> Any:
    return make_user(Role.PRACTITIONER)


@pytest.fixture
def colleague(db: Any) -> Any:
    return make_user(Role.PRACTITIONER)


@pytest.fixture
def record(own_doctor: Any) -> str:
    """A patient registered by their own doctor (who thereby takes care of them), with an
    allergy on the chart."""
    uid = patients.register_patient(actor_for(own_doctor), identity()).uid
    clinical.record_entry(actor_for(own_doctor), uid, "allergy", ALLERGY)
    return uid
