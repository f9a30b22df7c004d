"""The auditor in the browser (D1, D2): the log, its exports, the patient access report and its
PDF, the alerts; and nobody else reaches them.

Elements are found by data-testid, name or URL, never by visible text (the interface is
translated). All patients are the demo's fictitious ones (N3).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PRACTITIONER, DemoPatient, sign_in
from tests.e2e.test_browser import open_chart, patient_uid
from tests.pdf import pdf_text

pytestmark = pytest.mark.e2e

AUDITOR = ("dpo", "demo-auditeur-2026")


def _download(page: Any, selector: str) -> bytes:
    with page.expect_download() as info:
        page.click(selector)
    return Path(info.value.path()).read_bytes()


def test_auditor_filters_the_log_by_patient_and_exports_it(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[1]
    # A practitioner opens the chart: the access the auditor will find.
    sign_in(page, PRACTITIONER)
    uid = patient_uid(open_chart(page, patient))
    page.context.clear_cookies()

    sign_in(page, AUDITOR)
    page.goto("/audit/")
    expect(page.locator("[data-testid=audit-results] tbody tr").first).to_be_visible()
    page.fill("input[name=patient]", patient.niss)
    with page.expect_navigation():
        page.click("[data-testid=audit-search]")
    rows = page.locator("[data-testid=audit-results] tbody tr")
    expect(rows.first).to_be_visible()
    links = page.locator(f"[data-testid=audit-results] a[href='/audit/report/{uid}/']")
    assert links.count() == rows.count() and rows.count() >= 2
    # The national number was posted, never put in the URL (H2).
    assert patient.niss_digits not in page.url

    # In clear, said why (E7, M3: encrypted by default, as the access report's PDF below).
    page.check("input[name=delivery][value=plain]")
    page.fill("input[name=delivery_reason]", "Contrôle interne du DPO (fictif).")
    csv_text = _download(page, "[data-testid=export-csv]").decode()
    header, *lines = csv_text.strip().splitlines()
    assert header.startswith("seq,recorded_utc,user,role")
    assert lines and all(uid in line for line in lines)
    ndjson = _download(page, "[data-testid=export-ndjson]").decode().strip().splitlines()
    resources = [json.loads(line) for line in ndjson]
    assert {r["resourceType"] for r in resources} == {"AuditEvent"}
    assert any(r["agent"][0]["who"]["identifier"]["value"] == PRACTITIONER[0] for r in resources)


def test_access_report_page_and_pdf(page: Any, demo_patients: tuple[DemoPatient, ...]) -> None:
    patient = demo_patients[2]
    sign_in(page, PRACTITIONER)
    open_chart(page, patient)
    page.context.clear_cookies()

    sign_in(page, AUDITOR)
    page.goto("/audit/report/")
    page.fill("input[name=patient]", patient.niss)
    with page.expect_navigation():
        page.click("[data-testid=report-open]")
    expect(page.locator("[data-testid=access-report]")).to_be_visible()
    expect(page.locator("[data-testid=report-patient]")).to_contain_text(patient.family_name)
    lines = page.locator("[data-testid=report-lines] tbody tr")
    assert lines.count() >= 2
    expect(page.locator("[data-testid=report-lines]")).to_contain_text("Martin")
    assert patient.niss_digits not in page.url
    # E7, M3, end to end: the link asks how the file leaves; by default, under a passphrase shown
    # once on the answer, the PDF with it; poppler opens it with the passphrase only.
    with page.expect_navigation():
        page.click("[data-testid=report-pdf]")
    expect(page.locator("input[name=delivery][value=passphrase]")).to_be_checked()
    with page.expect_navigation():
        page.click("[data-testid=deliver]")
    passphrase = page.locator("[data-testid=delivered-passphrase]").inner_text().strip()
    assert re.fullmatch(r"([a-z0-9]{4}-){5}[a-z0-9]{4}", passphrase)
    pdf = _download(page, "[data-testid=delivered-download]")
    assert pdf.startswith(b"%PDF-") and patient.family_name.encode() not in pdf
    with pytest.raises(subprocess.CalledProcessError):
        pdf_text(pdf)
    assert patient.family_name.upper() in pdf_text(pdf, password=passphrase).upper()


def test_alerts_page_and_nobody_else_reaches_the_audit(page: Any) -> None:
    sign_in(page, AUDITOR)
    response = page.goto("/audit/alerts/")
    assert response is not None and response.status == 200
    expect(page.locator("[data-testid=alerts], [data-testid=no-alerts]").first).to_be_visible()
    page.context.clear_cookies()
    sign_in(page, PRACTITIONER)
    for url in ("/audit/", "/audit/report/", "/audit/alerts/"):
        response = page.goto(url)
        assert response is not None and response.status == 403, url
