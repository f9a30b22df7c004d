"""The browser's own print of a page holding medical data (P1, C3): Chromium prints the chart as
a PDF, poppler reads it back: nothing of the patient reaches the paper, only the notice that
points to the logged, watermarked print. Elements are found by data-testid."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import PRACTITIONER, DemoPatient, sign_in
from tests.e2e.test_browser import open_record
from tests.pdf import pdf_text

pytestmark = pytest.mark.e2e


def _printed(page: Any) -> str:
    """What Chromium's print of the page puts on paper, as a reader of the PDF sees it."""
    return pdf_text(page.pdf(format="A4")).upper()


def _words(text: str) -> str:
    return " ".join(text.split()).upper()


def test_printing_the_chart_from_the_browser_prints_no_medical_data(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[0]
    sign_in(page, PRACTITIONER)
    chart = open_record(page, patient)
    on_screen = _words(page.inner_text("main"))
    assert patient.family_name.upper() in on_screen  # the chart shows the patient on screen
    assert not page.is_visible("[data-testid=print-guard]")
    notice = _words(page.locator("[data-testid=print-guard]").text_content() or "")

    printed = _printed(page)
    assert notice in printed
    assert patient.family_name.upper() not in printed
    assert patient.niss_digits not in printed.replace(".", "").replace("-", "").replace(" ", "")
    # The summary print it points to stays on the page.
    assert page.is_visible("[data-testid=print-summary]")

    page.goto(chart.rstrip("/") + "/")  # the same guard after a reload
    assert patient.family_name.upper() not in _printed(page)


def test_a_page_without_medical_data_prints_as_shown(page: Any) -> None:
    """The guard is where medical data is, not everywhere: the search page prints normally."""
    sign_in(page, PRACTITIONER)
    page.goto("/patients/")
    printed = _printed(page)
    assert _words(page.inner_text("main h1")) in printed
