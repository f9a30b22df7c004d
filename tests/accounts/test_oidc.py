"""Login through the practice's OpenID Connect provider (B3, B1, H1, H2), against a real
provider run on 127.0.0.1 over HTTPS (tests/accounts/oidc_provider.py), audited (D1)."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from secretum.access.policy import Role
from secretum.accounts import external, flow, oidc, services
from secretum.accounts.models import ExternalIdentity
from secretum.audit.models import AuditEvent
from secretum.core.checks import _oidc_checks
from tests.accounts.oidc_provider import (
    EIDAS_HIGH,
    EIDAS_LOW,
    EIDAS_SUBSTANTIAL,
    Login,
    Provider,
)
from tests.conftest import TEST_TOTP_SECRET, SecureClient, client_for, events, make_user

PASSWORD = "fictitious correct horse 7"
CALLBACK = "https://testserver/accounts/oidc/callback/"
LOGIN_FAILED = "Login failed: check your user name and password."


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    running = Provider(tmp_path_factory.mktemp("oidc-provider")).start()
    running.redirect_uris.add(CALLBACK)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(autouse=True)
def configured(settings: Any, provider: Provider, tmp_path: Path) -> Iterator[Provider]:
    settings.SECRETUM_OIDC_ISSUER = provider.issuer
    settings.SECRETUM_OIDC_CLIENT_ID = provider.client_id
    settings.SECRETUM_OIDC_CLIENT_SECRET_FILE = str(
        provider.write_client_secret(tmp_path / "oidc-secret")
    )
    settings.SECRETUM_OIDC_CA_FILE = str(provider.ca_file)
    settings.SECRETUM_OIDC_LABEL = "Test eID"
    settings.SECRETUM_OIDC_STRONG_ACR = [EIDAS_SUBSTANTIAL, EIDAS_HIGH]
    settings.SECRETUM_OIDC_STRONG_AMR = ["hwk", "sc", "mfa"]
    provider.next_login = Login()
    provider.faults = {}
    oidc.reset_cache()
    yield provider
    oidc.reset_cache()


@pytest.fixture
def doctor(db: Any, provider: Provider) -> Any:
    """A practitioner with a password, an authenticator app, and a linked provider identity."""
    user = make_user(Role.PRACTITIONER, password=PASSWORD)
    external.link_external_identity(
        user,
        provider.issuer,
        external.external_subject_digest(provider.issuer, Login().subject),
    )
    return user


def _hidden_fields(html: str) -> dict[str, str]:
    return {
        name: unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', html)
    }


def back_from_provider(client: SecureClient, provider: Provider, authorize_url: str) -> Any:
    """The browser at the provider, then back at the callback page, then its POST."""
    assert authorize_url.startswith(provider.issuer + "/authorize?")
    back = provider.authorize(authorize_url)
    assert back.startswith(CALLBACK + "?")
    page = client.get(back.removeprefix("https://testserver"))
    assert page.status_code == 200
    return client.post("/accounts/oidc/complete/", _hidden_fields(page.content.decode()))


def oidc_login(client: SecureClient, provider: Provider, **login: Any) -> Any:
    provider.next_login = Login(**login)
    start = client.get("/accounts/oidc/login/?next=/patients/")
    assert start.status_code == 302, start.content
    return back_from_provider(client, provider, start["Location"])


def _failure_message(response: Any) -> str:
    """The page's alert, or the login form's error as its error summary lists it (WCAG 3.3.1)."""
    html = response.content.decode()
    if "data-error-summary" in html:
        return unescape(html.split("data-error-summary")[1].split("<li>")[1].split("<")[0])
    return unescape(html.split('data-announce="alert">')[1].split("<")[0])


def _signed_in(client: SecureClient) -> bool:
    return client.get("/").status_code == 200


# --- logging in ---------------------------------------------------------------------------------


def test_strong_acr_logs_in_without_a_secretum_factor(doctor: Any, provider: Provider) -> None:
    client = SecureClient()
    response = oidc_login(client, provider, acr=EIDAS_HIGH)
    assert response.status_code == 302 and response["Location"] == "/patients/"
    assert _signed_in(client)
    assert client.session["sx_factor"] == "oidc"
    step, login = events()[-2:]
    assert (step.action, step.actor, step.outcome) == ("authenticate", doctor, "success")
    assert '"factor":"oidc"' in step.detail and '"strong":true' in step.detail
    assert (login.action, login.actor) == ("login", doctor)
    link = ExternalIdentity.objects.get(user=doctor)
    assert link.last_used_at is not None


def test_strong_amr_counts_too(doctor: Any, provider: Provider) -> None:
    client = SecureClient()
    response = oidc_login(client, provider, acr=EIDAS_LOW, amr=["pwd", "hwk"])
    assert response["Location"] == "/patients/" and _signed_in(client)


@pytest.mark.parametrize(
    "login",
    [{"acr": EIDAS_LOW, "amr": ["pwd"]}, {}, {"acr": "", "amr": "hwk"}],
    ids=["low-acr-password-amr", "no-acr-no-amr", "malformed-amr"],
)
def test_a_weak_login_still_asks_for_secretums_second_factor(
    doctor: Any, provider: Provider, login: dict[str, Any]
) -> None:
    """B3: the provider stands for the password only; the second factor is Secretum's."""
    client = SecureClient()
    response = oidc_login(client, provider, **login)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/verify/?next=/patients/"
    assert not _signed_in(client)
    assert '"strong":false' in events(action="authenticate")[0].detail
    code = pyotp.TOTP(TEST_TOTP_SECRET).now()
    done = client.post(response["Location"], {"code": code})
    assert done["Location"] == "/patients/" and _signed_in(client)
    assert [e.action for e in events()][-2:] == ["authenticate", "login"]


