"""Security keys and passkeys (B3), registered and used through the pages a browser uses, with a
real authenticator (tests/accounts/authenticator.py: ES256, real signatures) checked by
py_webauthn: what is accepted, and every assertion an attacker could bring that is refused,
counted like a wrong code, and audited."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from django.db import connection

from secretum.access.policy import Role
from secretum.accounts import flow, links, services
from secretum.accounts.models import Factor
from secretum.audit.models import TAMPERED
from tests.accounts.authenticator import Authenticator, b64url
from tests.accounts.test_attacks import PASSWORD, sign_in
from tests.conftest import SecureClient, actor_for, events, make_user

REFUSED = "This security key was not accepted."


@pytest.fixture
def doctor(db: Any) -> Any:
    return make_user(Role.PRACTITIONER, password=PASSWORD)


def _post_json(client: SecureClient, url: str, body: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def _sudo(client: SecureClient) -> None:
    session = client.session
    session[flow.REAUTH_AT] = int(time.time())
    session.save()


def register(client: SecureClient, key: Authenticator, name: str = "Blue key") -> Any:
    options = client.post("/accounts/factors/webauthn/options/").json()
    return _post_json(
        client, "/accounts/factors/webauthn/", {"credential": key.create(options), "name": name}
    )


@pytest.fixture
def key(doctor: Any) -> Authenticator:
    """The doctor's security key, registered from a signed-in session after sudo."""
    client = sign_in(doctor)
    _sudo(client)
    made = Authenticator()
    response = register(client, made)
    assert response.status_code == 200, response.content
    return made


def pending_login(user: Any) -> SecureClient:
    client = SecureClient()
    first = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert first["Location"].startswith("/accounts/login/verify/")
    return client


def key_login(client: SecureClient, key: Authenticator, **change: Any) -> Any:
    options = client.post("/accounts/login/webauthn/options/").json()
    assertion = key.get(options)
    assertion.update(change)
    return _post_json(client, "/accounts/login/webauthn/", assertion)


def _refused(response: Any, client: SecureClient, user: Any, failures: int = 1) -> None:
    assert response.status_code == 400 and response.json() == {"error": REFUSED}
    assert client.get("/").status_code == 302
    user.refresh_from_db()
    assert user.failed_logins == failures  # counted like a wrong code (B3)


# --- registering ------------------------------------------------------------------------------


def test_a_key_is_registered_after_sudo_and_audited(doctor: Any, key: Authenticator) -> None:
    factor = Factor.objects.get(user=doctor, kind="webauthn")
    assert factor.confirmed and bytes(factor.credential_id) == key.credential_id
    assert factor.name == "Blue key"
    (created,) = events(action="create", resource="accounts.Factor")
    assert created.actor == doctor and created.detail == '{"kind":"webauthn"}'


def test_the_options_exclude_the_keys_already_registered(doctor: Any, key: Authenticator) -> None:
    client = sign_in(doctor)
    _sudo(client)
    options = client.post("/accounts/factors/webauthn/options/").json()
    assert [c["id"] for c in options["excludeCredentials"]] == [b64url(key.credential_id)]
    assert options["rp"]["id"] == "testserver"
    # An opaque handle (WebAuthn §14.6.1): 16 keyed bytes, never the name or the database id.
    handle = base64.urlsafe_b64decode(options["user"]["id"] + "==")
    assert len(handle) == 16 and handle not in (str(doctor.pk).encode(), doctor.username.encode())


def test_a_second_key_needs_sudo(doctor: Any, key: Authenticator) -> None:
    client = sign_in(doctor)
    session = client.session
    session[flow.REAUTH_AT] = 0
    session.save()
    for url in ("/accounts/factors/webauthn/options/", "/accounts/factors/webauthn/"):
        refused = client.post(url, "{}", content_type="application/json")
        assert refused.status_code == 403 and "Confirm it is you first" in refused.json()["error"]
    assert Factor.objects.filter(user=doctor, kind="webauthn").count() == 1


def test_a_registration_from_another_origin_is_refused(doctor: Any) -> None:
    """B3: a key created on a phishing page (another origin) is not registered."""
    client = sign_in(doctor)
    _sudo(client)
    response = register(client, Authenticator(origin="https://secretum.example.invalid"))
    assert response.status_code == 400
    assert response.json() == {"error": "This security key could not be registered."}
    assert not Factor.objects.filter(user=doctor, kind="webauthn").exists()


