"""Messages announced at load (issue 16; WCAG 4.1.3 status messages, EN 301 549 clause 9).

A ``role=alert`` (or ``role=status``) element already in the page when it loads, or one that
appears with its text, is not reliably read by screen readers: they announce the changes of a
live region they already know. So the page's own messages carry ``data-announce`` and no role,
``base.html`` has two live regions, empty in the HTML as served (``data-live="alert"`` and
``"status"``), and ``secretum.js`` fills them once the page has loaded. A refused form's error
summary takes the focus instead (``tabindex=-1``, ``test_accessibility.py``).

Proven in Chromium on the agenda asked for an impossible day (an error in the initial HTML), on
the second-factor page refusing a code (the summary focused, no alert in the served HTML), and
on the security-key button refused by the server (WebAuthn: the error appears with its text, and
is announced through the live region)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PRACTITIONER, SECRETARY, sign_in, totp_code

pytestmark = pytest.mark.e2e

_LIVE = re.compile(r'<([a-z]+)[^>]*\brole="(alert|status)"[^>]*>(.*?)</\1>', re.S)


def _assert_live_regions_empty_as_served(html: str) -> None:
    """No alert or status with text in the HTML as served; both live regions there, empty."""
    found = _LIVE.findall(html)
    assert [text for _, _, text in found if text.strip()] == []
    assert 'data-live="alert"' in html and 'data-live="status"' in html


def test_an_error_in_the_page_at_load_is_announced_after_load(page: Any) -> None:
    sign_in(page, SECRETARY)
    response = page.goto("/agenda/?day=not-a-day")
    assert response.status == 400
    _assert_live_regions_empty_as_served(response.text())
    shown = page.locator("main [data-announce=alert]")
    expect(shown).to_have_count(1)
    expect(shown).not_to_have_attribute("role", "alert")  # read once, through the live region
    said = " ".join(shown.inner_text().split())
    assert said
    expect(page.get_by_test_id("live-alert")).to_have_text(said)
    expect(page.get_by_test_id("live-alert")).to_have_attribute("role", "alert")
    expect(page.get_by_test_id("live-status")).to_have_text("")


def test_the_second_factor_page_focuses_its_error_summary(fresh_page: Any) -> None:
    page = fresh_page
    username, password = SECRETARY
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("form:has(#id_username) button[type=submit]")
    assert "/accounts/login/verify/" in page.url
    page.fill("#id_code", "12345")  # too short: refused by the form, no attempt counted
    with page.expect_response(lambda r: r.request.method == "POST") as refused:
        page.click("form:has(#id_code) button[type=submit]")
    _assert_live_regions_empty_as_served(refused.value.text())
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_have_attribute("tabindex", "-1")
    # Then the right code: the login completes (no pending login left behind).
    page.fill("#id_code", totp_code(username))
    with page.expect_navigation():
        page.click("form:has(#id_code) button[type=submit]")
    assert "/accounts/login/" not in page.url, page.url


def test_a_security_key_error_is_announced(page: Any) -> None:
    """The WebAuthn button's error (here the server refusing the options) is put in the live
    region, not only shown in a paragraph that appears with its text."""
    username, password = PRACTITIONER
    sign_in(page, PRACTITIONER)
    page.goto("/accounts/factors/new/")
    if "/accounts/confirm/" in page.url:  # sudo mode: the password and a code again
        page.fill("#id_password", password)
        page.fill("#id_code", totp_code(username))
        with page.expect_navigation():
            page.click("form[data-reauth-form] button[type=submit]")
    assert page.url.endswith("/accounts/factors/new/"), page.url
    page.route(
        "**/accounts/factors/webauthn/options/",
        lambda route: route.fulfill(
            status=400, content_type="application/json", body='{"error": "Refused (test)."}'
        ),
    )
    page.click("[data-webauthn=register]")
    expect(page.locator("[data-webauthn-error]")).to_have_text("Refused (test).")
    expect(page.locator("[data-webauthn-error]")).not_to_have_attribute("role", "alert")
    expect(page.get_by_test_id("live-alert")).to_have_text("Refused (test).")
