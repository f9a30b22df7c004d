"""The ways into a medical record in the browser (C1, C2, D2): a practitioner without a care
relationship sees the identity and the two ways in, opens the record in an emergency with a
reason, and the auditor is alerted and reviews the access; or the practitioner declares "I take
care of this patient".

The demo gives each patient one demo practitioner as their doctor; the patients used here are
found through the pages, as a user would: those whose page shows the care-needed section to the
practitioner signed in. Elements are found by data-testid, name or URL, never by visible text
(the interface is translated). Every person and patient is the demo's fictitious one (N3).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PRACTITIONER, DemoPatient, sign_in
from tests.e2e.test_browser import open_chart, patient_uid

pytestmark = pytest.mark.e2e

AUDITOR = ("dpo", "demo-auditeur-2026")
# Typed by the practitioner and the auditor: fictitious, and no medical detail (the auditor
# reads the reason).
SHORT_REASON = "Urgent"
REASON = "Replacing the patient's doctor, who is on leave this week"
COMMENT = "No emergency and no replacement on that day: reminded of the rule."
# The practitioner as a page names them: "dr.martin" or "Claire Martin".
MARTIN = re.compile("martin", re.IGNORECASE)
# A blood pressure as the chart shows it: every demo chart holds one (demo._chart).
BLOOD_PRESSURE = re.compile(r"(?<![\d/])\d{2,3}/\d{2,3}(?![\d/])")  # not a date


def _path(page: Any) -> str:
    return urlsplit(page.url).path


def _patients_without_care(
    page: Any, patients: tuple[DemoPatient, ...], wanted: int
) -> list[tuple[DemoPatient, str]]:
    """The first ``wanted`` patients whose page offers the ways in, with their page's URL."""
    found = []
    for patient in patients:
        url = open_chart(page, patient)
        if page.locator("[data-testid=care-needed]").count():
            found.append((patient, url))
            if len(found) == wanted:
                return found
    raise AssertionError(
        f"{PRACTITIONER[0]} takes care of all but {len(found)} demo patients: the demo should "
        "give some patients another doctor"
    )


def _expect_record_closed(page: Any) -> None:
    """The identity and the two ways in; no medical value, no way to write one."""
    expect(page.locator("[data-testid=identity]")).to_be_visible()
    expect(page.locator("[data-testid=care-needed]")).to_be_visible()
    expect(page.locator("[data-testid=declare-care]")).to_be_visible()
    expect(page.locator("[data-testid=break-glass]")).to_be_visible()
    expect(page.locator("[data-testid=chart]")).to_have_count(0)
    expect(page.locator("[data-testid=observations]")).to_have_count(0)
    expect(page.locator("[data-testid=emergency-banner]")).to_have_count(0)
    expect(page.locator('a[href*="/clinical/"]')).to_have_count(0)
    assert not BLOOD_PRESSURE.search(page.inner_text("main")), "a blood pressure is shown"


def _review(page: Any, reason: str, justified: str, comment: str) -> None:
    grant = page.locator("[data-testid=grant]").filter(has_text=reason)
    expect(grant).to_have_count(1)
    grant.locator(f"input[name=justified][value={justified}]").check()
    grant.locator("textarea[name=comment]").fill(comment)
    with page.expect_navigation():
        grant.locator("button[type=submit]").click()
    assert _path(page) == "/access/reviews/", page.url