@pytest.mark.parametrize(
    ("acr", "lands_on"), [(EIDAS_LOW, "/accounts/login/"), (EIDAS_HIGH, "/accounts/factors/new/")]
)
def test_a_provider_login_without_a_factor(
    db: Any, provider: Provider, acr: str, lands_on: str
) -> None:
    """B3: a provider login without a strong second factor stands for the password only: an
    account with no factor of its own is not signed in by it; a strong one meets the enrol gate."""
    user = make_user(Role.SECRETARY, password=PASSWORD, factor=False)
    external.link_external_identity(
        user, provider.issuer, external.external_subject_digest(provider.issuer, "new-person")
    )
    client = SecureClient()
    oidc_login(client, provider, subject="new-person", acr=acr)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(lands_on)


def test_a_new_session_identifier_after_the_provider(doctor: Any, provider: Provider) -> None:
    client = SecureClient()
    client.get("/accounts/oidc/login/")
    before = client.session.session_key
    oidc_login(client, provider, acr=EIDAS_HIGH)
    assert client.session.session_key != before


# --- what is refused, always with the same answer, audited -----------------------------------


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"rogue_key": True}, "id-token-signature"),
        ({"nonce": "another-nonce"}, "id-token-nonce"),
        ({"audience": "another-client"}, "id-token-audience"),
        ({"lifetime": -120}, "id-token-expired"),
        ({"issuer": "https://elsewhere.invalid"}, "id-token-issuer"),
        ({"issued_ago": 3600, "lifetime": 7200}, "id-token-issued-at"),
        ({"deny": True}, "provider-error"),
        ({"subject": "nobody-linked-this"}, "unknown-identity"),
        ({"subject": ""}, "id-token-subject"),
        ({"subject": "s" * 256}, "id-token-subject"),
        ({"kid": "a-key-never-published"}, "id-token-key-unknown"),
        ({"algorithm": "HS256"}, "id-token-algorithm"),
        ({"malformed": True}, "id-token-malformed"),
        ({"extra_audience": "another-client"}, "id-token-audience"),
    ],
)
def test_a_refused_login_is_audited_and_answers_like_a_wrong_password(
    doctor: Any, provider: Provider, fault: dict[str, Any], reason: str
) -> None:
    client = SecureClient()
    users_before = get_user_model().objects.count()
    response = oidc_login(client, provider, acr=EIDAS_HIGH, **fault)
    assert response.status_code == 200
    assert _failure_message(response) == LOGIN_FAILED
    wrong_password = SecureClient().post(
        "/accounts/login/", {"username": doctor.username, "password": "not it"}
    )
    assert _failure_message(response) == _failure_message(wrong_password)
    assert not _signed_in(client)
    assert get_user_model().objects.count() == users_before  # no auto-provisioning
    failure = events(action="login-failed")[0]
    assert failure.outcome == "failure"
    assert failure.detail == f'{{"factor":"oidc","reason":"{reason}"}}'


