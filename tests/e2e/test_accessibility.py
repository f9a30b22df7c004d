"""Accessibility in the browser (issue 16, WCAG 2.1 AA, EN 301 549), in Debian's Chromium.

- Errors and help tied to their fields (SC 1.3.1 info and relationships, SC 3.3.1 error
  identification, SC 3.3.2 labels or instructions, SC 2.4.2 page titled): after a refused submit
  the focus is on an error summary at the top of the form, the title starts with "Error:", and
  each invalid field's ``aria-describedby`` resolves to the visible text of its error.

Elements are found by role, id, name or data attribute, never by visible text (the interface is
translated); the pages are the demo's, with its fictitious patients (N3).
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import SECRETARY, sign_in

pytestmark = pytest.mark.e2e

# For each invalid field: its id, its aria-describedby ids, and for each of those whether the
# element exists, is visible, and its text.
_DESCRIBED = """() => [...document.querySelectorAll('[aria-invalid=true]')].map((el) => ({
  id: el.id,
  ids: (el.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean),
  targets: (el.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean).map((id) => {
    const t = document.getElementById(id);
    return t ? {id, visible: !!(t.offsetWidth || t.offsetHeight), text: t.innerText.trim()} : null;
  }),
}))"""


def _assert_refused_form(page: Any, fields: set[str]) -> list[dict[str, Any]]:
    """The state of a refused form: the summary focused, "Error:" first in the title, each
    invalid field described by its visible error (and its help text, when it has one)."""
    summary = page.locator("[data-error-summary]")
    expect(summary).to_have_count(1)
    expect(summary).to_be_focused()
    prefix = summary.get_attribute("data-error-summary")
    assert prefix and page.title().startswith(prefix + " "), page.title()
    described = page.evaluate(_DESCRIBED)
    assert {d["id"] for d in described} == fields
    for d in described:
        assert f"{d['id']}_error" in d["ids"], d
        for target in d["targets"]:
            assert target is not None, d  # every id points at an element of the page
            assert target["visible"] and target["text"], d
        error = next(t for t in d["targets"] if t["id"] == f"{d['id']}_error")
        # The summary lists the same error, with a link to its field.
        link = summary.locator(f"a[href='#{d['id']}']")
        expect(link).to_have_count(1)
        assert error["text"].splitlines()[0] in link.inner_text()
    return described


def test_a_refused_login_focuses_the_summary_and_ties_each_error_to_its_field(page: Any) -> None:
    """SC 3.3.1, 1.3.1, 2.4.2: an empty password, then an unknown account."""
    page.goto("/accounts/login/")
    expect(page.locator("[data-error-summary]")).to_have_count(0)
    assert not page.title().startswith("Error")
    page.fill("#id_username", "nobody-a11y")
    with page.expect_navigation():
        page.click("form:has(#id_username) button[type=submit]")
    _assert_refused_form(page, {"id_password"})
    expect(page.locator("#id_username")).not_to_have_attribute("aria-invalid", "true")

    # A wrong account is the form's error, not a field's: in the summary, focused, as text.
    page.fill("#id_username", "nobody-a11y")
    page.fill("#id_password", "not-the-password-2026")
    with page.expect_navigation():
        page.click("form:has(#id_username) button[type=submit]")
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.locator("li")).to_have_count(1)
    assert page.evaluate(_DESCRIBED) == []


def test_a_refused_patient_form_focuses_the_summary_and_ties_each_error_to_its_field(
    page: Any,
) -> None:
    """SC 3.3.1, 1.3.1, 3.3.2, 2.4.2: the secretary saves an empty identity form; the summary's
    links lead to each field; the asterisk of the required fields is explained once."""
    sign_in(page, SECRETARY)
    page.goto("/patients/new/")
    expect(page.locator(".required-note")).to_have_count(1)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    invalid = {el.get_attribute("id") for el in page.locator("[aria-invalid=true]").all()}
    assert {"id_family_name", "id_given_name", "id_birth_date"} <= invalid
    described = _assert_refused_form(page, invalid)
    # A field with a help text is described by both, its help first.
    with_help = [d for d in described if f"{d['id']}_helptext" in d["ids"]]
    for d in with_help:
        assert d["ids"] == [f"{d['id']}_helptext", f"{d['id']}_error"]
    # Following a link of the summary puts the focus in its field.
    first = page.locator("[data-error-summary] a").first
    target = first.get_attribute("href")
    first.click()
    expect(page.locator(str(target))).to_be_focused()
