"""The practice manager walks the measures register in the browser: the reminders on the home
page, the 59 measures, the hosting profile, a declaration and its history, an evidence
document, a signed report checked with the public key, a suspected breach from the help menu to
the drafted notification; and a practitioner prints a logged, watermarked summary (P1).

Elements are found by data-testid, name or URL, never by visible text (the interface is
translated). Every person and patient is the demo's fictitious one (N3).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from secretum.compliance import signing
from secretum.crypto import age
from tests.compliance.test_catalogue import EXPECTED_IDS
from tests.e2e.conftest import PRACTITIONER, DemoPatient, sign_in
from tests.e2e.test_browser import open_chart
from tests.pdf import pdf_text

pytestmark = pytest.mark.e2e

MANAGER = ("gestion", "demo-manager-2026")


def _download(page: Any, selector: str) -> bytes:
    with page.expect_download() as info:
        page.click(selector)
    return Path(info.value.path()).read_bytes()


def _csp_violations(page: Any) -> list[str]:
    found: list[str] = []
    page.on(
        "console",
        lambda m: found.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return found


def test_manager_walks_the_register(page: Any) -> None:
    violations = _csp_violations(page)
    sign_in(page, MANAGER)
    page.goto("/")
    # Not every demo user has accepted the charter yet (A1): the home page says so.
    expect(page.locator("[data-testid=compliance-reminders]")).to_be_visible()

    with page.expect_navigation():
        page.click("[data-testid=nav-compliance]")
    rows = page.locator("tr[data-testid^=measure-]")
    expect(rows).to_have_count(59)
    shown = [rows.nth(i).get_attribute("data-testid") for i in range(59)]
    assert sorted(s.removeprefix("measure-") for s in shown) == sorted(EXPECTED_IDS)
    expect(page.locator("[data-testid=measure-B3]")).to_have_attribute("data-status", "met")
    # No restore drill yet (I3): the backups made while serving are not proven to restore.
    expect(page.locator("[data-testid=measure-I3]")).to_have_attribute("data-status", "not-met")

    # The practice hosts its data locally: the cloud-only measures no longer apply.
    page.select_option("select[name=hosting]", "local")
    with page.expect_navigation():
        page.click("[data-testid=profile-form] button[type=submit]")
    expect(page.locator("[data-testid=measure-E10]")).to_have_attribute(
        "data-status", "not-applicable"
    )

    # An organisational measure (E5): declared adopted, then changed; the history keeps both.
    page.goto("/compliance/measures/e5/")
    page.check("input[name=choice][value=adopted]")
    with page.expect_navigation():
        page.click("[data-testid=declare]")
    expect(page.locator("[data-testid=measure-status]")).to_have_attribute(
        "data-status", "declared"
    )
    page.check("input[name=choice][value=equivalent]")
    page.fill("textarea[name=justification]", "Tablets are managed by the hospital's MDM.")
    with page.expect_navigation():
        page.click("[data-testid=declare]")
    expect(page.locator("[data-testid=history] tbody tr")).to_have_count(2)

    # Evidence for P1: a document, sealed at rest, attached and downloadable.
    page.goto("/compliance/measures/p1/")
    page.set_input_files(
        "input[name=document]",
        files=[{"name": "shredder.txt", "mimeType": "text/plain", "buffer": b"Fictitious."}],
    )
    with page.expect_navigation():
        page.click("[data-testid=documents] button[type=submit]")
    expect(page.locator("[data-testid=documents] li a")).to_have_count(1)

    # A signed report: every ID in the PDF, and the signature checks out with the public key.
    page.goto("/compliance/")
    with page.expect_navigation():
        page.click("[data-testid=reports-link]")
    # Issuing reads every measure's evidence and signs a PDF: seconds on a loaded machine (the
    # CI runs three test jobs on two cores), more than a click's usual ten.
    with page.expect_navigation(timeout=60_000):
        page.click("[data-testid=issue-report]", no_wait_after=True)
    sig = _download(page, "[data-testid=report-pdf-sig] >> nth=0").decode()  # in clear
    # The report names staff (E7, M3): by default an age file under a passphrase shown once;
    # the signature covers the PDF inside.
    with page.expect_navigation():
        page.click("[data-testid=report-pdf] >> nth=0")
    with page.expect_navigation():
        page.click("[data-testid=deliver]")
    passphrase = page.locator("[data-testid=delivered-passphrase]").inner_text().strip()
    sealed = _download(page, "[data-testid=delivered-download]")
    pdf = b"".join(age.decrypt(io.BytesIO(sealed), age.ScryptIdentity(passphrase)))
    page.goto("/compliance/reports/")
    public = _download(page, "[data-testid=public-key]")
    assert signing.verify(pdf, sig, public).ok
    assert not signing.verify(pdf[:-10], sig, public).ok
    drawn = set(pdf_text(pdf).split())
    assert set(EXPECTED_IDS) <= drawn
    assert violations == []


def test_manager_records_a_breach_from_the_help_menu(page: Any) -> None:
    sign_in(page, MANAGER)
    page.goto("/")
    with page.expect_navigation():
        page.click("[data-testid=nav-help]")
    expect(page.locator("[data-testid=breach-procedure]")).to_be_visible()
    with page.expect_navigation():
        page.click("[data-testid=report-breach]")
    page.fill("textarea[name=what_happened]", "Fictitious: a referral letter went to a namesake.")
    with page.expect_navigation():
        page.click("[data-testid=submit-breach]")
    assert re.search(r"/compliance/breaches/[0-9a-f-]{36}/$", urlsplit(page.url).path)
    clock = page.locator("[data-testid=clock]")
    expect(clock).to_be_visible()
    assert 70 <= int(clock.get_attribute("data-hours") or 0) <= 72

    page.fill("textarea[name=nature]", "A letter sent to the wrong patient (confidentiality).")
    page.check("input[name=people_categories][value=patients]")
    page.fill("input[name=people_count]", "1")
    page.check("input[name=record_categories][value=health]")
    page.fill("textarea[name=consequences]", "A diagnosis disclosed to one person.")
    page.fill("textarea[name=measures_taken]", "The recipient returned the letter.")
    page.check("input[name=risk][value=risk]")
    with page.expect_navigation():
        page.click("[data-testid=save-assessment]")
    with page.expect_navigation():
        page.click("[data-testid=drafts-link]")
    draft = page.locator("[data-testid=notification-draft]")
    expect(draft).to_contain_text("A letter sent to the wrong patient")
    expect(page.locator("[data-testid=letter-draft]")).to_have_count(0)  # not a high risk


def test_practitioner_prints_a_watermarked_summary(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    sign_in(page, PRACTITIONER)
    open_chart(page, demo_patients[2])
    with page.expect_navigation():
        page.click("[data-testid=print-summary]")
    # E7, M3: encrypted by default; in clear here, said why, to read the document.
    page.check("input[name=delivery][value=plain]")
    page.fill("input[name=delivery_reason]", "Transfert aux urgences, sur papier (fictif).")
    with page.expect_download() as info:
        page.click("[data-testid=deliver]")
    body = Path(info.value.path()).read_bytes()
    assert body.startswith(b"%PDF")
    # Diagonal, the watermark's letters are read back with spaces of their own between them.
    text = "".join(pdf_text(body).split())
    watermark = re.search(r"\(dr\.martin\)-[0-9:-]+UTC", text)
    assert watermark is not None, f"no watermark with the user and the UTC time: {text[:300]}"