def test_a_replayed_state_or_code_is_refused(doctor: Any, provider: Provider) -> None:
    provider.next_login = Login(acr=EIDAS_HIGH)
    client = SecureClient()
    start = client.get("/accounts/oidc/login/")
    back = provider.authorize(start["Location"])
    fields = _hidden_fields(client.get(back.removeprefix("https://testserver")).content.decode())
    assert client.post("/accounts/oidc/complete/", fields)["Location"] == "/"
    client.post("/accounts/logout/")
    again = client.post("/accounts/oidc/complete/", fields)  # the same state, once more
    elsewhere = SecureClient().post("/accounts/oidc/complete/", fields)  # another browser
    for response in (again, elsewhere):
        assert response.status_code == 200 and _failure_message(response) == LOGIN_FAILED
    reasons = [e.detail for e in events(action="login-failed")]
    assert reasons == ['{"factor":"oidc","reason":"state-mismatch"}'] * 2
    assert not _signed_in(client)


@pytest.mark.parametrize("state", ["y" * 43, "état-forgé", ""])
def test_a_forged_callback_without_a_login_in_progress_is_refused(doctor: Any, state: str) -> None:
    client = SecureClient()
    client.get("/accounts/oidc/login/")  # a login in progress, whose state is not this one
    response = client.post("/accounts/oidc/complete/", {"code": "x" * 43, "state": state})
    assert _failure_message(response) == LOGIN_FAILED
    assert events(action="login-failed")[0].detail == (
        '{"factor":"oidc","reason":"state-mismatch"}'
    )


def test_the_response_must_name_our_issuer(doctor: Any, provider: Provider) -> None:
    """RFC 9207: a response carrying another issuer (mix-up attack) is refused."""
    provider.next_login = Login(acr=EIDAS_HIGH)
    client = SecureClient()
    back = provider.authorize(client.get("/accounts/oidc/login/")["Location"])
    fields = _hidden_fields(client.get(back.removeprefix("https://testserver")).content.decode())
    fields["iss"] = "https://another-provider.invalid"
    assert _failure_message(client.post("/accounts/oidc/complete/", fields)) == LOGIN_FAILED
    assert "response-issuer-mismatch" in events(action="login-failed")[0].detail


@pytest.mark.parametrize("state", ["disabled", "locked"])
def test_a_disabled_or_locked_account_is_refused(
    doctor: Any, provider: Provider, state: str
) -> None:
    if state == "disabled":
        change: dict[str, Any] = {"is_active": False}
    else:
        change = {"locked_until": timezone.now() + timezone.timedelta(minutes=10)}
    get_user_model().objects.filter(pk=doctor.pk).update(**change)
    client = SecureClient()
    response = oidc_login(client, provider, acr=EIDAS_HIGH)
    assert _failure_message(response) == LOGIN_FAILED and not _signed_in(client)
    failure = events(action="login-failed")[0]
    assert failure.actor == doctor and failure.detail.endswith(f'"reason":"{state}"}}')


def test_a_wrong_client_secret_is_refused_by_the_provider(
    doctor: Any, provider: Provider, tmp_path: Path
) -> None:
    from django.conf import settings

    wrong = tmp_path / "wrong-secret"
    wrong.write_text("not-the-secret")
    settings.SECRETUM_OIDC_CLIENT_SECRET_FILE = str(wrong)
    response = oidc_login(SecureClient(), provider, acr=EIDAS_HIGH)
    assert _failure_message(response) == LOGIN_FAILED
    assert "provider-refused" in events(action="login-failed")[0].detail


def test_tls_to_the_provider_is_verified(doctor: Any, settings: Any) -> None:
    """H1: without the test CA, the provider's self-signed certificate is refused."""
    settings.SECRETUM_OIDC_CA_FILE = ""
    response = SecureClient().get("/accounts/oidc/login/")
    assert response.status_code == 200
    assert "cannot be reached" in _failure_message(response)
    assert "provider-unreachable" in events(action="login-failed")[0].detail


