"""The practice's OpenID Connect provider in a real browser (B3, B1, H2): a user links their
identity from "My account", then logs in through the provider, once with a strong second factor
there and once without (Secretum's own second factor follows). The provider is the test one of
tests/accounts/oidc_provider.py, on 127.0.0.1 over HTTPS; `secretum serve` trusts its
certificate through SECRETUM_OIDC_CA_FILE.

The session cookie is SameSite=Strict and the provider is another site: this is where the
continuation page (the callback's same-origin POST) is proven to work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.accounts.oidc_provider import EIDAS_HIGH, EIDAS_LOW, Login, Provider
from tests.e2e.conftest import PRACTITIONER, Server, running_server, totp_code

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    running = Provider(tmp_path_factory.mktemp("oidc-provider-e2e")).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def oidc_server(tmp_path_factory: pytest.TempPathFactory, provider: Provider) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("secretum-oidc")
    secret = provider.write_client_secret(folder / "oidc-client-secret")
    with running_server(
        folder,
        SECRETUM_OIDC_ISSUER=provider.issuer,
        SECRETUM_OIDC_CLIENT_ID=provider.client_id,
        SECRETUM_OIDC_CLIENT_SECRET_FILE=str(secret),
        SECRETUM_OIDC_CA_FILE=str(provider.ca_file),
        SECRETUM_OIDC_LABEL="Test eID",
        SECRETUM_OIDC_STRONG_ACR=EIDAS_HIGH,
        SECRETUM_OIDC_STRONG_AMR="hwk,sc",
    ) as running:
        provider.redirect_uris.add(f"{running.base_url}/accounts/oidc/callback/")
        yield running


@pytest.fixture
def oidc_page(browser: Any, oidc_server: Server) -> Iterator[Any]:
    # ignore_https_errors: the browser meets two self-signed certificates (Secretum's, the
    # provider's); Secretum itself verifies the provider's against the CA file.
    context = browser.new_context(ignore_https_errors=True, base_url=oidc_server.base_url)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _path(page: Any) -> str:
    return urlsplit(page.url).path


def _log_out(page: Any) -> None:
    with page.expect_navigation():
        page.click("form[action$='/accounts/logout/'] button")


def _log_in_with_password(page: Any) -> None:
    """Password and TOTP code, straight from the login page (conftest's sign_in first opens
    /healthz, whose cookieless /favicon.ico request can race the login form's CSRF cookie)."""
    page.goto("/accounts/login/")
    page.fill("#id_username", PRACTITIONER[0])
    page.fill("#id_password", PRACTITIONER[1])
    with page.expect_navigation():
        page.click("form:has(#id_username) button[type=submit]")
    assert _path(page) == "/accounts/login/verify/", page.url
    page.fill("#id_code", totp_code(PRACTITIONER[0]))
    with page.expect_navigation():
        page.click("form:has(#id_code) button[type=submit]")
    if _path(page) == "/accounts/charter/":
        with page.expect_navigation():
            page.click("form:has(input[name=version]) button[type=submit]")
    expect(page.locator("[data-testid=who]")).to_be_visible()


def _log_in_with_provider(page: Any, provider: Provider, login: Login) -> None:
    provider.next_login = login
    page.goto("/accounts/login/")

    def past_the_provider(url: str) -> bool:
        return not url.startswith(provider.issuer) and "/accounts/oidc/callback/" not in url

    # provider → callback page → its same-origin POST → wherever Secretum sends us
    with page.expect_navigation(url=past_the_provider):
        page.click("[data-testid=oidc-login]")


def test_link_then_log_in_through_the_provider(
    oidc_page: Any, oidc_server: Server, provider: Provider
) -> None:
    page = oidc_page
    _log_in_with_password(page)
    page.goto("/accounts/")
    page.click("[data-testid=oidc-link]")
    if _path(page) == "/accounts/confirm/":  # sudo, when the login is older than 5 minutes
        page.fill("#id_password", PRACTITIONER[1])
        page.fill("#id_code", totp_code(PRACTITIONER[0]))
        with page.expect_navigation():
            page.click("form[data-reauth-form] button[type=submit]")
    page.wait_for_url("**/accounts/oidc/link/confirm/")
    expect(page.locator("[data-testid=oidc-name]")).to_have_text("Quilline Zorbatova")
    with page.expect_navigation():
        page.click("button[name=decision][value=link]")
    assert _path(page) == "/accounts/"
    expect(page.locator("[data-testid=external-identity]")).to_contain_text("remove the link")
    _log_out(page)

    # A strong second factor at the provider: signed in, no Secretum code asked.
    _log_in_with_provider(page, provider, Login(acr=EIDAS_HIGH))
    assert _path(page) == "/", page.url
    expect(page.locator("[data-testid=who]")).to_be_visible()
    assert "code=" not in page.url
    _log_out(page)

    # Only a password at the provider: Secretum's own second factor follows (B3).
    _log_in_with_provider(page, provider, Login(acr=EIDAS_LOW, amr=["pwd"]))
    assert _path(page) == "/accounts/login/verify/", page.url
    page.fill("#id_code", totp_code(PRACTITIONER[0]))
    with page.expect_navigation():
        page.click("form:has(#id_code) button[type=submit]")
    assert _path(page) == "/"
    expect(page.locator("[data-testid=who]")).to_be_visible()
    _log_out(page)

    # An identity nobody linked: the same answer as a wrong password, no account made.
    _log_in_with_provider(page, provider, Login(subject="a-stranger", acr=EIDAS_HIGH))
    assert _path(page) == "/accounts/oidc/complete/"
    expect(page.locator("[data-error-summary]")).to_be_visible()  # the login form's, focused
    expect(page.locator("[data-error-summary]")).to_be_focused()
    page.goto("/")
    assert _path(page) == "/accounts/login/"

    # H2: no authorization code nor ID token in the server's log.
    log = oidc_server.log.read_text(encoding="utf-8", errors="replace")
    assert provider.issued_codes and provider.issued_tokens
    for secret in provider.issued_codes + provider.issued_tokens:
        assert secret not in log
