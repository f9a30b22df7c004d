"""Login with two factors (B1, B2, B3), brute force, enumeration resistance, audited (D1)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pyotp
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from secretum.access.actor import Actor
from secretum.access.policy import Role
from secretum.accounts import services, throttle
from secretum.accounts.models import LoginThrottle
from tests.conftest import TEST_TOTP_SECRET, SecureClient, events, make_user

PASSWORD = "fictitious correct horse 7"


def code_at(offset_steps: int = 0) -> str:
    return pyotp.TOTP(TEST_TOTP_SECRET).at(time.time() + 30 * offset_steps)


def make_doctor() -> Any:
    """A practitioner with a password and an enrolled authenticator app (``login`` signs in)."""
    return make_user(Role.PRACTITIONER, password=PASSWORD)


@pytest.fixture
def doctor(db: Any) -> Any:
    return make_doctor()


def login(client: SecureClient, user: Any, code: str | None = None) -> Any:
    first = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert first.status_code == 302 and first["Location"].startswith("/accounts/login/verify/")
    return client.post(first["Location"], {"code": code or code_at()})


def test_password_is_hashed_with_argon2id(doctor: Any) -> None:
    assert doctor.password.startswith("argon2$argon2id$")


def test_password_alone_does_not_log_in(doctor: Any) -> None:
    """B3: a second factor is required for everyone."""
    client = SecureClient()
    client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    assert client.get("/").status_code == 302
    assert client.get("/patients/").status_code == 302


def test_login_with_totp_then_logout_is_audited(doctor: Any) -> None:
    client = SecureClient()
    response = login(client, doctor)
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405  # logout is a POST, never a link
    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302
    assert [e.action for e in events()] == ["login", "logout"]


def test_a_totp_code_works_once(doctor: Any) -> None:
    code = code_at()
    assert login(SecureClient(), doctor, code)["Location"] == "/"
    again = login(SecureClient(), doctor, code)
    assert again.status_code == 200 and "not valid" in again.content.decode()
    (failure,) = events(action="login-failed")
    assert failure.detail == '{"factor":"totp"}' and failure.actor == doctor


def test_recovery_code_logs_in_once(doctor: Any) -> None:
    codes = services.new_recovery_codes(doctor)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert login(SecureClient(), doctor, codes[3])["Location"] == "/"
    assert services.remaining_recovery_codes(doctor) == 9
    reused = login(SecureClient(), doctor, codes[3])
    assert reused.status_code == 200
    assert events(action="login-failed")[0].detail == '{"factor":"recovery-code"}'


def test_recovery_codes_are_stored_hashed(doctor: Any) -> None:
    from secretum.accounts.models import RecoveryCode

    codes = services.new_recovery_codes(doctor)
    stored = b"".join(bytes(r.code_hash) for r in RecoveryCode.objects.filter(user=doctor))
    for code in codes:
        assert code.replace("-", "").encode() not in stored


def test_new_session_identifier_at_login(doctor: Any) -> None:
    client = SecureClient()
    client.get("/accounts/login/")
    client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    pending_key = client.session.session_key
    client.post("/accounts/login/verify/", {"code": code_at()})
    assert client.session.session_key != pending_key


def _failure_message(response: Any) -> str:
    """The form's error, as its error summary lists it (issue 16, WCAG 3.3.1)."""
    summary = response.content.decode().split("data-error-summary")[1]
    return summary.split("<li>")[1].split("<")[0]