def test_the_request_uses_pkce_s256_and_the_secret_travels_only_to_the_token_endpoint(
    doctor: Any,
    provider: Provider,
) -> None:
    client = SecureClient()
    start = client.get("/accounts/oidc/login/")
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert query["redirect_uri"] == [CALLBACK] and query["scope"] == ["openid"]
    assert "code_verifier" not in query and "client_secret" not in query
    transaction = client.session[oidc.TRANSACTION]
    assert oidc.pkce_challenge(transaction["verifier"]) == query["code_challenge"][0]
    provider.next_login = Login(acr=EIDAS_HIGH)
    back_from_provider(client, provider, start["Location"])
    sent = provider.token_requests[-1]
    assert sent["authorization"] == "Basic" and "client_secret" not in sent
    assert sent["code_verifier"] == transaction["verifier"]


# --- nothing secret kept or printed (H2) ------------------------------------------------------


def test_the_callback_page_sets_no_cookie_and_sends_no_referrer(
    doctor: Any, provider: Provider
) -> None:
    client = SecureClient()
    back = provider.authorize(client.get("/accounts/oidc/login/")["Location"])
    page = SecureClient().get(back.removeprefix("https://testserver"))  # no cookie, as a browser
    assert page.status_code == 200 and not page.cookies
    assert page["Referrer-Policy"] == "no-referrer"
    assert page["Cache-Control"] == "no-store"
    assert 'action="/accounts/oidc/complete/"' in page.content.decode()


