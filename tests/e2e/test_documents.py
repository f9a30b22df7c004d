"""Documents in the browser (D4, E2): attach a scan from the chart through a real `secretum
serve` that scans with a real clamd, see it listed, open it sandboxed; the EICAR test file is
refused. Screenshots of the pages in French and Dutch go to SECRETUM_SCREENSHOTS (a folder) when
it is set, to be looked at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.documents import samples
from tests.documents.conftest import EICAR, clamd_socket  # noqa: F401 (fixture)
from tests.e2e.conftest import PRACTITIONER, Server, running_server, sign_in
from tests.e2e.test_browser import open_chart, take_care_if_needed

pytestmark = pytest.mark.e2e

LANGUAGE_COOKIE = "__Host-secretum-language"


@pytest.fixture(scope="module")
def docs_server(
    tmp_path_factory: pytest.TempPathFactory,
    clamd_socket: str,  # noqa: F811
) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("documents"), SECRETUM_CLAMD_SOCKET=clamd_socket
    ) as running:
        yield running


@pytest.fixture
def docs_page(browser: Any, docs_server: Server) -> Iterator[Any]:
    context = browser.new_context(ignore_https_errors=True, base_url=docs_server.base_url)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _shoot(page: Any, name: str) -> None:
    folder = os.environ.get("SECRETUM_SCREENSHOTS", "")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def _language(page: Any, base_url: str, code: str) -> None:
    page.context.add_cookies(
        [{"name": LANGUAGE_COOKIE, "value": code, "url": base_url + "/", "secure": True}]
    )


def test_attach_open_and_refuse_a_virus(
    docs_page: Any, docs_server: Server, tmp_path: Path
) -> None:
    page = docs_page
    sign_in(page, PRACTITIONER, fresh=True)
    open_chart(page, docs_server.patients[0])
    take_care_if_needed(page)
    chart_url = page.url
    with page.expect_navigation():
        page.click("[data-testid=add-document]")
    scan = tmp_path / "Lettre Dr Quz.png"
    scan.write_bytes(samples.png())
    page.set_input_files("#id_document", str(scan))
    with page.expect_navigation():
        page.click("[data-testid=attach-document] button[type=submit]")
    assert page.url == chart_url
    listed = page.locator("[data-testid=documents]")
    expect(listed).to_contain_text("Lettre Dr Quz.png")

    href = listed.locator("a[target=_blank]").first.get_attribute("href")
    shown = page.request.get(href)
    assert shown.ok and shown.body() == samples.png()
    assert shown.headers["content-security-policy"].startswith("sandbox;")
    assert shown.headers["x-content-type-options"] == "nosniff"
    assert shown.headers["content-disposition"].startswith("inline;")

    # A PDF opens in Chromium's own viewer, sandboxed all the same (looked at: it renders).
    with page.expect_navigation():
        page.click("[data-testid=add-document]")
    letter = tmp_path / "Lettre.pdf"
    letter.write_bytes(samples.pdf("Quzletter"))
    page.set_input_files("#id_document", str(letter))
    with page.expect_navigation():
        page.click("[data-testid=attach-document] button[type=submit]")
    pdf = listed.locator("a[target=_blank]", has_text="Lettre.pdf").get_attribute("href")
    served = page.request.get(pdf)
    assert served.headers["content-type"] == "application/pdf"
    assert served.headers["content-security-policy"].startswith("sandbox;")
    page.goto(pdf)
    page.wait_for_timeout(1000)
    _shoot(page, "documents-pdf")

    for code in ("fr", "nl"):
        _language(page, docs_server.base_url, code)
        page.goto(chart_url)
        expect(page.locator("html")).to_have_attribute("lang", code)
        _shoot(page, f"documents-chart-{code}")
        page.click("[data-testid=add-document]")
        page.wait_for_selector("[data-testid=attach-document]")
        infected = tmp_path / "facture.pdf"
        infected.write_bytes(EICAR)
        page.set_input_files("#id_document", str(infected))
        with page.expect_navigation():
            page.click("[data-testid=attach-document] button[type=submit]")
        expect(page.locator(".field.invalid .error")).to_contain_text("Secretum.Test.EICAR")
        _shoot(page, f"documents-virus-{code}")
