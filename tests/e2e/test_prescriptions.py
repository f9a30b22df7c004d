"""Prescriptions in the browser (issue 15; P1, C3): the practitioner sets their RIZIV/INAMI
number (a mistyped one refused), prescribes a coded medication from the chart, prints it as a
prescription (a watermarked PDF read back with poppler), then stops it: it leaves the active
list for the stopped ones. Elements are found by data-testid."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PRACTITIONER, DemoPatient, sign_in
from tests.e2e.test_browser import open_record
from tests.pdf import pdf_text

pytestmark = pytest.mark.e2e

PRODUCT = "Quzartan Fictipharma"


def test_practitioner_prescribes_prints_and_stops_a_medication(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[-1]
    sign_in(page, PRACTITIONER)
    page.goto("/clinical/prescriber/")
    page.fill("input[name=riziv]", "1-23456-26-004")  # a check digit off
    with page.expect_navigation():
        page.click("[data-testid=prescriber-form] button[type=submit]")
    expect(page.locator("form.form")).to_contain_text("check digits do not match")
    page.fill("input[name=riziv]", "1-23456-25-004")
    with page.expect_navigation():
        page.click("[data-testid=prescriber-form] button[type=submit]")
    expect(page.locator("[data-testid=riziv-current]")).to_contain_text("12345625004")

    chart = open_record(page, patient)
    with page.expect_navigation():
        page.click('a[href$="/medication/new/"]')
    for name, value in (
        ("drug", PRODUCT), ("strength", "80 mg"), ("cnk", "7654321"), ("atc", "c09ca07"),
        ("dose", "1 comprimé"), ("frequency", "1x/jour le matin"), ("quantity", "2"),
    ):  # fmt: skip
        page.fill(f"form.form [name={name}]", value)
    page.select_option("form.form select[name=route]", "oral")
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    assert page.url == chart
    line = page.locator("[data-testid=active-medications] [data-testid=medication]").filter(
        has_text=PRODUCT
    )
    expect(line).to_have_count(1)
    expect(line).to_contain_text("ATC C09CA07")

    # The form posts to a new tab, where Chromium shows the PDF; the same request, made here,
    # lets the test read the document.
    form = line.locator("form:has([data-testid=print-prescription])")
    response = page.request.post(
        form.get_attribute("action"),
        form={
            "csrfmiddlewaretoken": form.locator("input[name=csrfmiddlewaretoken]").input_value(),
            "niss": "on",
        },
        headers={"Referer": page.url},
    )
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.body())
    assert "PRESCRIPTION DE MÉDICAMENTS / VOORSCHRIFT VOOR GENEESMIDDELEN" in text
    assert f"{PRODUCT} 80 mg (CNK 7654321, ATC C09CA07)" in text
    assert "1-23456-25-004" in text and patient.niss in text
    assert "à détruire au déchiqueteur après usage" in text  # the demo speaks French
    assert "(dr.martin)" in "".join(text.split())  # the watermark and the footer

    with page.expect_navigation():
        line.locator("[data-testid=stop-medication]").click()
    stopped = page.locator("[data-testid=stopped-medications]").filter(has_text=PRODUCT)
    expect(stopped).to_have_count(1)
    expect(page.locator("[data-testid=active-medications]").filter(has_text=PRODUCT)).to_have_count(
        0
    )