def test_no_code_token_or_subject_in_logs_audit_or_database(
    doctor: Any, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    subject = Login().subject
    with caplog.at_level(logging.DEBUG):
        oidc_login(SecureClient(), provider, acr=EIDAS_HIGH)
        oidc_login(SecureClient(), provider, acr=EIDAS_HIGH, nonce="wrong")
    code, token = provider.issued_codes[-1], provider.issued_tokens[-1]
    audit = " ".join(
        f"{e.detail} {e.resource_ref} {e.actor_name} {e.resource}" for e in AuditEvent.objects.all()
    )
    for secret in (code, token, token.split(".")[1], provider.client_secret, subject):
        assert secret not in caplog.text
        assert secret not in audit
    stored = ExternalIdentity.objects.get(user=doctor)
    assert subject.encode() not in bytes(stored.subject_digest)
    assert subject not in stored.issuer


# --- linking: the owner, after sudo (B1) ------------------------------------------------------


def _sudo(client: SecureClient) -> None:
    session = client.session
    session[flow.REAUTH_AT] = int(time.time())
    session.save()


def test_linking_requires_sudo_then_the_owners_confirmation(db: Any, provider: Provider) -> None:
    user = make_user(Role.PRACTITIONER, password=PASSWORD)
    client = client_for(user)
    assert "Link my identity" in client.get("/accounts/").content.decode()
    refused = client.get("/accounts/oidc/link/")
    assert refused["Location"] == "/accounts/confirm/?next=/accounts/oidc/link/"
    _sudo(client)
    start = client.get("/accounts/oidc/link/")
    provider.next_login = Login(subject="to-be-linked", name="Quilline Zorbatova", acr=EIDAS_LOW)
    back = back_from_provider(client, provider, start["Location"])
    assert back["Location"] == "/accounts/oidc/link/confirm/"
    assert not ExternalIdentity.objects.exists()  # not before the owner says so
    page = client.get(back["Location"]).content.decode()
    assert "Quilline Zorbatova" in page and "Test eID" in page
    done = client.post(back["Location"], {"decision": "link"})
    assert done["Location"] == "/accounts/"
    link = ExternalIdentity.objects.get(user=user)
    assert bytes(link.subject_digest) == external.external_subject_digest(
        provider.issuer, "to-be-linked"
    )
    created = events(action="create", resource="accounts.ExternalIdentity")
    assert len(created) == 1 and created[0].actor == user and created[0].outcome == "success"
    # The new link logs in (a weak login: Secretum's second factor follows).
    other = SecureClient()
    response = oidc_login(other, provider, subject="to-be-linked", acr=EIDAS_LOW)
    assert response["Location"].startswith("/accounts/login/verify/")


def test_cancelling_the_confirmation_links_nothing(db: Any, provider: Provider) -> None:
    user = make_user(Role.PRACTITIONER, password=PASSWORD)
    client = client_for(user)
    _sudo(client)
    start = client.get("/accounts/oidc/link/")
    back = back_from_provider(client, provider, start["Location"])
    client.post(back["Location"], {"decision": "cancel"})
    assert not ExternalIdentity.objects.exists()


def test_the_confirmation_needs_sudo_too(db: Any, provider: Provider) -> None:
    user = make_user(Role.PRACTITIONER, password=PASSWORD)
    client = client_for(user)
    _sudo(client)
    back = back_from_provider(client, provider, client.get("/accounts/oidc/link/")["Location"])
    session = client.session
    session[flow.REAUTH_AT] = int(time.time()) - 3600
    session.save()
    refused = client.post(back["Location"], {"decision": "link"})
    assert refused["Location"].startswith("/accounts/confirm/")
    assert not ExternalIdentity.objects.exists()


def test_an_identity_links_to_one_account_only(doctor: Any, provider: Provider) -> None:
    """B1: the identity linked to the doctor cannot be linked to another account."""
    other = make_user(Role.SECRETARY, password=PASSWORD)
    client = client_for(other)
    _sudo(client)
    start = client.get("/accounts/oidc/link/")
    back = back_from_provider(client, provider, start["Location"])  # the doctor's subject
    done = client.post(back["Location"], {"decision": "link"})
    assert done["Location"] == "/accounts/"
    assert "already linked to another account" in client.get("/accounts/").content.decode()
    assert list(ExternalIdentity.objects.values_list("user", flat=True)) == [doctor.pk]
    refused = events(action="create", resource="accounts.ExternalIdentity", outcome="failure")
    assert len(refused) == 1 and refused[0].actor == other


def test_a_link_started_by_one_user_cannot_complete_for_another(
    db: Any, provider: Provider
) -> None:
    first = make_user(Role.PRACTITIONER, password=PASSWORD)
    client = client_for(first)
    _sudo(client)
    start = client.get("/accounts/oidc/link/")
    back = provider.authorize(start["Location"])
    fields = _hidden_fields(client.get(back.removeprefix("https://testserver")).content.decode())
    client.post("/accounts/logout/")
    response = client.post("/accounts/oidc/complete/", fields)
    assert _failure_message(response) == LOGIN_FAILED
    assert not ExternalIdentity.objects.exists()


def test_unlinking_requires_sudo(doctor: Any, provider: Provider) -> None:
    link = ExternalIdentity.objects.get(user=doctor)
    client = client_for(doctor)
    assert "remove the link" in client.get("/accounts/").content.decode()
    refused = client.post(
        "/accounts/oidc/unlink/", {"identity": link.pk}, HTTP_REFERER="https://testserver/accounts/"
    )
    assert refused["Location"].startswith("/accounts/confirm/")
    assert ExternalIdentity.objects.filter(pk=link.pk).exists()
    _sudo(client)
    assert client.post("/accounts/oidc/unlink/", {"identity": link.pk}).status_code == 302
    assert not ExternalIdentity.objects.exists()
    deleted = events(action="delete", resource="accounts.ExternalIdentity")
    assert len(deleted) == 1 and deleted[0].actor == doctor
    response = oidc_login(SecureClient(), provider, acr=EIDAS_HIGH)
    assert _failure_message(response) == LOGIN_FAILED


def test_a_factor_reset_by_the_manager_removes_the_link(doctor: Any) -> None:
    from tests.conftest import actor_for

    services.reset_factors(actor_for(make_user(Role.MANAGER)), doctor.pk)
    assert not ExternalIdentity.objects.filter(user=doctor).exists()


# --- configuration -------------------------------------------------------------------------------


def test_the_login_page_offers_the_provider_only_when_configured(db: Any, settings: Any) -> None:
    page = SecureClient().get("/accounts/login/").content.decode()
    assert "Log in with Test eID" in page and 'href="/accounts/oidc/login/?next=' in page
    settings.SECRETUM_OIDC_ISSUER = ""
    assert "Test eID" not in SecureClient().get("/accounts/login/").content.decode()
    for url in ("/accounts/oidc/login/", "/accounts/oidc/callback/?code=x&state=y"):
        assert SecureClient().get(url).status_code == 404
    assert SecureClient().post("/accounts/oidc/complete/", {"state": "y"}).status_code == 404


def test_check_passes_a_complete_configuration() -> None:
    assert [p.id for p in _oidc_checks()] == []


def test_check_flags_an_incomplete_or_unsafe_configuration(
    settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SECRETUM_OIDC_ISSUER = "http://provider.invalid"
    settings.SECRETUM_OIDC_CLIENT_ID = ""
    settings.SECRETUM_OIDC_CLIENT_SECRET_FILE = ""
    settings.SECRETUM_OIDC_CA_FILE = str(tmp_path / "missing.pem")
    settings.SECRETUM_OIDC_STRONG_ACR = settings.SECRETUM_OIDC_STRONG_AMR = []
    monkeypatch.setenv("SECRETUM_OIDC_CLIENT_SECRET", "in-the-environment")
    ids = [p.id for p in _oidc_checks()]
    assert ids == [
        "secretum.E201",
        "secretum.E202",
        "secretum.E203",
        "secretum.E204",
        "secretum.E206",
        "secretum.W201",
    ]
    shared = tmp_path / "shared-secret"
    shared.write_text("s")
    shared.chmod(0o644)
    settings.SECRETUM_OIDC_CLIENT_SECRET_FILE = str(shared)
    assert "secretum.E205" in [p.id for p in _oidc_checks()]


def test_check_is_silent_when_no_provider_is_configured(settings: Any) -> None:
    settings.SECRETUM_OIDC_ISSUER = ""
    assert _oidc_checks() == []


# --- a provider that misbehaves: refused, audited, never a server error (B3, H1, N2) ----------


def _refused_at_start(reason: str) -> None:
    response = SecureClient().get("/accounts/oidc/login/")
    assert response.status_code == 200
    assert "cannot be reached" in _failure_message(response)
    assert events(action="login-failed")[0].detail == f'{{"factor":"oidc","reason":"{reason}"}}'


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"discovery": {"issuer": "https://elsewhere.invalid"}}, "discovery-issuer-mismatch"),
        ({"discovery": {"token_endpoint": None}}, "discovery-incomplete"),
        ({"discovery": {"jwks_uri": "http://127.0.0.1:9/jwks"}}, "provider-not-https"),
        ({"discovery": {"code_challenge_methods_supported": ["plain"]}},
         "provider-lacks-pkce-s256"),
        ({"raw": {"/.well-known/openid-configuration": (
            302, b"", {"Location": "https://elsewhere.invalid/"})}}, "provider-refused"),
        ({"raw": {"/.well-known/openid-configuration": (
            200, b" " * (oidc.MAX_RESPONSE_BYTES + 1), {})}}, "provider-answer-too-large"),
        ({"raw": {"/.well-known/openid-configuration": (
            200, b"<html>maintenance</html>", {"Content-Type": "text/html"})}},
         "provider-answer-malformed"),
    ],
    ids=["issuer", "incomplete", "http", "no-s256", "redirect", "too-large", "not-json"],
)  # fmt: skip
def test_a_discovery_document_that_cannot_be_trusted_stops_the_login(
    doctor: Any, provider: Provider, fault: dict[str, Any], reason: str
) -> None:
    """Discovery §4.3, RFC 7636, H1: the provider's own document is checked before any
    browser is sent there; a redirect is not followed."""
    provider.faults = fault
    _refused_at_start(reason)


