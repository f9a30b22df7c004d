"""axe-core in the browser on every page, in French and in Dutch (issue 16; WCAG 2.1 A and AA,
the rules axe tags ``wcag2a``, ``wcag2aa``, ``wcag21a``, ``wcag21aa``; EN 301 549 clause 9),
forms in their error states included.

Every page: ``PAGES`` names, by URL name, each page the test checks, and the test records the URL
name of each page it checked and fails unless it checked every one of them, in each language.
``test_axe_coverage.py`` walks the URLconf and fails on a page that answers GET and is neither in
``PAGES`` nor in ``NOT_PAGES`` (JSON, files, redirects: each with its reason), so a new page
cannot escape axe. Pages that need data the demo lacks (a breach, an intervention) get it from
the pages themselves, as a user would make it.

axe-core is installed by the test itself, from the npm registry, at the version and integrity
pinned in ``tests/e2e/axe/package-lock.json`` (``npm ci``). The page's strict CSP would refuse
the injected script: the test's own browser context bypasses it (the application's CSP is
tested in ``test_browser.py``). All data are the demo's fictitious ones (N3).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.urls import resolve

from tests.e2e import test_mail, test_oidc
from tests.e2e.conftest import (
    PRACTITIONER,
    SECRETARY,
    DemoPatient,
    Server,
    running_server,
    sign_in,
    totp_code,
)
from tests.e2e.test_accessibility import MANAGER
from tests.e2e.test_audit_ui import AUDITOR
from tests.e2e.test_browser import open_record, patient_uid
from tests.e2e.test_mail import walk
from tests.e2e.test_oidc import _log_in_with_password

# test_oidc.py's identity provider and the server that trusts it, started for this module too;
# test_mail.py's SMTP server and the server that sends to it likewise.
provider = test_oidc.provider
oidc_server = test_oidc.oidc_server
smtp = test_mail.smtp
mail_server = test_mail.mail_server

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
    yield from _page_in(request.param, browser, server)


def _page_in(language: str, browser: Any, server: Server) -> Iterator[Any]:
    """A page in the language asked for by the browser (Accept-Language), CSP bypassed."""
    context = browser.new_context(
        ignore_https_errors=True,
        base_url=server.base_url,
        bypass_csp=True,
        locale={"fr": "fr-BE", "nl": "nl-BE"}[language],
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.language = language
    page.checked = set()
    try:
        yield page
    finally:
        context.close()


# Every page that answers GET, by URL name, but those in NOT_PAGES: what axe checks, and who.
PAGES = {
    # anonymous
    "home", "accounts:login", "accounts:verify", "accounts:enrol", "accounts:enrol_factors",
    "accounts:enrol_password",
    # the secretary
    "patients:search", "patients:register", "patients:detail", "patients:edit",
    "scheduling:agenda", "scheduling:book", "accounts:factors", "accounts:password",
    "accounts:charter", "breaches:help", "breaches:breach_report",
    # the practitioner
    "clinical:new", "clinical:correct", "clinical:history", "documents:attach", "access:glass",
    "clinical:prescriber",
    "documents:unfiled", "documents:unfiled_file", "exchange:patient_copy",
    "letters:list", "letters:letter",
    "compliance:print_patient",
    "accounts:confirm", "accounts:enrol_factor", "accounts:recovery_codes",
    # the manager
    "accounts:users", "accounts:permissions", "accounts:settings", "access:policy",
    "compliance:register", "compliance:measure", "compliance:report", "compliance:reports",
    "compliance:access_review", "breaches:breaches", "breaches:breach", "breaches:breach_drafts",
    "maintenance:log", "maintenance:new", "maintenance:correct", "maintenance:windows",
    "maintenance:export",
    "retention:due", "retention:certificates", "retention:erasure",
    # the auditor
    "audit:log", "audit:report_search", "audit:report", "audit:alerts", "access:reviews",
    "audit:report_pdf",
}  # fmt: skip

# The lock screen: on a server whose sessions lock after 6 idle seconds.
LOCK_PAGES = {"accounts:unlock"}

# Served only with an identity provider configured: on a server with test_oidc.py's provider.
OIDC_PAGES = {"accounts:oidc_callback", "accounts:oidc_link_confirm"}

# Mail (M1): the correspondents, their verification and the confirm-and-send pages, on a server
# whose mail goes to test_mail.py's SMTP server (a code is sent, a document sent).
MAIL_PAGES = {"mail:correspondents", "mail:verify", "mail:send_document"}

# Answers GET, but no page of its own for axe to check: what it is instead.
NOT_PAGES = {
    "healthz": "the health probe: plain text for the supervisor",
    "favicon": "an image",
    "set_language": "a redirect back to the page (the language buttons post to it)",
    "accounts:oidc_start": "a redirect to the identity provider",
    "accounts:oidc_link": "a redirect to the identity provider",
    "documents:show": "the patient's document itself (PDF or image), served inline in a sandbox",
    "documents:download": "how a document leaves (E7): exchange/deliver.html, as print_patient",
    "mail:send_letter": "mail:send_document's templates (choose, confirm, sent), checked there",
    "documents:unfiled_show": "a scan of the unfiled tray itself, served inline in a sandbox",
    "compliance:document": "how an evidence document leaves (E7): exchange/deliver.html",
    "compliance:public_key": "a PEM file download",
    "compliance:report_file": "the signed report, its signature: file downloads (the PDF tagged)",
    "clinical:icd10": "JSON: the ICD-10 suggestions the problem form's code field offers",
    # Shown only once a record is destroyed (below); the same template as compliance:print_patient.
    "retention:text": "how a destruction certificate leaves (E7): exchange/deliver.html",
    "retention:signature": "a destruction certificate's signature, a text file download",
    # Shown only once a record is destroyed; the demo's are all within retention, and the walk
    # goes over the same patients in each language: destroying one would end the second walk.
    "retention:certificate": "a destroyed record's certificate (tests/retention/test_views.py)",
}


def _check(page: Any, source: str, where: str, found: dict[str, list[str]]) -> None:
    assert page.locator("html").get_attribute("lang") == page.language, where
    page.checked.add(resolve(urlsplit(page.url).path).view_name)
    page.add_script_tag(content=source)
    violations = page.evaluate(_RUN, RULES)
    if violations:
        found[where] = violations


def _submit(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def _go(page: Any, path: str, source: str, found: dict[str, list[str]], who: str) -> None:
    response = page.goto(path)
    assert response is not None and response.status < 400, (who, path, response and response.status)
    _check(page, source, f"{who} {path}", found)


def _confirm_if_asked(page: Any, account: tuple[str, str]) -> None:
    """Sudo mode: the password and a code again, when the page asks for them."""
    if urlsplit(page.url).path != "/accounts/confirm/":
        return
    page.fill("#id_password", account[1])
    page.fill("#id_code", totp_code(account[0]))
    _submit(page, "form[data-reauth-form] button[type=submit]")


def _anonymous(page: Any, source: str, found: dict[str, list[str]]) -> None:
    page.goto("/accounts/login/")
    _check(page, source, "login", found)
    page.fill("#id_username", "nobody-axe")
    _submit(page, "form:has(#id_username) button[type=submit]")
    _check(page, source, "login, refused", found)
    for path in ("/accounts/enrol/", "/accounts/enrol/factors/", "/accounts/enrol/password/"):
        _go(page, path, source, found, "anonymous")
    _submit(page, "form[data-enrol-form] button[type=submit]")
    _check(page, source, "enrolment link, refused", found)
    # The second-factor page, then refused (a code too short: no attempt counted).
    username, password = SECRETARY
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    _submit(page, "form:has(#id_username) button[type=submit]")
    _check(page, source, "second factor", found)
    page.fill("#id_code", "12345")
    _submit(page, "form:has(#id_code) button[type=submit]")
    _check(page, source, "second factor, refused", found)
    page.context.clear_cookies()


def _secretary(page: Any, source: str, found: dict[str, list[str]], patient: DemoPatient) -> None:
    sign_in(page, SECRETARY)
    for path in ("/", "/patients/", "/agenda/", "/accounts/", "/accounts/password/"):
        _go(page, path, source, found, "secretary")
    _submit(page, "main form button[type=submit]")
    _check(page, source, "password form, refused", found)
    for path in ("/accounts/charter/", "/compliance/help/"):
        _go(page, path, source, found, "secretary")
    page.goto("/agenda/?day=not-a-day")  # the agenda's error state (400: checked all the same)
    _check(page, source, "agenda, wrong day", found)
    _go(page, "/compliance/breaches/new/", source, found, "secretary")
    _submit(page, "[data-testid=submit-breach]")
    _check(page, source, "breach report, refused", found)
    page.goto("/patients/new/")
    _check(page, source, "patient form", found)
    _submit(page, "form.form button[type=submit]")
    _check(page, source, "patient form, refused", found)
    page.goto("/patients/")
    page.fill("input[name=q]", patient.niss)
    _submit(page, "form.search button[type=submit]")
    _check(page, source, "patient search, results", found)
    _submit(page, "[data-testid=results] tbody tr a[href^='/patients/']")
    _check(page, source, "secretary patient", found)
    uid = patient_uid(page.url)
    _go(page, f"/patients/{uid}/edit/", source, found, "secretary")
    page.locator("form.form input[required]").first.fill("")
    _submit(page, "form.form button[type=submit]")
    _check(page, source, "patient edit, refused", found)
    _go(page, f"/agenda/book/{uid}/", source, found, "secretary")
    _submit(page, "form.form button[type=submit]")
    _check(page, source, "booking, refused", found)
    page.context.clear_cookies()


def _practitioner(page: Any, source: str, found: dict[str, list[str]], patient: DemoPatient) -> str:
    sign_in(page, PRACTITIONER)
    chart = open_record(page, patient)
    _check(page, source, "chart", found)
    uid = patient_uid(chart)
    correct = page.locator("a[href*='/correct/']").first.get_attribute("href")
    for path in (
        correct,
        correct.replace("/correct/", "/history/"),
        f"/documents/{uid}/attach/",
        f"/access/glass/{uid}/",
    ):
        _go(page, path, source, found, "practitioner")
    _submit(page, "[data-testid=glass-form] button[type=submit]")
    _check(page, source, "break the glass, refused", found)
    _go(page, f"/records/{uid}/erasure/", source, found, "practitioner")
    _submit(page, "[data-testid=record-erasure]")  # J2: no basis chosen, refused
    _check(page, source, "erasure request, refused", found)
    page.goto(f"/documents/{uid}/attach/")
    _submit(page, "[data-testid=attach-document] button[type=submit]")
    _check(page, source, "document, refused", found)
    page.goto(f"/access/glass/{uid}/")
    _submit(page, "[data-testid=glass-form] button[type=submit]")
    _check(page, source, "break the glass, refused", found)
    page.goto(chart)
    _submit(page, 'a[href$="/observation/new/"]')
    _check(page, source, "observation form", found)
    page.select_option("select[name=code]", "bp")
    page.fill("input[name=value]", "400/80")
    _submit(page, "form.form button[type=submit]")
    _check(page, source, "observation form, refused", found)
    # The unfiled tray (D4; the demo leaves two fictitious letters there), a filing refused.
    _go(page, "/documents/unfiled/", source, found, "practitioner")
    _submit(page, "[data-testid=unfiled] a[href$='/file/']")
    _check(page, source, "file a scan", found)
    _submit(page, "[data-testid=file-scan] button[type=submit]")
    _check(page, source, "file a scan, refused", found)
    # A correction refused (a required field emptied).
    page.goto(correct)
    page.locator("form.form input[required], form.form textarea[required]").first.fill("")
    _submit(page, "form.form button[type=submit]")
    _check(page, source, "correction, refused", found)
    # Letters (issue 15): the patient's list, a new referral letter's draft, a draft refused.
    _go(page, f"/letters/{uid}/", source, found, "practitioner")
    _submit(page, "[data-testid=new-letter] button[type=submit]")
    _check(page, source, "letter, draft", found)
    # N2: a field over its bound (the browser's own limit lifted, as a forged post would).
    page.evaluate("document.querySelector('textarea[name=question]').removeAttribute('maxlength')")
    page.fill("textarea[name=question]", "x" * 1001)
    _submit(page, "[data-testid=letter-form] button[type=submit]")
    _check(page, source, "letter, refused", found)
    _go(page, "/accounts/confirm/?next=/accounts/", source, found, "practitioner")
    page.fill("#id_password", "not-the-password-2026")
    page.fill("#id_code", "12345")
    _submit(page, "form[data-reauth-form] button[type=submit]")
    _check(page, source, "confirm it is you, refused", found)
    page.goto("/accounts/factors/new/")
    _confirm_if_asked(page, PRACTITIONER)
    _check(page, source, "add a second factor", found)
    _go(page, "/accounts/recovery-codes/", source, found, "practitioner")
    # Issue 15: the prescriber's RIZIV/INAMI number, a mistyped one refused.
    _go(page, "/clinical/prescriber/", source, found, "practitioner")
    page.fill("input[name=riziv]", "12345626004")
    _submit(page, "[data-testid=prescriber-form] button[type=submit]")
    _check(page, source, "prescriber number, refused", found)
    # The patient's copy (E7): its form, and the page with the passphrase shown once.
    _go(page, f"/exchange/{uid}/copy/", source, found, "practitioner")
    _submit(page, "[data-testid=copy-make]")
    _check(page, source, "the patient's copy, made", found)
    # A file leaving (E7, M3): the question, a plain copy refused (no reason), the passphrase page.
    _go(page, f"/compliance/print/{uid}/", source, found, "practitioner")
    page.check("input[name=delivery][value=plain]")
    _submit(page, "[data-testid=deliver]")
    _check(page, source, "a file in clear without a reason, refused", found)
    page.check("input[name=delivery][value=passphrase]")
    _submit(page, "[data-testid=deliver]")
    _check(page, source, "an encrypted file, its passphrase", found)
    page.context.clear_cookies()
    return uid


def _manager(page: Any, source: str, found: dict[str, list[str]]) -> None:
    sign_in(page, MANAGER)
    for path in ("/", "/accounts/users/", "/accounts/users/permissions/", "/accounts/settings/"):
        _go(page, path, source, found, "manager")
    # The practice's settings with a field emptied, and a new account without a name: refused
    # (in sudo mode: the password and a code again first; nothing is changed).
    page.goto("/accounts/settings/")
    _submit(page, "main form.form:not([action]) button[type=submit]")
    _confirm_if_asked(page, MANAGER)
    page.locator("main form.form:not([action]) input[type=number]").first.fill("")
    _submit(page, "main form.form:not([action]) button[type=submit]")
    _check(page, source, "settings, refused", found)
    page.goto("/accounts/users/")
    _submit(page, "form[action$='/users/new/'] button[type=submit]")
    _check(page, source, "new account, refused", found)
    for path in ("/access/policy/", "/compliance/", "/compliance/report/"):
        _go(page, path, source, found, "manager")
    page.goto("/compliance/")
    measure = page.locator("a[href^='/compliance/measures/']").first.get_attribute("href")
    for path in (measure, "/compliance/reports/", "/compliance/access-review/"):
        _go(page, path, source, found, "manager")
    # A breach to look at, reported from its page.
    page.goto("/compliance/breaches/new/")
    page.fill("textarea[name=what_happened]", "Un portable oublié dans le train (fictif).")
    _submit(page, "[data-testid=submit-breach]")
    _check(page, source, "breach", found)
    _submit(page, "form[action$='/assess/'] button[type=submit]")
    _check(page, source, "breach assessment, refused", found)
    _submit(page, "[data-testid=drafts-link]")
    _check(page, source, "breach drafts", found)
    _go(page, "/compliance/breaches/", source, found, "manager")
    # An intervention to correct, recorded from its page.
    _go(page, "/maintenance/new/", source, found, "manager")
    _submit(page, "[data-testid=save-entry]")
    _check(page, source, "maintenance form, refused", found)
    page.fill("input[name=intervener]", "Technicien fictif")
    page.fill("input[name=equipment]", "le serveur")
    page.check("input[name=not_workstation]")
    page.check("input[name=consent][value=no]")
    page.fill("textarea[name=what]", "Mise à jour (fictive).")
    _submit(page, "[data-testid=save-entry]")
    _go(page, "/maintenance/", source, found, "manager")
    _submit(page, "a[data-testid^=correct-]")
    _check(page, source, "maintenance correction", found)
    _go(page, "/maintenance/access/", source, found, "manager")
    _submit(page, "[data-testid=open-window]")
    _check(page, source, "maintenance access, refused", found)
    for path in ("/records/due/", "/records/certificates/", "/maintenance/export.csv"):  # J2, E7
        _go(page, path, source, found, "manager")
    page.context.clear_cookies()


# J1: one demo patient archived in the served instance, by the run's own write dated six years
# on (this patient only: the others stay active for the other browser tests).
ARCHIVE_ONE = """
import sys
import django
django.setup()
from django.utils import timezone
from secretum.access.actor import Actor
from secretum.lib.dates import add_years
from secretum.patients import archive, services
uid = services.patient_ref_for_niss(sys.argv[1])
archive._archive_one(Actor.system(), uid, 5, add_years(timezone.now(), 6))
print(uid)
"""
ARCHIVE_REASON = "Patient revenu après des années à l'étranger (fictif)"


def _archive_one(server: Server, patient: DemoPatient) -> str:
    env = {
        **os.environ,
        "SECRETUM_HOME": str(server.log.parent / "var"),
        "DJANGO_SETTINGS_MODULE": "secretum.settings",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    env.pop("SECRETUM_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", ARCHIVE_ONE, patient.niss_digits],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.strip().splitlines()[-1]


def _archive(page: Any, source: str, found: dict[str, list[str]], uid: str) -> None:
    """J1: the archived record's page for the secretary (refused) and the practitioner (a
    reason asked, refused when missing), the archived chart, its restore refused, then done."""
    sign_in(page, SECRETARY)
    page.goto(f"/patients/{uid}/")  # 403: checked all the same
    _check(page, source, "archived record, secretary", found)
    page.context.clear_cookies()
    sign_in(page, PRACTITIONER)
    page.goto(f"/patients/{uid}/")
    _check(page, source, "archived record", found)
    _submit(page, "[data-testid=archive-open-form] button[type=submit]")
    _check(page, source, "archived record, refused", found)
    page.fill("[data-testid=archive-open-form] textarea", ARCHIVE_REASON)
    _submit(page, "[data-testid=archive-open-form] button[type=submit]")
    _check(page, source, "archived chart", found)
    _submit(page, "[data-testid=restore-form] button[type=submit]")
    _check(page, source, "restore, refused", found)
    page.fill("[data-testid=restore-form] textarea", ARCHIVE_REASON)
    _submit(page, "[data-testid=restore-form] button[type=submit]")
    _check(page, source, "restored", found)
    page.context.clear_cookies()


def _auditor(page: Any, source: str, found: dict[str, list[str]], uid: str) -> None:
    sign_in(page, AUDITOR)
    for path in (
        "/audit/", "/audit/report/", f"/audit/report/{uid}/", f"/audit/report/{uid}/pdf/",
        "/audit/alerts/",
    ):  # fmt: skip
        _go(page, path, source, found, "auditor")
    page.goto("/audit/report/")
    _submit(page, "main form button[type=submit]")
    _check(page, source, "access report search, refused", found)
    _go(page, "/access/reviews/", source, found, "auditor")
    page.goto("/audit/")
    page.fill("input[name=since]", "1900-01-01")
    _submit(page, "[data-testid=audit-search]")
    _check(page, source, "audit filter, refused", found)
    page.context.clear_cookies()


def test_no_wcag_violation_on_any_page(
    page_in: Any, axe_source: str, demo_patients: tuple[DemoPatient, ...], server: Server
) -> None:
    """SC 1.1.1 to 4.1.2 as axe checks them: every page of PAGES, for the role that reaches it,
    and the forms refused."""
    page = page_in
    found: dict[str, list[str]] = {}
    _anonymous(page, axe_source, found)
    _secretary(page, axe_source, found, demo_patients[1])
    uid = _practitioner(page, axe_source, found, demo_patients[1])
    _manager(page, axe_source, found)
    _archive(page, axe_source, found, _archive_one(server, demo_patients[7]))
    _auditor(page, axe_source, found, uid)
    assert PAGES <= page.checked, sorted(PAGES - page.checked)
    assert found == {}, "\n".join(f"{where}: {v}" for where, vs in found.items() for v in vs)


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("axe-idle"), SECRETUM_IDLE_TIMEOUT="6") as running:
        yield running


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_no_wcag_violation_on_the_lock_screen(
    browser: Any, idle_server: Server, axe_source: str, language: str
) -> None:
    """The unlock page, as the idle lock (E1) shows it, then refused."""
    for page in _page_in(language, browser, idle_server):
        found: dict[str, list[str]] = {}
        sign_in(page, AUDITOR, fresh=True)
        page.goto("/audit/alerts/")
        page.wait_for_url(re.compile(r"/accounts/unlock/"), timeout=20_000)
        _check(page, axe_source, "lock screen", found)
        page.fill("#id_password", "not-the-password-2026")
        page.fill("#id_code", "12345")
        _submit(page, "form[data-reauth-form] button[type=submit]")
        _check(page, axe_source, "lock screen, refused", found)
        assert page.checked == LOCK_PAGES
        assert found == {}, "\n".join(f"{where}: {v}" for where, vs in found.items() for v in vs)


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_no_wcag_violation_on_the_identity_provider_pages(
    browser: Any, oidc_server: Server, axe_source: str, language: str
) -> None:
    """Back from the provider (its script that posts the page on held back, so that axe reads
    the page), then the confirmation of the identity to link (cancelled: nothing linked)."""
    for page in _page_in(language, browser, oidc_server):
        found: dict[str, list[str]] = {}
        _log_in_with_password(page)
        page.route(re.compile(r"/static/oidc[^/]*\.js"), lambda route: route.fulfill(body=""))
        page.goto("/accounts/")
        page.click("[data-testid=oidc-link]")
        _confirm_if_asked(page, PRACTITIONER)
        page.wait_for_url(re.compile(r"/accounts/oidc/callback/"))
        _check(page, axe_source, "back from the provider", found)
        page.unroute(re.compile(r"/static/oidc[^/]*\.js"))
        _submit(page, "form[data-oidc-continue] button[type=submit]")
        _check(page, axe_source, "link an identity", found)
        _submit(page, "button[name=decision][value=cancel]")
        assert page.checked == OIDC_PAGES
        assert found == {}, "\n".join(f"{where}: {v}" for where, vs in found.items() for v in vs)


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_no_wcag_violation_on_the_mail_pages(
    browser: Any, mail_server: Server, smtp: Any, axe_source: str, language: str
) -> None:
    """The correspondents (a new one refused, then added), the verification (a wrong code
    refused), the choice of recipient, the confirmation (refused unticked) and the sent page
    with its passphrase (M1, M3). Each language files one of the demo's two unfiled scans."""
    for page in _page_in(language, browser, mail_server):
        found: dict[str, list[str]] = {}
        patient = mail_server.patients[{"fr": 2, "nl": 3}[language]]
        walk(
            page, smtp.inbox, patient, f"dr.axe.{language}@hopital-fictif.example",
            lambda where, p=page, f=found: _check(p, axe_source, where, f),
        )  # fmt: skip
        assert page.checked == MAIL_PAGES
        assert found == {}, "\n".join(f"{where}: {v}" for where, vs in found.items() for v in vs)