def test_a_registration_without_its_challenge_is_refused(doctor: Any) -> None:
    """The challenge is used once: a registration replayed, or posted without asking for
    options, finds none."""
    client = sign_in(doctor)
    _sudo(client)
    made = Authenticator()
    options = client.post("/accounts/factors/webauthn/options/").json()
    credential = made.create(options)
    body = {"credential": credential, "name": "Key"}
    assert _post_json(client, "/accounts/factors/webauthn/", body).status_code == 200
    replayed = _post_json(client, "/accounts/factors/webauthn/", body)
    assert replayed.status_code == 400
    assert Factor.objects.filter(user=doctor, kind="webauthn").count() == 1


@pytest.mark.parametrize(
    ("body", "said"),
    [("[]", "JSON object"), ('{"name": "Key"}', "credential")],
    ids=["not-an-object", "no-credential"],
)
def test_a_malformed_registration_says_what_is_expected(doctor: Any, body: str, said: str) -> None:
    client = sign_in(doctor)
    _sudo(client)
    response = client.post("/accounts/factors/webauthn/", body, content_type="application/json")
    assert response.status_code == 400 and said in response.json()["error"]


def test_a_key_as_the_first_factor_enrols_the_account(db: Any) -> None:
    """B3: a new account registers a key at the enrol gate (no sudo: nothing to confirm yet),
    and is then asked for it at login."""
    manager = actor_for(make_user(Role.MANAGER))
    newcomer = services.create_user(manager, username="newkey", role=Role.SECRETARY)
    client = SecureClient()
    enrolled = client.post(
        "/accounts/enrol/",
        {"token": links.issue(manager, newcomer.pk)[1], "new_password1": PASSWORD,
         "new_password2": PASSWORD},
    )  # fmt: skip
    assert enrolled["Location"] == "/accounts/factors/new/"
    made = Authenticator()
    response = register(client, made)
    assert response.status_code == 200 and response.json()["next"] == "/accounts/recovery-codes/"
    newcomer.refresh_from_db()
    assert not newcomer.must_enrol_factor
    later = pending_login(newcomer)
    assert key_login(later, made).json() == {"next": "/"}


# --- logging in -------------------------------------------------------------------------------


def test_a_registered_key_completes_the_login(doctor: Any, key: Authenticator) -> None:
    client = pending_login(doctor)
    options = client.post("/accounts/login/webauthn/options/").json()
    assert key.allowed_by(options)
    response = _post_json(client, "/accounts/login/webauthn/", key.get(options))
    assert response.status_code == 200 and response.json() == {"next": "/"}
    assert client.get("/").status_code == 200
    assert client.session["sx_factor"] == "webauthn"
    factor = Factor.objects.get(user=doctor, kind="webauthn")
    assert factor.sign_count == key.counter and factor.last_used_at is not None


def test_an_assertion_for_another_origin_is_refused(doctor: Any, key: Authenticator) -> None:
    """B3: a phishing page relays our challenge; the key signs it for the page's origin."""
    key.origin = "https://secretum.example.invalid"
    client = pending_login(doctor)
    _refused(key_login(client, key), client, doctor)


def test_a_cloned_key_is_refused_by_its_counter(doctor: Any, key: Authenticator) -> None:
    """B3: a copy of the key lags behind the original's signature counter (WebAuthn §6.1.1)."""
    first = pending_login(doctor)
    assert key_login(first, key).status_code == 200
    key.counter -= 1  # the clone signs with the counter the original already used
    client = pending_login(doctor)
    _refused(key_login(client, key), client, doctor)


def test_a_replayed_assertion_is_refused(doctor: Any, key: Authenticator) -> None:
    """The challenge is used once: the same signed assertion posted again finds none."""
    client = pending_login(doctor)
    options = client.post("/accounts/login/webauthn/options/").json()
    assertion = key.get(options)
    thief = pending_login(doctor)
    _refused(_post_json(thief, "/accounts/login/webauthn/", assertion), thief, doctor)
    assert _post_json(client, "/accounts/login/webauthn/", assertion).status_code == 200
    again = pending_login(doctor)
    _refused(_post_json(again, "/accounts/login/webauthn/", assertion), again, doctor)


def test_an_assertion_without_asking_for_options_is_refused(
    doctor: Any, key: Authenticator
) -> None:
    client = pending_login(doctor)
    assertion = key.get({"challenge": b64url(b"a challenge nobody issued")})
    _refused(_post_json(client, "/accounts/login/webauthn/", assertion), client, doctor)


def test_another_key_is_refused(doctor: Any, key: Authenticator) -> None:
    client = pending_login(doctor)
    _refused(key_login(client, Authenticator()), client, doctor)


@pytest.mark.parametrize("raw_id", [None, "!!not base64!!", 7])
def test_a_malformed_assertion_is_refused(doctor: Any, key: Authenticator, raw_id: Any) -> None:
    client = pending_login(doctor)
    _refused(key_login(client, key, rawId=raw_id), client, doctor)