def _second_key(provider: Provider) -> dict[str, Any]:
    (key,) = Provider(provider.folder / "other").jwks()["keys"]
    return {**key, "kid": "another-key"}


@pytest.mark.parametrize(
    ("fault", "login", "reason"),
    [
        ({"jwks": {"keys": "none"}}, {}, "jwks-malformed"),
        ("two-keys", {"kid": None}, "id-token-key-ambiguous"),
        ("es256-key", {}, "id-token-key-unusable"),
        ({"token": {"access_token": "x", "token_type": "Bearer"}}, {},
         "token-answer-without-id-token"),
        ({"discovery": {"token_endpoint_auth_methods_supported": ["private_key_jwt"]}}, {},
         "provider-client-auth-unsupported"),
    ],
    ids=["jwks-not-a-list", "no-kid-two-keys", "key-for-another-algorithm", "no-id-token",
         "no-secret-method"],
)  # fmt: skip
def test_keys_and_token_answers_that_cannot_be_trusted_are_refused(
    doctor: Any, provider: Provider, fault: Any, login: dict[str, Any], reason: str
) -> None:
    """OpenID Connect Core §3.1.3.7, RFC 7517 §4.4: the key that checks the ID token is the one
    its header names, for the algorithm it names; a token answer without an ID token is no
    login."""
    if fault == "two-keys":
        fault = {"jwks": {"keys": [*provider.jwks()["keys"], _second_key(provider)]}}
    elif fault == "es256-key":
        (key,) = provider.jwks()["keys"]
        fault = {"jwks": {"keys": [{**key, "alg": "ES256"}]}}
    provider.faults = fault
    client = SecureClient()
    response = oidc_login(client, provider, acr=EIDAS_HIGH, **login)
    assert _failure_message(response) == LOGIN_FAILED and not _signed_in(client)
    assert events(action="login-failed")[0].detail == f'{{"factor":"oidc","reason":"{reason}"}}'


