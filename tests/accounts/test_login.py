"""Personal accounts (B1), Argon2id (B2), login and logout audited (D1), idle lock (E1)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from secretum.access.actor import Actor
from secretum.access.policy import Role
from secretum.accounts.services import create_user
from tests.conftest import SecureClient, events, make_user

PASSWORD = "fictitious correct horse 7"


@pytest.fixture
def doctor(db: Any) -> Any:
    return make_user(Role.PRACTITIONER, password=PASSWORD)


def test_password_is_hashed_with_argon2id(doctor: Any) -> None:
    assert doctor.password.startswith("argon2$argon2id$")


def test_login_and_logout_are_audited(doctor: Any) -> None:
    client = SecureClient()
    response = client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405  # logout is a POST, never a link
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302
    assert [e.action for e in events()] == ["login", "logout"]


def test_failure_message_does_not_reveal_whether_the_account_exists(doctor: Any) -> None:
    client = SecureClient()
    wrong = client.post("/accounts/login/", {"username": doctor.username, "password": "nope"})
    unknown = client.post("/accounts/login/", {"username": "nobody-here", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 200

    def message(r: Any) -> str:
        return r.content.decode().split('role="alert">')[1].split("<")[0]

    assert message(wrong) == message(unknown)
    failures = events(action="login-failed")
    assert len(failures) == 2 and all(e.outcome == "failure" for e in failures)
    # The attempted user name is not recorded (it may be a mistyped password).
    assert all("nobody-here" not in e.detail + e.actor_name for e in failures)


def test_idle_session_stops_serving(doctor: Any, settings: Any, monkeypatch: Any) -> None:
    """E1: after the idle timeout the server serves nothing more from that session."""
    import time

    settings.SECRETUM_IDLE_TIMEOUT = 600
    client = SecureClient()
    client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    assert client.get("/").status_code == 200
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 601)
    response = client.get("/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    monkeypatch.setattr(time, "time", lambda: now + 602)
    assert client.get("/").status_code == 302  # logged out, not just redirected once


def test_password_policy_refuses_short_and_common_passwords(db: Any) -> None:
    system = Actor.system()
    for weak in ("short-pw", "password1234"):
        with pytest.raises(ValidationError):
            create_user(system, username="newcomer", role=Role.SECRETARY, password=weak)
    user = create_user(
        system, username="newcomer", role=Role.SECRETARY, password="a long fictitious passphrase"
    )
    assert get_user_model().objects.get(username="newcomer").role == Role.SECRETARY
    assert events(action="create")[0].resource_ref == str(user.pk)


def test_a_new_account_without_a_role_holds_no_right(db: Any) -> None:
    from secretum.access.policy import Permission, allows

    user = get_user_model()(username="x")
    assert user.role == ""
    assert not any(allows(user.role, p) for p in Permission)