def test_emergency_access_then_the_auditor_reviews_it(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    sign_in(page, PRACTITIONER)
    [(patient, chart_url)] = _patients_without_care(page, demo_patients, 1)
    uid = patient_uid(chart_url)
    expect(page.locator("[data-testid=identity]")).to_contain_text(patient.niss)
    _expect_record_closed(page)
    closed_page = page.inner_text("main")

    # Break the glass: the form, a reason too short first.
    with page.expect_navigation():
        page.click("[data-testid=break-glass]")
    glass_path = f"/access/glass/{uid}/"
    assert _path(page) == glass_path, page.url
    form = page.locator("[data-testid=glass-form]")
    form.locator("input[name=category][value=replacement]").check()
    form.locator("textarea[name=reason]").fill(SHORT_REASON)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    # Refused: the same form, what was typed kept, one error beside the reason naming the minimum.
    assert _path(page) == glass_path, page.url
    form = page.locator("[data-testid=glass-form]")
    expect(form.locator("textarea[name=reason]")).to_have_value(SHORT_REASON)
    expect(form.locator("input[name=category][value=replacement]")).to_be_checked()
    errors = form.locator(".field.invalid .error")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("10")
    expect(form.locator(".field.invalid textarea[name=reason]")).to_have_count(1)
    expect(page.locator("[data-testid=chart]")).to_have_count(0)

    # A valid reason: back on the patient's page, with the chart and the emergency banner.
    form.locator("textarea[name=reason]").fill(REASON)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert page.url == chart_url
    expect(page.locator(".message.warning")).to_have_count(1)
    banner = page.locator("[data-testid=emergency-banner]")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(REASON)
    expect(banner).to_contain_text(re.compile(r"\d{2}:\d{2}"))
    expect(page.locator("[data-testid=care-needed]")).to_have_count(0)
    expect(page.locator("[data-testid=chart]")).to_be_visible()
    observations = page.locator("[data-testid=observations]")
    expect(observations).to_contain_text(BLOOD_PRESSURE)
    # The value now shown was not on the closed page.
    pressure = BLOOD_PRESSURE.search(observations.inner_text())
    assert pressure is not None and pressure.group(0) not in closed_page
    # Reloaded, the chart stays open while the access runs (read again by the gate).
    page.reload()
    expect(page.locator("[data-testid=emergency-banner]")).to_be_visible()
    expect(page.locator("[data-testid=chart]")).to_be_visible()
    page.context.clear_cookies()

    # The auditor: the alert, then the access waiting for a review.
    sign_in(page, AUDITOR)
    page.goto("/audit/alerts/")
    alert = page.locator("[data-testid=alerts] tr[data-kind=break-the-glass]").filter(
        has_text=REASON
    )
    expect(alert).to_have_count(1)
    expect(alert).to_have_attribute("data-severity", "high")
    expect(alert).to_contain_text(MARTIN)
    expect(alert.locator(f"a[href='/audit/report/{uid}/']")).to_have_count(1)

    with page.expect_navigation():
        page.click("[data-testid=nav-reviews]")
    assert _path(page) == "/access/reviews/", page.url
    grant = page.locator("[data-testid=grant]").filter(has_text=REASON)
    expect(grant).to_have_count(1)
    expect(grant).to_contain_text(MARTIN)

    # Not justified without a comment: refused, a clear message, the access still waits.
    _review(page, REASON, "no", "")
    expect(page.locator(".message.error")).to_have_count(1)
    expect(page.locator(".message.success")).to_have_count(0)
    expect(page.locator("[data-testid=grant]").filter(has_text=REASON)).to_have_count(1)
    expect(page.locator("[data-testid=reviewed]")).not_to_contain_text(REASON)

    # With a comment: recorded, out of the queue (where the session's other tests may have left
    # accesses of their own: an archived record opened with a reason, J1), the judgement listed.
    _review(page, REASON, "no", COMMENT)
    expect(page.locator(".message.success")).to_have_count(1)
    expect(page.locator(".message.error")).to_have_count(0)
    expect(page.locator("[data-testid=grant]").filter(has_text=REASON)).to_have_count(0)
    reviewed = page.locator("[data-testid=reviewed] tbody tr").filter(has_text=REASON)
    expect(reviewed).to_have_count(1)
    expect(reviewed).to_contain_text(COMMENT)
    expect(reviewed).to_contain_text(MARTIN)


def test_i_take_care_of_this_patient_opens_the_chart(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    sign_in(page, PRACTITIONER)
    [(_, chart_url)] = _patients_without_care(page, demo_patients, 1)
    _expect_record_closed(page)

    with page.expect_navigation():
        page.click("[data-testid=declare-care]")
    assert page.url == chart_url
    expect(page.locator(".message.success")).to_have_count(1)
    expect(page.locator("[data-testid=care-needed]")).to_have_count(0)
    expect(page.locator("[data-testid=emergency-banner]")).to_have_count(0)
    expect(page.locator("[data-testid=chart]")).to_be_visible()
    expect(page.locator("[data-testid=observations]")).to_contain_text(BLOOD_PRESSURE)
    expect(page.locator('a[href$="/observation/new/"]')).to_have_count(1)

    # A relationship, not a timed access: the chart opens again later, without a banner.
    page.goto(chart_url)
    expect(page.locator("[data-testid=chart]")).to_be_visible()
    expect(page.locator("[data-testid=emergency-banner]")).to_have_count(0)
