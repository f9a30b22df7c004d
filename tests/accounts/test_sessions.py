"""Sessions: idle lock (E1) on the server, absolute lifetime, unlock with both factors and a
new session identifier, sessions listed and revocable, disabled users cut off at once."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import pytest

from secretum.access.policy import Role
from secretum.accounts import flow, services
from secretum.accounts.models import UserSession
from tests.conftest import TEST_TOTP_SECRET, SecureClient, actor_for, client_for, events, make_user

PASSWORD = "fictitious correct horse 7"


@pytest.fixture
def doctor(db: Any) -> Any:
    return make_user(Role.PRACTITIONER, password=PASSWORD)


def _signed_in(user: Any) -> SecureClient:
    from secretum.accounts.models import Factor

    # Each login here spends the current code; a code works once, so the test forgets it.
    Factor.objects.filter(user=user).update(totp_last_step=0)
    client = SecureClient()
    first = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    client.post(first["Location"], {"code": pyotp.TOTP(TEST_TOTP_SECRET).now()})
    return client


def _age_session(client: SecureClient, **seconds_ago: int) -> None:
    session = client.session
    now = int(time.time())
    for key, ago in seconds_ago.items():
        session[getattr(flow, key)] = now - ago
    session.save()


def test_idle_session_is_locked_and_serves_no_patient_data(doctor: Any, patient: Any) -> None:
    """E1: after the idle timeout (15 min by default), the server serves nothing but unlock."""
    client = _signed_in(doctor)
    assert client.get(f"/patients/{patient.uid}/").status_code == 200
    _age_session(client, LAST_SEEN=15 * 60 + 1)
    response = client.get(f"/patients/{patient.uid}/")
    assert response.status_code == 302 and response["Location"] == "/accounts/unlock/"
    assert patient.family_name.upper() not in response.content.decode()
    ping = client.post("/accounts/ping/", HTTP_ACCEPT="application/json")
    assert ping.status_code == 401
    assert [e.action for e in events(action="lock")] == ["lock"]


def test_unlock_needs_password_and_second_factor_and_rotates_the_session(doctor: Any) -> None:
    client = _signed_in(doctor)
    _age_session(client, LAST_SEEN=20 * 60)
    client.get("/")
    before = client.session.session_key
    wrong = client.post("/accounts/unlock/", {"password": PASSWORD, "code": "000000"})
    assert wrong.status_code == 200 and client.get("/")["Location"] == "/accounts/unlock/"
    code = pyotp.TOTP(TEST_TOTP_SECRET).at(time.time() + 30)  # next step: the last was used
    done = client.post("/accounts/unlock/", {"password": PASSWORD, "code": code, "next": "/"})
    assert done["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.session.session_key != before
    assert "unlock" in [e.action for e in events()]


def test_ping_keeps_the_session_alive_and_tells_the_page_when_to_lock(doctor: Any) -> None:
    client = _signed_in(doctor)
    _age_session(client, LAST_SEEN=14 * 60)
    ping = client.post("/accounts/ping/", HTTP_ACCEPT="application/json")
    assert ping.json() == {"lock_in": 15 * 60}
    page = client.get("/").content.decode()
    assert 'data-lock-in="900"' in page or 'data-lock-in="899"' in page


def test_idle_timeout_follows_the_practice_setting(doctor: Any, settings: Any) -> None:
    current = services.practice_settings()
    current.idle_timeout_minutes = 5
    current.save()  # through Secretum: sealed (an UPDATE in the database alone is refused)
    client = _signed_in(doctor)
    _age_session(client, LAST_SEEN=5 * 60 + 1)
    assert client.get("/")["Location"] == "/accounts/unlock/"
    settings.SECRETUM_IDLE_TIMEOUT = 60  # a provider's ceiling wins when lower
    assert flow.idle_timeout_seconds() == 60


def test_absolute_lifetime_ends_the_session(doctor: Any) -> None:
    client = _signed_in(doctor)
    _age_session(client, AUTH_AT=10 * 3600 + 1)
    response = client.get("/")
    assert response["Location"].startswith("/accounts/login/")
    assert client.get("/").status_code == 302
    assert UserSession.objects.get(user=doctor).end_reason == "lifetime"


def test_user_sees_and_ends_other_sessions(doctor: Any) -> None:
    laptop, tablet = _signed_in(doctor), _signed_in(doctor)
    page = laptop.get("/accounts/").content.decode()
    assert page.count('name="session"') == 1  # the other session can be ended, not this one
    other = UserSession.objects.get(pk=tablet.session[flow.RECORD])
    laptop.post("/accounts/sessions/end/", {"session": other.pk})
    assert tablet.get("/").status_code == 302
    assert laptop.get("/").status_code == 200


def test_disabling_a_user_ends_their_sessions_at_once(doctor: Any) -> None:
    manager = make_user(Role.MANAGER)
    client = _signed_in(doctor)
    services.set_active(actor_for(manager), doctor.pk, False)
    assert client.get("/").status_code == 302
    assert UserSession.objects.get(user=doctor).end_reason == "disabled"


def test_manager_ends_all_sessions_of_a_user(doctor: Any) -> None:
    manager = make_user(Role.MANAGER)
    one, two = _signed_in(doctor), _signed_in(doctor)
    assert services.manager_end_sessions(actor_for(manager), doctor.pk) == 2
    assert one.get("/").status_code == 302 and two.get("/").status_code == 302


def test_sudo_mode_expires_after_five_minutes(db: Any) -> None:
    manager = make_user(Role.MANAGER)
    client = client_for(manager)
    _age_session(client, REAUTH_AT=5 * 60 + 5)
    response = client.post(
        "/accounts/users/new/",
        {"username": "x1", "first_name": "A", "last_name": "B", "role": "secretary"},
        HTTP_REFERER="https://testserver/accounts/users/",
    )
    assert response["Location"] == "/accounts/confirm/?next=/accounts/users/"
    _age_session(client, REAUTH_AT=10)
    response = client.post(
        "/accounts/users/new/",
        {"username": "x1", "first_name": "A", "last_name": "B", "role": "secretary"},
    )
    assert response["Location"] == "/accounts/users/"


def test_cookies_are_host_only_secure_httponly_strict(doctor: Any) -> None:
    client = SecureClient()
    client.get("/accounts/login/")
    csrf = client.cookies["__Host-secretum-csrf"]
    assert csrf["secure"] and csrf["httponly"] and csrf["samesite"] == "Strict"
    client = _signed_in(doctor)
    session = client.cookies["__Host-secretum-session"]
    assert session["secure"] and session["httponly"] and session["samesite"] == "Strict"
    assert session["path"] == "/" and not session["domain"]


# --- Django's contracts that Secretum's session store and signal receivers honour ------------


def test_flushing_a_session_never_saved_deletes_nothing(db: Any) -> None:
    """Django flushes sessions that were never saved (no key yet): nothing to delete, no row
    touched, no error."""
    from secretum.accounts.models import SessionData
    from secretum.accounts.sessions import SessionStore

    client_for(make_user(Role.SECRETARY))
    rows = SessionData.objects.count()
    fresh = SessionStore()
    fresh["x"] = 1
    fresh.flush()
    assert fresh.session_key is None and SessionData.objects.count() == rows


def test_django_logout_of_nobody_and_a_failed_authenticate_are_handled(db: Any) -> None:
    """D1: Django's own logout() of an anonymous request writes no event; its authenticate()
    (used by no page of Secretum) that fails is a login failure in the log, without the name
    typed (it may be a password typed in the wrong box)."""
    from django.contrib.auth import authenticate, logout
    from django.contrib.auth.models import AnonymousUser
    from django.test import RequestFactory

    from secretum.accounts.sessions import SessionStore

    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.7")
    request.session = SessionStore()
    request.user = AnonymousUser()
    logout(request)
    assert events() == []
    assert authenticate(request, username="my secret passphrase", password="x") is None
    (failed,) = events()
    assert (failed.action, failed.outcome, failed.source) == (
        "login-failed",
        "failure",
        "192.0.2.7",
    )
    assert "my secret passphrase" not in failed.detail + failed.actor_name
