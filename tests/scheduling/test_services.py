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