def test_failure_does_not_reveal_whether_the_account_exists(doctor: Any) -> None:
    client = SecureClient()
    wrong = client.post("/accounts/login/", {"username": doctor.username, "password": "nope"})
    unknown = client.post("/accounts/login/", {"username": "nobody-here", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 200
    assert _failure_message(wrong) == _failure_message(unknown)
    failures = events(action="login-failed")
    assert len(failures) == 2 and all(e.outcome == "failure" for e in failures)
    assert all("nobody-here" not in e.detail + e.actor_name for e in failures)


def test_disabled_account_fails_like_a_wrong_password(doctor: Any) -> None:
    get_user_model().objects.filter(pk=doctor.pk).update(is_active=False)
    client = SecureClient()
    disabled = client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    unknown = SecureClient().post(
        "/accounts/login/", {"username": "ghost-user", "password": PASSWORD}
    )
    assert disabled.status_code == unknown.status_code == 200
    assert _failure_message(disabled) == _failure_message(unknown)


def test_growing_delays_then_lockout(doctor: Any, monkeypatch: Any) -> None:
    """After 3 failures a growing delay; after 10 consecutive failures the account locks."""
    clock = [timezone.now()]
    monkeypatch.setattr(services, "_now", lambda: clock[0])
    monkeypatch.setattr(throttle, "_now", lambda: clock[0])
    for attempt in range(1, 11):
        check = services.check_password_step(doctor.username, "wrong", f"10.0.0.{attempt}")
        assert check.user is None
        clock[0] += dt.timedelta(minutes=6)  # past any delay
    doctor.refresh_from_db()
    assert doctor.locked_until is not None and doctor.locked_until > clock[0]
    assert len(events(action="lockout")) == 1
    # Even the right password is refused while locked, with the same answer.
    assert services.check_password_step(doctor.username, PASSWORD, "10.0.0.99").user is None
    clock[0] += dt.timedelta(minutes=16)
    assert services.check_password_step(doctor.username, PASSWORD, "10.0.0.99").user == doctor
    assert doctor in [u for u in get_user_model().objects.all()]


def test_throttle_is_the_same_for_unknown_names(doctor: Any) -> None:
    for name in (doctor.username, "no-such-person"):
        waits = []
        for _ in range(5):
            waits.append(
                services.check_password_step(name, "wrong", "192.0.2.1" + name[:1]).wait_seconds
            )
        assert waits[:3] == [0, 0, 0] and waits[3] > 0, name


def test_throttled_answer_is_429_for_any_name(doctor: Any) -> None:
    statuses = {}
    for name in (doctor.username, "nobody-at-all"):
        client = SecureClient(REMOTE_ADDR=f"198.51.100.{len(name)}")
        for _ in range(4):
            response = client.post("/accounts/login/", {"username": name, "password": "x"})
        statuses[name] = response.status_code
    assert set(statuses.values()) == {429}
    assert LoginThrottle.objects.count() == 4  # two names, two addresses: keyed, never in clear


def test_password_policy(db: Any, settings: Any) -> None:
    """B2: ≥ 12 characters, ≤ 128 accepted, no composition rule, common passwords, the user's
    own names and the practice's name refused."""
    settings.PRACTICE_NAME = "Cabinet Lindenhof"
    system = Actor.system()
    for weak in ("short-pw", "password1234", "lindenhof-forever-2026", "x" * 129):
        with pytest.raises(ValidationError):
            services.create_user(
                system,
                username="newcomer",
                role=Role.SECRETARY,
                password=weak,
                first_name="Quirina",
                last_name="Bolvaard",
            )
    with pytest.raises(ValidationError):
        services.create_user(
            system,
            username="newcomer",
            role=Role.SECRETARY,
            password="quirina bolvaard",
            first_name="Quirina",
            last_name="Bolvaard",
        )
    user = services.create_user(
        system,
        username="newcomer",
        role=Role.SECRETARY,
        password="all lowercase words are fine " + "y" * 99,
    )
    assert get_user_model().objects.get(username="newcomer").role == Role.SECRETARY
    # Each refused password is a failed creation, audited by the gate; then the account (G1).
    created = events(action="create", resource="accounts.User")
    assert [e.outcome for e in created] == ["failure"] * (len(created) - 1) + ["success"]
    assert {e.detail for e in created[:-1]} == {'{"error":"ValidationError"}'}
    assert created[-1].resource_ref == str(user.pk)


def test_last_five_passwords_cannot_be_reused(doctor: Any) -> None:
    history = [f"fictitious passphrase number {n}" for n in range(5)]
    for password in history:
        services.change_password(doctor, password)
    for old in [PASSWORD, *history]:
        with pytest.raises(ValidationError, match="last 5"):
            services.change_password(doctor, old)
    services.change_password(doctor, "a fresh fictitious passphrase")


def test_a_new_account_without_a_role_holds_no_right(db: Any) -> None:
    from secretum.access.policy import Permission, allows

    user = get_user_model()(username="x")
    assert user.role == ""
    assert not any(allows(user.role, p) for p in Permission)


def test_managers_are_told_of_locked_accounts(doctor: Any) -> None:
    from tests.conftest import client_for

    manager = make_user(Role.MANAGER)
    assert "locked-accounts" not in client_for(manager).get("/").content.decode()
    get_user_model().objects.filter(pk=doctor.pk).update(
        locked_until=timezone.now() + dt.timedelta(minutes=10)
    )
    page = client_for(manager).get("/").content.decode()
    assert "locked-accounts" in page and doctor.username in page


def test_second_factor_guessing_locks_the_account(doctor: Any) -> None:
    """Knowing the password does not allow trying codes without end: the failures count
    towards the lock-out, and only a full login resets the count."""
    client = SecureClient()
    tries = 0
    for _ in range(10):
        first = client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
        if first.status_code != 302:
            break
        client.post(first["Location"], {"code": "000000"})
        tries += 1
        LoginThrottle.objects.all().delete()  # the delay is tested elsewhere
    doctor.refresh_from_db()
    assert doctor.locked_until is not None and tries == 10
    assert len(events(action="lockout")) == 1
    assert len([e for e in events(action="login-failed") if "totp" in e.detail]) == 10


def test_the_demo_code_command_serves_demo_accounts_only(db: Any) -> None:
    """`secretum demo_code USER`: the current code of a demo authenticator, for demo accounts
    (made by `secretum demo`); any other account is refused."""
    import io

    import pyotp
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from secretum.accounts.models import Factor

    demo = make_user(Role.SECRETARY)
    Factor.objects.filter(user=demo).update(is_demo=True)
    out = io.StringIO()
    call_command("demo_code", demo.username, stdout=out)
    assert out.getvalue().strip() == pyotp.TOTP(TEST_TOTP_SECRET).now()
    with pytest.raises(CommandError, match="no demo authenticator"):
        call_command("demo_code", make_user(Role.SECRETARY).username)


def test_the_code_page_asks_and_refuses_a_malformed_code_without_counting_it(
    doctor: Any,
) -> None:
    """B3, N2: after the password, the code page is shown; a code that is no code at all (not
    6 ASCII digits nor a recovery code's shape) is refused by its form, said plainly, and counts
    as no attempt; a wrong code of the right shape counts."""
    client = SecureClient()
    first = client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    page = client.get(first["Location"])
    assert page.status_code == 200 and 'name="code"' in page.text
    before = len(events(action="login-failed"))
    refused = client.post(first["Location"], {"code": "²²²²²²"})
    assert refused.status_code == 200 and "Type the 6 digits your authenticator" in refused.text
    assert len(events(action="login-failed")) == before
    doctor.refresh_from_db()
    assert doctor.failed_logins == 0
    client.post(first["Location"], {"code": "000000"})
    doctor.refresh_from_db()
    assert doctor.failed_logins == 1


def test_a_throttled_security_key_is_told_to_wait(doctor: Any) -> None:
    """B3: a security key is throttled like a code: while the account's delay runs, the
    browser's assertion is not even looked at (429, the seconds to wait)."""
    client = SecureClient()
    first = client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    for _ in range(3):  # wrong codes until the account's delay starts
        client.post(first["Location"], {"code": "000000"})
    answer = client.post("/accounts/login/webauthn/", "{}", content_type="application/json")
    assert answer.status_code == 429
    assert "Too many attempts: wait" in answer.json()["error"]
    assert SecureClient().post("/accounts/login/webauthn/").status_code == 401  # no login begun