def test_a_key_altered_in_the_database_proves_nothing(doctor: Any, key: Authenticator) -> None:
    """B3: the attacker, holding the database, swaps in the public key of their own
    authenticator: its row no longer matches its seal; refused, and the auditor alerted."""
    attacker = Authenticator(credential_id=key.credential_id)
    cose = attacker._cose_key()
    with connection.cursor() as cur:
        cur.execute(
            "UPDATE accounts_factor SET public_key = %s WHERE user_id = %s AND kind = 'webauthn'",
            [cose, doctor.pk],
        )
    client = pending_login(doctor)
    _refused(key_login(client, attacker), client, doctor)
    factor = Factor.objects.get(user=doctor, kind="webauthn")
    tampered = events(outcome="failure", resource="accounts.Factor")
    assert tampered and {e.resource_ref for e in tampered} == {str(factor.pk)}
    assert all(TAMPERED in e.detail for e in tampered)


def test_a_login_that_expired_answers_401(doctor: Any, key: Authenticator) -> None:
    client = SecureClient()
    for url in ("/accounts/login/webauthn/options/", "/accounts/login/webauthn/"):
        response = client.post(url, "{}", content_type="application/json")
        assert response.status_code == 401 and "start again" in response.json()["error"]


# --- unlocking and confirming with the key ----------------------------------------------------


def _signed_in_with_key(doctor: Any, key: Authenticator) -> SecureClient:
    client = pending_login(doctor)
    assert key_login(client, key).status_code == 200
    return client


def _reauth(client: SecureClient, key: Authenticator, password: str = PASSWORD) -> Any:
    options = client.post("/accounts/reauth/webauthn/options/").json()
    return _post_json(
        client,
        "/accounts/reauth/webauthn/",
        {"password": password, "credential": key.get(options), "next": "/"},
    )


def test_the_key_and_the_password_unlock_a_locked_session(doctor: Any, key: Authenticator) -> None:
    client = _signed_in_with_key(doctor, key)
    session = client.session
    session[flow.LAST_SEEN] = int(time.time()) - 21 * 60
    session.save()
    assert client.get("/")["Location"] == "/accounts/unlock/"
    response = _reauth(client, key)
    assert response.status_code == 200 and response.json() == {"next": "/"}
    assert client.get("/").status_code == 200


def test_unlocking_with_a_wrong_password_or_another_key_is_refused(
    doctor: Any, key: Authenticator
) -> None:
    client = _signed_in_with_key(doctor, key)
    wrong = _reauth(client, key, password="not the password")
    assert wrong.status_code == 400 and wrong.json() == {"error": "Wrong password."}
    other = _reauth(client, Authenticator())
    assert other.status_code == 400 and other.json() == {"error": REFUSED}
    failed = events(action="login-failed")
    assert [json.loads(e.detail).get("factor") for e in failed][-1] == "webauthn"
    malformed = client.post("/accounts/reauth/webauthn/", "[]", content_type="application/json")
    assert malformed.status_code == 400 and "JSON object" in malformed.json()["error"]


def test_removing_the_key_is_said_and_audited_and_the_last_factor_stays(
    doctor: Any, key: Authenticator
) -> None:
    client = sign_in(doctor)
    _sudo(client)
    factor = Factor.objects.get(user=doctor, kind="webauthn")
    client.post("/accounts/factors/remove/", {"factor": factor.pk})
    assert "Second factor removed." in client.get("/accounts/").content.decode()
    (removed,) = events(action="delete", resource="accounts.Factor")
    assert removed.detail == '{"kind":"webauthn"}'
    last = Factor.objects.get(user=doctor)
    client.post("/accounts/factors/remove/", {"factor": last.pk})
    assert "your last second factor" in client.get("/accounts/").content.decode()
    assert Factor.objects.filter(pk=last.pk).exists()


def test_an_app_code_is_checked_past_a_key_registered_first(db: Any) -> None:
    """B3: an account whose first factor is a key, then an app: the app's codes work."""
    import pyotp

    user = make_user(Role.PRACTITIONER, password=PASSWORD, factor=False)
    client = SecureClient()
    client.force_login(user)
    session = client.session
    from secretum.accounts import sessions

    session[flow.RECORD] = sessions.open_record(user, "test", "127.0.0.1").pk
    session.save()
    assert register(client, Authenticator()).status_code == 200
    factor, secret = services.start_totp(user, "Phone")
    assert services.confirm_totp(user, factor.pk, pyotp.TOTP(secret).now())
    Factor.objects.filter(pk=factor.pk).update(totp_last_step=0)
    assert services.verify_code_factor(user, pyotp.TOTP(secret).now()) == "totp"
