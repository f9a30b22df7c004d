"""A practitioner writes a referral letter in French from the chart and prints it (issue 15; P1,
C3): filled from the chart, edited, finalised, printed as a logged, watermarked PDF whose text
poppler reads back. Elements are found by data-testid or name, never by visible text."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PRACTITIONER, DemoPatient, sign_in
from tests.e2e.test_browser import open_record
from tests.pdf import pdf_text

pytestmark = pytest.mark.e2e

QUESTION = "Merci de votre avis sur cette dyspnée d'effort."  # fictitious (N3)


def test_practitioner_writes_and_prints_a_referral_letter_in_french(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[1]
    sign_in(page, PRACTITIONER)
    open_record(page, patient)
    with page.expect_navigation():
        page.click("[data-testid=letters]")
    form = page.locator("[data-testid=new-letter]")
    form.locator("select[name=kind]").select_option("referral")
    form.locator("select[name=language]").select_option("fr")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    draft = page.locator("[data-testid=letter-form]")
    expect(draft).to_be_visible()
    page.fill("input[name=recipient]", "Dr Ørsted, cardiologie, CHU Saint-Pierre")
    page.fill("textarea[name=reason]", "Dyspnée d'effort depuis trois semaines.")
    page.fill("textarea[name=question]", QUESTION)
    with page.expect_navigation():
        draft.locator("button[type=submit]").click()
    expect(page.locator("textarea[name=question]")).to_have_value(QUESTION)
    with page.expect_navigation():
        page.click("[data-testid=finalise]")
    expect(page.locator("[data-testid=letter-form]")).to_have_count(0)
    printing = page.locator("form:has([data-testid=print-letter])")
    expect(printing).to_be_visible()
    # The form posts to a new tab, where Chromium shows the PDF; the same request, made here,
    # lets the test read the document.
    response = page.request.post(
        printing.get_attribute("action"),
        form={
            "csrfmiddlewaretoken": printing.locator("input[name=csrfmiddlewaretoken]").input_value()
        },
        headers={"Referer": page.url},
    )
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    text = pdf_text(response.body())
    assert "Lettre de référence" in text
    assert patient.family_name.upper() in text.upper()
    assert QUESTION in text and "Ørsted" in text
    assert "Signature et cachet du médecin" in text
    watermark = re.search(r"\(dr\.martin\)-[0-9:-]+UTC", "".join(text.split()))
    assert watermark is not None, text[:300]
