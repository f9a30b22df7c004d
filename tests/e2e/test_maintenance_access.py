"""Maintenance access for an outside technician in the browser (K2, B3, G1): the manager opens a
window after typing the password and a second factor again and hands over the link shown once;
the technician enrols a password and an authenticator like anyone, sees no patient page, and is
signed out as soon as the manager closes the window. Elements are found by data-testid, name or
URL, never by visible text (the interface is translated). Every person is fictitious (N3)."""

from __future__ import annotations

from typing import Any

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import sign_in
from tests.e2e.test_auth import (
    MANAGER,
    _confirm_if_asked,
    _finish_enrolment,
    _path,
    _set_password,
)

pytestmark = pytest.mark.e2e


def _fill_window(page: Any) -> None:
    page.fill("#id_technician", "Xavier Testdepanne")
    page.fill("#id_company", "Fictidépannage sprl")
    page.fill("#id_purpose", "Fictitious: update the server and check the backups.")
    page.fill("#id_equipment", "Secretum server")
    page.select_option("#id_supervisor", index=1)
    page.fill("#id_duration", "1:30")
    page.check("#id_not_workstation")
    page.check("input[name=consent][value=no]")
    with page.expect_navigation():
        page.click("[data-testid=open-window]")


def test_a_window_from_its_opening_to_its_early_closing(page: Any, fresh_page: Any) -> None:
    sign_in(page, MANAGER)
    page.goto("/maintenance/access/")
    _fill_window(page)
    if _path(page) == "/accounts/confirm/":  # sudo: then the form again
        _confirm_if_asked(page, MANAGER)
        _fill_window(page)
    assert _path(page) == "/maintenance/access/"
    link = page.locator("[data-testid=window-link] code").inner_text()
    username = page.locator("[data-testid=window-link] strong").inner_text()
    assert "/accounts/enrol/#" in link and username.startswith("tech-")
    page.reload()
    expect(page.locator("[data-testid=window-link]")).to_have_count(0)  # shown once

    # The technician: a password, then an authenticator (B3), then the charter.
    _set_password(fresh_page, link)
    secret = fresh_page.locator("[data-testid=totp-secret]").inner_text().strip()
    fresh_page.fill("#id_code", pyotp.TOTP(secret).now())
    with fresh_page.expect_navigation():
        fresh_page.click("form:has(#id_code) button[type=submit]")
    _finish_enrolment(fresh_page)
    expect(fresh_page.locator("[data-testid=role-ends]")).to_be_visible()
    expect(fresh_page.locator("[data-testid=record-intervention]")).to_be_visible()
    for url in ("/patients/", "/agenda/", "/maintenance/", "/accounts/users/"):
        response = fresh_page.goto(url)
        assert response is not None and response.status == 403, url

    # The manager closes it before its end: the technician's next page is the login page.
    page.goto("/maintenance/access/")
    with page.expect_navigation():
        page.click(f"[data-testid=close-{username}]")
    if _path(page) == "/accounts/confirm/":
        _confirm_if_asked(page, MANAGER)
        with page.expect_navigation():
            page.click(f"[data-testid=close-{username}]")
    expect(page.locator(f"[data-testid=close-{username}]")).to_have_count(0)
    fresh_page.goto("/")
    assert _path(fresh_page) == "/accounts/login/"
