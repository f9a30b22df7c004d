"""The manager's pages (B1, C2, E1): accounts created, changed and ended through the pages, each
change after sudo, said back to the manager, and audited."""

from __future__ import annotations

import time
from typing import Any

import pytest

from secretum.access.policy import Role
from secretum.accounts import flow, services
from secretum.accounts.models import PracticeSettings
from tests.conftest import actor_for, client_for, events, make_user


@pytest.fixture
def manager_client(manager: Any) -> Any:
    client = client_for(manager)
    session = client.session
    session[flow.REAUTH_AT] = int(time.time())
    session.save()
    return client


def _messages(client: Any) -> str:
    return str(client.get("/accounts/users/").content.decode())


def test_a_taken_user_name_is_refused_whatever_its_case(manager: Any, manager_client: Any) -> None:
    """B1: one person, one account: "Dr.Martin" is "dr.martin"."""
    services.create_user(actor_for(manager), username="dr.martin", role=Role.PRACTITIONER)
    response = manager_client.post(
        "/accounts/users/new/",
        {"username": "Dr.Martin", "role": "secretary", "first_name": "A", "last_name": "B"},
    )
    assert response["Location"] == "/accounts/users/"
    assert "This user name is already taken." in _messages(manager_client)
    assert type(manager).objects.filter(username__iexact="dr.martin").count() == 1


def test_an_action_without_a_link_is_confirmed(manager: Any, manager_client: Any) -> None:
    doctor = make_user(Role.PRACTITIONER)
    manager_client.post("/accounts/users/action/", {"user": doctor.pk, "action": "disable"})
    assert "Done." in _messages(manager_client)
    doctor.refresh_from_db()
    assert not doctor.is_active
    manager_client.post("/accounts/users/action/", {"user": doctor.pk, "action": "enable"})
    doctor.refresh_from_db()
    assert doctor.is_active
    changes = [e.detail for e in events(resource="accounts.User", action="update")]
    assert changes == ['{"change":"disabled"}', '{"change":"enabled"}']


def test_a_manager_cannot_disable_their_own_account(manager: Any, manager_client: Any) -> None:
    manager_client.post("/accounts/users/action/", {"user": manager.pk, "action": "disable"})
    assert "You cannot disable your own account." in _messages(manager_client)
    manager.refresh_from_db()
    assert manager.is_active


def test_an_action_on_no_such_user_is_refused(manager_client: Any) -> None:
    manager_client.post("/accounts/users/action/", {"user": 999_999, "action": "disable"})
    assert "No such user." in _messages(manager_client)


def test_a_password_link_is_shown_to_the_manager(manager: Any, manager_client: Any) -> None:
    doctor = make_user(Role.PRACTITIONER)
    manager_client.post("/accounts/users/action/", {"user": doctor.pk, "action": "password-link"})
    shown = manager_client.session["sx_enrol_link"]
    assert shown["purpose"] == "password" and "/accounts/enrol/password/#" in shown["url"]


def test_the_practice_settings_change_after_sudo_and_are_audited(
    manager: Any, manager_client: Any
) -> None:
    """E1: the idle lock is the practice's choice, within 1 to 20 minutes; the change is
    audited; without a recent confirmation the page asks for one first."""
    new = {
        "idle_timeout_minutes": 5,
        "session_lifetime_hours": 8,
        "password_renewal_days": 0,
        "inactive_days": 90,
        "retention_years": 30,  # J2
        "key_backup_expiry_days": 35,
    }
    saved = manager_client.post("/accounts/settings/", new)
    assert saved["Location"] == "/accounts/settings/"
    assert "Settings saved." in manager_client.get("/accounts/settings/").content.decode()
    assert PracticeSettings.objects.get().idle_timeout_minutes == 5
    (changed,) = events(resource="accounts.PracticeSettings")
    assert changed.actor == manager and '"idle_timeout_minutes":5' in changed.detail
    too_long = manager_client.post("/accounts/settings/", {**new, "idle_timeout_minutes": 30})
    assert too_long.status_code == 200 and PracticeSettings.objects.get().idle_timeout_minutes == 5
    session = manager_client.session
    session[flow.REAUTH_AT] = 0
    session.save()
    asked = manager_client.post("/accounts/settings/", {**new, "idle_timeout_minutes": 10})
    assert asked["Location"] == "/accounts/confirm/?next=/accounts/settings/"
    assert PracticeSettings.objects.get().idle_timeout_minutes == 5


def test_resetting_the_factors_of_an_account_with_nothing_left_to_prove_gives_no_link(
    manager: Any, manager_client: Any
) -> None:
    """B1: an account that was used, has no password and loses its factors cannot be handed
    over by a link: the reset is done and said, and no link is shown."""
    from django.utils import timezone

    used = make_user(Role.SECRETARY)  # no usable password (it signed in through its provider)
    used.last_login = timezone.now()  # as Django's login writes it: sealed again (C2)
    used.save(update_fields=["last_login"])
    manager_client.post("/accounts/users/action/", {"user": used.pk, "action": "reset-factors"})
    assert "sx_enrol_link" not in manager_client.session
    assert "Done." in _messages(manager_client)
    assert not services.list_factors(used)
