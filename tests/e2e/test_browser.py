"""What a person sees in the browser: search, chart, observations, roles, CSP, logout, tablet.

Elements are found by id, name, data-testid or URL, never by visible text (the interface is
translated). The data typed or looked for (names, national numbers, values) are fictitious.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PRACTITIONER, SECRETARY, DemoPatient, sign_in

pytestmark = pytest.mark.e2e

CHART_PATH = re.compile(r"/patients/[0-9a-f-]{36}/$")
LOGIN_PATH = re.compile(r"/accounts/login/")


def log_in(page: Any, account: tuple[str, str]) -> None:
    sign_in(page, account)


def search(page: Any, query: str) -> None:
    if urlsplit(page.url).path != "/patients/":
        page.goto("/patients/")
    page.fill("input[name=q]", query)
    with page.expect_navigation():
        page.click("form.search button[type=submit]")


def result_rows(page: Any) -> Any:
    return page.locator("[data-testid=results] tbody tr")


def open_chart(page: Any, patient: DemoPatient) -> str:
    """Finds the patient by national number, opens the chart; returns its URL."""
    search(page, patient.niss)
    rows = result_rows(page)
    expect(rows).to_have_count(1)
    with page.expect_navigation():
        rows.first.locator("a[href^='/patients/']").click()
    assert CHART_PATH.search(urlsplit(page.url).path), page.url
    expect(page.locator("[data-testid=identity]")).to_be_visible()
    return str(page.url)


def take_care_if_needed(page: Any) -> None:
    """C1: a practitioner reads a chart within a care relationship. The demo gives each patient
    one demo practitioner as their doctor; for another's patient, the practitioner signed in
    says "I take care of this patient" on the page, as a replacing doctor would."""
    if page.locator("[data-testid=care-needed]").count():
        with page.expect_navigation():
            page.click("[data-testid=declare-care]")
    expect(page.locator("[data-testid=chart]")).to_be_visible()


def open_record(page: Any, patient: DemoPatient) -> str:
    """Opens the patient's page and their chart (taking care of them when needed); its URL."""
    url = open_chart(page, patient)
    take_care_if_needed(page)
    assert page.url == url
    return url