def test_a_provider_that_takes_the_secret_in_the_body_gets_it_there(
    doctor: Any, provider: Provider
) -> None:
    """RFC 6749 §2.3.1: client_secret_post when the provider offers only that."""
    provider.faults = {
        "discovery": {"token_endpoint_auth_methods_supported": ["client_secret_post"]}
    }
    client = SecureClient()
    assert oidc_login(client, provider, acr=EIDAS_HIGH)["Location"] == "/patients/"
    sent = provider.token_requests[-1]
    assert sent["authorization"] == "" and sent["client_secret"] == provider.client_secret


@pytest.mark.parametrize("secret", ["missing", "empty"])
def test_an_unreadable_client_secret_is_refused_before_the_token_request(
    doctor: Any, provider: Provider, settings: Any, tmp_path: Path, secret: str
) -> None:
    path = tmp_path / "no-secret"
    if secret == "empty":
        path.write_text("\n")
    settings.SECRETUM_OIDC_CLIENT_SECRET_FILE = str(path)
    requests_before = len(provider.token_requests)
    response = oidc_login(SecureClient(), provider, acr=EIDAS_HIGH)
    assert _failure_message(response) == LOGIN_FAILED
    assert "client-secret-unreadable" in events(action="login-failed")[0].detail
    assert len(provider.token_requests) == requests_before


def _at_the_callback(client: SecureClient, provider: Provider, url: str) -> dict[str, str]:
    back = provider.authorize(client.get(url)["Location"])
    return _hidden_fields(client.get(back.removeprefix("https://testserver")).content.decode())


def test_a_login_that_took_too_long_at_the_provider_is_refused(
    doctor: Any, provider: Provider
) -> None:
    provider.next_login = Login(acr=EIDAS_HIGH)
    client = SecureClient()
    fields = _at_the_callback(client, provider, "/accounts/oidc/login/")
    session = client.session
    session[oidc.TRANSACTION] = {
        **session[oidc.TRANSACTION],
        "at": int(time.time()) - oidc.TRANSACTION_SECONDS - 1,
    }
    session.save()
    response = client.post("/accounts/oidc/complete/", fields)
    assert _failure_message(response) == LOGIN_FAILED and not _signed_in(client)
    assert "transaction-expired" in events(action="login-failed")[0].detail


def test_a_callback_without_a_code_is_refused(doctor: Any, provider: Provider) -> None:
    client = SecureClient()
    fields = _at_the_callback(client, provider, "/accounts/oidc/login/")
    del fields["code"]
    assert _failure_message(client.post("/accounts/oidc/complete/", fields)) == LOGIN_FAILED
    assert "code-missing" in events(action="login-failed")[0].detail


def test_a_signed_in_user_is_not_sent_to_the_provider(doctor: Any) -> None:
    response = client_for(doctor).get("/accounts/oidc/login/?next=/patients/")
    assert response.status_code == 302 and response["Location"] == "/patients/"


