"""The patient's copy in the browser (GDPR art. 15/20; L1, E7, M3): from the chart, one POST
answers with two files, a PDF the patient reads and the FHIR Bundle, and one passphrase shown
once that opens both (the PDF's own AES-256 in any reader, the Bundle's age file).

Elements are found by data-testid or name, never by visible text (the interface is
translated). All patients are the demo's fictitious ones (N3).
"""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from secretum.crypto import age
from tests.e2e.conftest import PRACTITIONER, DemoPatient, sign_in
from tests.e2e.test_browser import open_record
from tests.pdf import pdf_text

pytestmark = pytest.mark.e2e


def _download(page: Any, selector: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        page.click(selector)
    return info.value.suggested_filename, Path(info.value.path()).read_bytes()


def test_the_copy_from_the_chart_gives_the_pdf_and_the_bundle_under_one_passphrase(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[3]
    sign_in(page, PRACTITIONER)
    open_record(page, patient)
    with page.expect_navigation():
        page.click("[data-testid=patient-copy]")
    expect(page.locator("input[name=delivery][value=passphrase]")).to_be_checked()
    page.select_option("select[name=language]", "nl")
    with page.expect_navigation():
        page.click("[data-testid=copy-make]")
    passphrase = page.locator("[data-testid=copy-passphrase]").inner_text().strip()
    assert re.fullmatch(r"([a-z0-9]{4}-){5}[a-z0-9]{4}", passphrase)
    pdf_name, pdf = _download(page, "[data-testid=copy-pdf]")
    fhir_name, blob = _download(page, "[data-testid=copy-fhir]")
    assert pdf_name.endswith(".pdf") and fhir_name.endswith(".fhir.json.age")
    assert pdf.startswith(b"%PDF-") and patient.family_name.encode() not in pdf
    with pytest.raises(subprocess.CalledProcessError):
        pdf_text(pdf)
    text = pdf_text(pdf, password=passphrase)
    assert patient.family_name.upper() in text.upper() and "Allergieën" in text
    bundle = json.loads(b"".join(age.decrypt(io.BytesIO(blob), age.ScryptIdentity(passphrase))))
    assert bundle["entry"][0]["resource"]["identifier"][0]["value"] == patient.niss_digits