def patient_uid(chart_url: str) -> str:
    return urlsplit(chart_url).path.rstrip("/").rsplit("/", 1)[-1]


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_practitioner_finds_patient_and_records_observation(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[0]
    log_in(page, PRACTITIONER)
    page.goto("/patients/")
    search(page, patient.family_name[:3])

    row = result_rows(page).filter(has_text=patient.niss)
    expect(row).to_have_count(1)
    with page.expect_navigation():
        row.locator("a[href^='/patients/']").click()
    chart_url = page.url
    assert CHART_PATH.search(urlsplit(chart_url).path), chart_url
    expect(page.locator("[data-testid=identity]")).to_contain_text(patient.niss)
    take_care_if_needed(page)
    expect(page.locator("[data-testid=chart]")).to_be_visible()
    expect(page.locator("[data-testid=observations]")).not_to_contain_text("128/82")

    with page.expect_navigation():
        page.click('a[href$="/observation/new/"]')
    assert urlsplit(page.url).path.endswith(f"/{patient_uid(chart_url)}/observation/new/")
    page.select_option("select[name=code]", "bp")
    page.fill("input[name=value]", "128/82")
    with page.expect_navigation():
        page.click("form.form button[type=submit]")

    assert page.url == chart_url
    expect(page.locator(".message")).to_have_count(1)
    expect(page.locator(".error")).to_have_count(0)
    expect(page.locator("[data-testid=observations]")).to_contain_text("128/82")


def test_implausible_observation_is_refused_with_a_clear_message(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[1]
    log_in(page, PRACTITIONER)
    chart_url = open_record(page, patient)

    with page.expect_navigation():
        page.click('a[href$="/observation/new/"]')
    form_url = page.url
    page.select_option("select[name=code]", "bp")
    page.fill("input[name=value]", "400/80")
    with page.expect_navigation():
        page.click("form.form button[type=submit]")

    # Refused: the same form again, the value kept, an error next to the field naming it.
    assert page.url == form_url
    expect(page.locator("input[name=value]")).to_have_value("400/80")
    errors = page.locator(".field.invalid .error")
    expect(errors).to_have_count(1)
    expect(errors.first).to_contain_text("400")
    expect(page.locator(".message")).to_have_count(0)

    page.goto(chart_url)
    expect(page.locator("[data-testid=observations]")).to_be_visible()
    expect(page.locator("[data-testid=chart]")).not_to_contain_text("400/80")
    assert "400/80" not in page.content()


def test_search_by_national_number_and_birth_date(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[2]
    log_in(page, PRACTITIONER)
    page.goto("/patients/")

    search(page, patient.niss)
    rows = result_rows(page)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(patient.niss)
    expect(rows.first).to_contain_text(patient.display_name)
    expect(rows.first).to_contain_text(patient.birth_date)
    niss_results_url = page.url

    search(page, patient.birth_date)
    expect(result_rows(page).filter(has_text=patient.niss)).to_have_count(1)
    for row in result_rows(page).all():
        expect(row).to_contain_text(patient.birth_date)
    birth_results_url = page.url

    # H2: the search is a POST; nothing identifying ends up in the URL (nor in logs, history).
    for url in (niss_results_url, birth_results_url):
        assert urlsplit(url).path == "/patients/", url
        assert not urlsplit(url).query, url
        for secret in (
            patient.niss,
            patient.niss_digits,
            patient.niss_digits[:6],
            patient.birth_date,
            patient.family_name,
        ):
            assert secret.lower() not in url.lower(), (secret, url)


def test_secretary_sees_no_medical_data(page: Any, demo_patients: tuple[DemoPatient, ...]) -> None:
    patient = demo_patients[0]
    log_in(page, SECRETARY)
    chart_url = open_chart(page, patient)

    expect(page.locator("[data-testid=identity]")).to_contain_text(patient.niss)
    expect(page.locator("[data-testid=chart]")).to_have_count(0)
    expect(page.locator("[data-testid=observations]")).to_have_count(0)
    expect(page.locator('a[href*="/clinical/"]')).to_have_count(0)
    assert "mmHg" not in page.content()

    response = page.goto(f"/clinical/{patient_uid(chart_url)}/observation/new/")
    assert response is not None
    assert response.status == 403
    expect(page.locator("select[name=code]")).to_have_count(0)
    assert "mmHg" not in page.content()


def test_pages_respect_the_content_security_policy(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    console: list[str] = []
    errors: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, PRACTITIONER)
    chart_url = open_record(page, demo_patients[3])
    response = page.goto(chart_url)
    assert response is not None
    assert response.status == 200
    expect(page.locator("[data-testid=chart]")).to_be_visible()
    # The stylesheet is applied (a refused stylesheet would leave the page unstyled).
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"

    violations = [m for m in console + errors if "content security policy" in m.lower()]
    assert not violations, violations
    assert not errors, errors

    headers = response.headers
    assert headers.get("cache-control") == "no-store"
    policy = headers.get("content-security-policy", "")
    assert policy, "the chart page has no Content-Security-Policy header"
    assert "unsafe-inline" not in policy
    assert "unsafe-eval" not in policy
    assert "default-src 'none'" in policy


def test_logout_ends_the_session(page: Any, demo_patients: tuple[DemoPatient, ...]) -> None:
    log_in(page, PRACTITIONER)
    chart_url = open_chart(page, demo_patients[4])

    with page.expect_navigation():
        page.click('form[action$="/accounts/logout/"] button')
    assert LOGIN_PATH.search(urlsplit(page.url).path), page.url
    expect(page.locator("[data-testid=who]")).to_have_count(0)

    page.goto(chart_url)
    assert LOGIN_PATH.search(urlsplit(page.url).path), page.url
    expect(page.locator("#id_username")).to_be_visible()
    expect(page.locator("[data-testid=identity]")).to_have_count(0)
    assert demo_patients[4].niss not in page.content()


def test_page_is_usable_on_a_tablet(page: Any, demo_patients: tuple[DemoPatient, ...]) -> None:
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto("/accounts/login/")
    expect(page.locator("#id_username")).to_be_visible()
    assert no_horizontal_scroll(page), "the login page scrolls sideways at 768 px"

    log_in(page, PRACTITIONER)
    open_record(page, demo_patients[0])
    expect(page.locator("[data-testid=chart]")).to_be_visible()
    assert page.evaluate("window.innerWidth") == 768
    assert no_horizontal_scroll(page), "the chart page scrolls sideways at 768 px"
