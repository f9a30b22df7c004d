"""The accounts that name the authors of imported entries (L1, L2; B1): disabled, no role, no
password, made once per name, audited; a name from outside is bounded."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError

from secretum.access.policy import Permission
from secretum.accounts.imported import imported_author, username_for
from secretum.maintenance.console import ConsoleActor
from tests.conftest import actor_for, events

CONSOLE = ConsoleActor(user=None, role=None, source="console", os_user="tester")


def test_an_author_is_named_once_and_can_do_nothing(db: Any) -> None:
    user = imported_author(CONSOLE, "  Dr  Quentin Fictif ")
    assert str(user) == "Dr Quentin Fictif" and user.username == username_for("Dr Quentin Fictif")
    assert not user.is_active and not user.role and not user.has_usable_password()
    assert actor_for(user).may(Permission.SESSION_OWN) is False
    assert authenticate(username=user.username, password="") is None
    assert imported_author(CONSOLE, "Dr Quentin Fictif").pk == user.pk
    made = events(action="create", resource="accounts.User")
    assert len(made) == 1 and made[0].actor_name == "os:tester" and '"imported"' in made[0].detail


@pytest.mark.parametrize("name", ["", "   ", "x" * 151, "tab\x00name"])
def test_a_name_from_outside_is_bounded(db: Any, name: str) -> None:
    with pytest.raises(ValidationError):
        imported_author(CONSOLE, name)