def test_a_link_refused_by_the_provider_is_told_on_the_accounts_page(
    db: Any, provider: Provider
) -> None:
    user = make_user(Role.PRACTITIONER, password=PASSWORD)
    client = client_for(user)
    _sudo(client)
    provider.next_login = Login(deny=True)
    back = back_from_provider(client, provider, client.get("/accounts/oidc/link/")["Location"])
    assert back["Location"] == "/accounts/"
    assert "did not confirm your identity" in client.get("/accounts/").content.decode()
    assert not ExternalIdentity.objects.exists()
    failed = events(action="login-failed")
    assert failed[0].actor == user and "provider-error" in failed[0].detail


def test_a_link_while_the_provider_is_unreachable_is_told(db: Any, settings: Any) -> None:
    user = make_user(Role.PRACTITIONER, password=PASSWORD)
    client = client_for(user)
    _sudo(client)
    settings.SECRETUM_OIDC_CA_FILE = ""  # the provider's certificate is no longer trusted
    response = client.get("/accounts/oidc/link/")
    assert response["Location"] == "/accounts/"
    assert "cannot be reached" in client.get("/accounts/").content.decode()
    assert "provider-unreachable" in events(action="login-failed")[0].detail


def test_a_link_whose_account_was_altered_meanwhile_links_nothing(
    db: Any, provider: Provider
) -> None:
    """B1: while its owner is at the provider, the account's row is changed in the database:
    the session is nobody's any more, and the identity is linked to no one."""
    from django.db import connection

    user = make_user(Role.PRACTITIONER, password=PASSWORD)
    client = client_for(user)
    _sudo(client)
    fields = _at_the_callback(client, provider, "/accounts/oidc/link/")
    with connection.cursor() as cur:
        cur.execute("UPDATE accounts_user SET role = 'manager' WHERE id = %s", [user.pk])
    response = client.post("/accounts/oidc/complete/", fields)
    assert _failure_message(response) == LOGIN_FAILED
    assert not ExternalIdentity.objects.exists()
    assert "link-session-changed" in events(action="login-failed")[0].detail


ISSUER = "https://idp.example.invalid"


def _digest(subject: str) -> bytes:
    return external.external_subject_digest(ISSUER, subject)


def test_an_identity_linked_twice_is_refused_and_audited(db: Any) -> None:
    """B1: one identity per account and provider: the same identity again, or a second one at
    the same provider, is refused in words that say which, and each refusal is audited."""
    from django.core.exceptions import ValidationError

    user = make_user(Role.PRACTITIONER, password=PASSWORD)
    external.link_external_identity(user, ISSUER, _digest("mine"))
    with pytest.raises(ValidationError, match="already linked to your account"):
        external.link_external_identity(user, ISSUER, _digest("mine"))
    with pytest.raises(ValidationError, match="already linked to an identity at this provider"):
        external.link_external_identity(user, ISSUER, _digest("another of mine"))
    refused = events(resource="accounts.ExternalIdentity", outcome="failure")
    assert [e.detail for e in refused] == ['{"reason":"already-linked"}'] * 2
    assert ExternalIdentity.objects.filter(user=user).count() == 1


def test_an_identity_linked_at_the_same_moment_elsewhere_is_refused(db: Any) -> None:
    """B1: two accounts link the same identity at once; the database's constraint decides, and
    the second is told, not shown an error page."""
    from django.core.exceptions import ValidationError
    from django.db import connection

    first, second = make_user(Role.PRACTITIONER), make_user(Role.SECRETARY)
    raced = [False]

    def the_other_link_lands_first(execute: Any, sql: str, *rest: Any) -> Any:
        if sql.startswith('INSERT INTO "accounts_externalidentity"') and not raced[0]:
            raced[0] = True
            ExternalIdentity.objects.create(user=first, issuer=ISSUER, subject_digest=_digest("x"))
        return execute(sql, *rest)

    with connection.execute_wrapper(the_other_link_lands_first):
        with pytest.raises(ValidationError, match="already linked to another account"):
            external.link_external_identity(second, ISSUER, _digest("x"))
    assert raced[0] and not ExternalIdentity.objects.filter(user=second).exists()
    assert not events(resource="accounts.ExternalIdentity", outcome="success")
