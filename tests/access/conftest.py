"""The record the care tests share: the shared ``patient``, registered by the shared
``practitioner`` (who thereby takes care of them), with an allergy on the chart; and a colleague
who does not take care of them."""

from __future__ import annotations

from typing import Any

import pytest

from secretum.access.policy import Role
from secretum.clinical import services as clinical
from tests.conftest import actor_for, make_user

ALLERGY = {"substance": "Arachide", "reaction": "œdème", "severity": "severe"}
REASON = "Patient unconscious in the waiting room"


@pytest.fixture
def colleague(db: Any) -> Any:
    return make_user(Role.PRACTITIONER)


@pytest.fixture
def record(practitioner: Any, patient: Any) -> str:
    """The patient's uid, an allergy on their chart written by their own doctor."""
    clinical.record_entry(actor_for(practitioner), patient.uid, "allergy", ALLERGY)
    return str(patient.uid)
