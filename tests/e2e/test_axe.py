"""axe-core in the browser on the pages of every role, in French and in Dutch (issue 16; WCAG 2.1
A and AA, the rules axe tags ``wcag2a``, ``wcag2aa``, ``wcag21a``, ``wcag21aa``; EN 301 549
clause 9), forms in their error states included.

axe-core is installed by the test itself, from the npm registry, at the version and integrity
pinned in ``tests/e2e/axe/package-lock.json`` (``npm ci``). The page's strict CSP would refuse
the injected script: the test's own browser context bypasses it (the application's CSP is
tested in ``test_browser.py``). All data are the demo's fictitious ones (N3).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import PRACTITIONER, SECRETARY, DemoPatient, Server, sign_in
from tests.e2e.test_accessibility import MANAGER
from tests.e2e.test_audit_ui import AUDITOR
from tests.e2e.test_browser import open_record

pytestmark = pytest.mark.e2e

PINNED = Path(__file__).resolve().parent / "axe"
RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
_RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}});
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ` +
    v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | '));
}"""


@pytest.fixture(scope="module")
def axe_source(tmp_path_factory: pytest.TempPathFactory) -> str:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: the accessibility test installs axe-core with it.")
    folder = tmp_path_factory.mktemp("axe")
    for name in ("package.json", "package-lock.json"):
        shutil.copy(PINNED / name, folder / name)
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"`npm ci` of axe-core failed:\n{done.stdout}\n{done.stderr}")
    return (folder / "node_modules" / "axe-core" / "axe.min.js").read_text()


@pytest.fixture(params=["fr", "nl"])
def page_in(request: Any, browser: Any, server: Server) -> Iterator[Any]:
    """A page in the language asked for by the browser (Accept-Language), CSP bypassed."""
    context = browser.new_context(
        ignore_https_errors=True,
        base_url=server.base_url,
        bypass_csp=True,
        locale={"fr": "fr-BE", "nl": "nl-BE"}[request.param],
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.language = request.param
    try:
        yield page
    finally:
        context.close()


def _check(page: Any, source: str, where: str, found: dict[str, list[str]]) -> None:
    assert page.locator("html").get_attribute("lang") == page.language, where
    page.add_script_tag(content=source)
    violations = page.evaluate(_RUN, RULES)
    if violations:
        found[where] = violations


def _submit(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def test_no_wcag_violation_on_the_pages_of_every_role(
    page_in: Any, axe_source: str, demo_patients: tuple[DemoPatient, ...]
) -> None:
    """SC 1.1.1 to 4.1.2 as axe checks them: every page each role reaches from the menu, a
    chart, and the login, patient, observation and audit-filter forms refused."""
    page = page_in
    found: dict[str, list[str]] = {}
    page.goto("/accounts/login/")
    _check(page, axe_source, "login", found)
    page.fill("#id_username", "nobody-axe")
    _submit(page, "form:has(#id_username) button[type=submit]")
    _check(page, axe_source, "login, refused", found)

    sign_in(page, SECRETARY)
    for path in ("/", "/patients/", "/scheduling/", "/accounts/", "/breaches/help/"):
        page.goto(path)
        _check(page, axe_source, f"secretary {path}", found)
    page.goto("/patients/new/")
    _submit(page, "form.form button[type=submit]")
    _check(page, axe_source, "patient form, refused", found)

    page.context.clear_cookies()
    sign_in(page, PRACTITIONER)
    open_record(page, demo_patients[1])
    _check(page, axe_source, "chart", found)
    _submit(page, 'a[href$="/observation/new/"]')
    page.select_option("select[name=code]", "bp")
    page.fill("input[name=value]", "400/80")
    _submit(page, "form.form button[type=submit]")
    _check(page, axe_source, "observation form, refused", found)

    page.context.clear_cookies()
    sign_in(page, MANAGER)
    for path in ("/", "/accounts/users/", "/accounts/settings/", "/access/policy/"):
        page.goto(path)
        _check(page, axe_source, f"manager {path}", found)
    for path in ("/compliance/", "/compliance/breaches/", "/maintenance/"):
        page.goto(path)
        _check(page, axe_source, f"manager {path}", found)

    page.context.clear_cookies()
    sign_in(page, AUDITOR)
    for path in ("/audit/", "/audit/report/", "/audit/alerts/", "/access/reviews/"):
        page.goto(path)
        _check(page, axe_source, f"auditor {path}", found)
    page.goto("/audit/")
    page.fill("input[name=since]", "1900-01-01")
    _submit(page, "[data-testid=audit-search]")
    _check(page, axe_source, "audit filter, refused", found)

    assert found == {}, "\n".join(f"{where}: {v}" for where, vs in found.items() for v in vs)
