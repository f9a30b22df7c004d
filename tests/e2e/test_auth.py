"""Authentication in a real browser (B3, E1, A2): enrolment with TOTP and with a WebAuthn key
(Chromium's virtual authenticator), login with each factor, recovery codes, the idle lock, and
session revocation."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PRACTITIONER, Server, running_server, sign_in, totp_code

pytestmark = pytest.mark.e2e

MANAGER = ("gestion", "demo-manager-2026")
NEW_PASSWORD = "a fictitious first passphrase"


def _path(page: Any) -> str:
    return urlsplit(page.url).path


def _confirm_if_asked(page: Any, account: tuple[str, str]) -> None:
    """Sudo mode: the password and a second factor again."""
    if _path(page) == "/accounts/confirm/":
        page.fill("#id_password", account[1])
        page.fill("#id_code", totp_code(account[0]))
        with page.expect_navigation():
            page.click("form[data-reauth-form] button[type=submit]")


def _invite(page: Any, username: str) -> str:
    """The manager creates an account and gets its one-time enrolment link."""
    sign_in(page, MANAGER)
    page.goto("/accounts/users/")
    page.fill("#id_username", username)
    page.fill("#id_first_name", "Fictive")
    page.fill("#id_last_name", "Persona")
    page.select_option("#id_role", "practitioner")
    with page.expect_navigation():
        page.click("form[action$='/accounts/users/new/'] button[type=submit]")
    if _path(page) == "/accounts/confirm/":
        _confirm_if_asked(page, MANAGER)
        page.fill("#id_username", username)
        page.fill("#id_first_name", "Fictive")
        page.fill("#id_last_name", "Persona")
        page.select_option("#id_role", "practitioner")
        with page.expect_navigation():
            page.click("form[action$='/accounts/users/new/'] button[type=submit]")
    link = page.locator("[data-testid=enrolment-link] code").inner_text()
    assert "/accounts/enrol/#" in link
    return link


def _set_password(page: Any, link: str) -> None:
    page.goto(link)
    # The token came in the fragment and was moved into the form; the fragment is gone.
    expect(page.locator("#id_token")).not_to_have_value("")
    assert "#" not in page.url
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    with page.expect_navigation():
        page.click("form[data-enrol-form] button[type=submit]")
    assert _path(page) == "/accounts/factors/new/"


def _finish_enrolment(page: Any) -> list[str]:
    assert _path(page) == "/accounts/recovery-codes/"
    codes = page.locator("[data-testid=recovery-codes] code").all_inner_texts()
    assert len(codes) == 10
    with page.expect_navigation():
        page.click("a.button")
    if _path(page) == "/accounts/charter/":
        with page.expect_navigation():
            page.click("form:has(input[name=version]) button[type=submit]")
    assert _path(page) == "/"
    return codes


def _log_out(page: Any) -> None:
    with page.expect_navigation():
        page.click("form[action$='/accounts/logout/'] button")


def _password_step(page: Any, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("form:has(#id_username) button[type=submit]")
    assert _path(page) == "/accounts/login/verify/"


def _submit_code(page: Any, code: str) -> None:
    page.fill("#id_code", code)
    with page.expect_navigation():
        page.click("form:has(#id_code) button[type=submit]")


def test_enrolment_with_totp_then_login_and_recovery_code(page: Any, fresh_page: Any) -> None:
    link = _invite(page, "enrol.totp")
    _set_password(fresh_page, link)
    # Nothing else is served before a second factor exists.
    fresh_page.goto("/patients/")
    assert _path(fresh_page) == "/accounts/factors/new/"
    expect(fresh_page.locator("[data-testid=totp-qr] svg")).to_be_visible()
    secret = fresh_page.locator("[data-testid=totp-secret]").inner_text().strip()
    fresh_page.fill("#id_code", pyotp.TOTP(secret).now())
    with fresh_page.expect_navigation():
        fresh_page.click("form:has(#id_code) button[type=submit]")
    codes = _finish_enrolment(fresh_page)
    _log_out(fresh_page)

    # Login with the authenticator app (next step: the current one was used to enrol).
    _password_step(fresh_page, "enrol.totp", NEW_PASSWORD)
    _submit_code(fresh_page, pyotp.TOTP(secret).at(time.time() + 30))
    assert _path(fresh_page) == "/"
    _log_out(fresh_page)

    # Login with a recovery code, then the same code again is refused.
    _password_step(fresh_page, "enrol.totp", NEW_PASSWORD)
    _submit_code(fresh_page, codes[0])
    assert _path(fresh_page) == "/"
    _log_out(fresh_page)
    _password_step(fresh_page, "enrol.totp", NEW_PASSWORD)
    _submit_code(fresh_page, codes[0])
    assert _path(fresh_page) == "/accounts/login/verify/"
    expect(fresh_page.locator(".error")).to_be_visible()


def _virtual_authenticator(page: Any) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def test_enrolment_and_login_with_a_webauthn_key(page: Any, fresh_page: Any) -> None:
    link = _invite(page, "enrol.key")
    _virtual_authenticator(fresh_page)
    _set_password(fresh_page, link)
    fresh_page.fill("[data-webauthn-name]", "Virtual key")
    with fresh_page.expect_navigation():
        fresh_page.click("[data-webauthn=register]")
    _finish_enrolment(fresh_page)
    fresh_page.goto("/accounts/")
    expect(fresh_page.locator("[data-testid=factors] input[name=name]")).to_have_value(
        "Virtual key"
    )
    _log_out(fresh_page)

    _password_step(fresh_page, "enrol.key", NEW_PASSWORD)
    with fresh_page.expect_navigation():
        fresh_page.click("[data-webauthn=login]")
    assert _path(fresh_page) == "/"


def test_session_revocation(browser: Any, server: Server) -> None:
    contexts = [
        browser.new_context(ignore_https_errors=True, base_url=server.base_url) for _ in range(2)
    ]
    try:
        laptop, tablet = (c.new_page() for c in contexts)
        sign_in(laptop, PRACTITIONER, fresh=True)
        sign_in(tablet, PRACTITIONER, fresh=True)
        laptop.goto("/accounts/")
        other = laptop.locator("[data-testid=sessions] form[action$='/sessions/end/'] button")
        count = other.count()
        assert count >= 1
        for _ in range(count):
            with laptop.expect_navigation():
                laptop.locator(
                    "[data-testid=sessions] form[action$='/sessions/end/'] button"
                ).first.click()
        tablet.goto("/patients/")
        assert _path(tablet).startswith("/accounts/login/")
        laptop.goto("/patients/")
        assert _path(laptop) == "/patients/"
    finally:
        for context in contexts:
            context.close()


@pytest.fixture(scope="module")
def short_idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # A provider's ceiling on the idle lock, shortened for the test (E1).
    with running_server(tmp_path_factory.mktemp("idle"), SECRETUM_IDLE_TIMEOUT="6") as running:
        yield running


def test_idle_lock_hides_the_page_and_the_server_refuses(
    browser: Any, short_idle_server: Server
) -> None:
    context = browser.new_context(ignore_https_errors=True, base_url=short_idle_server.base_url)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, PRACTITIONER, fresh=True)
        patient = short_idle_server.patients[0]
        page.goto("/patients/")
        page.fill("input[name=q]", patient.niss)
        with page.expect_navigation():
            page.click("form.search button[type=submit]")
        with page.expect_navigation():
            page.locator("[data-testid=results] a[href^='/patients/']").first.click()
        chart_url = page.url
        expect(page.locator("[data-testid=identity]")).to_be_visible()
        # No activity: at the deadline the page empties itself and shows the lock screen.
        page.wait_for_url(re.compile(r"/accounts/unlock/"), timeout=15_000)
        expect(page.locator("[data-testid=lock-screen]")).to_be_visible()
        assert patient.family_name.upper() not in page.content().upper()
        # The server refuses the chart too (not only the page hiding it).
        response = page.request.get(chart_url, max_redirects=0)
        assert response.status == 302 and "/accounts/unlock/" in response.headers["location"]
        # Unlock: password and second factor again.
        page.fill("#id_password", PRACTITIONER[1])
        page.fill("#id_code", totp_code(PRACTITIONER[0]))
        with page.expect_navigation():
            page.click("form[data-reauth-form] button[type=submit]")
        assert urlsplit(page.url).path == urlsplit(chart_url).path
        expect(page.locator("[data-testid=identity]")).to_be_visible()
    finally:
        context.close()
