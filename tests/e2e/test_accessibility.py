"""Accessibility in the browser (issue 16, WCAG 2.1 AA, EN 301 549), in Debian's Chromium.

- Errors and help tied to their fields (SC 1.3.1 info and relationships, SC 3.3.1 error
  identification, SC 3.3.2 labels or instructions, SC 2.4.2 page titled): after a refused submit
  the focus is on an error summary at the top of the form, the title starts with "Error:", and
  each invalid field's ``aria-describedby`` resolves to the visible text of its error.
- Bypass blocks and structure (SC 2.4.1 bypass blocks, SC 1.3.1, SC 2.4.4 link purpose in
  context, SC 4.1.2 name, role, value): a skip link is the first stop of the keyboard and leads
  to the content; the current language is ``aria-current``; the observations and second-factor
  tables have header cells; each "correct" link of a chart names its entry.
- Keyboard (SC 2.1.1, 2.4.3, 2.4.7): a practitioner logs in, searches, opens a chart and records
  an observation with the keyboard alone, the focus ring shown at each stop.
- Reflow (SC 1.4.10): at 320 CSS px, the main pages of each role scroll only vertically; a wide
  table scrolls sideways in its own box; no field, term or value is cut by its card.

Elements are found by role, id, name or data attribute, never by visible text (the interface is
translated); the pages are the demo's, with its fictitious patients (N3).
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import PRACTITIONER, SECRETARY, DemoPatient, sign_in
from tests.e2e.test_audit_ui import AUDITOR
from tests.e2e.test_browser import open_record

pytestmark = pytest.mark.e2e

# For each invalid field: its id, its aria-describedby ids, and for each of those whether the
# element exists, is visible, and its text.
_DESCRIBED = """() => [...document.querySelectorAll('[aria-invalid=true]')].map((el) => ({
  id: el.id,
  ids: (el.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean),
  targets: (el.getAttribute('aria-describedby') || '').split(/\\s+/).filter(Boolean).map((id) => {
    const t = document.getElementById(id);
    return t ? {id, visible: !!(t.offsetWidth || t.offsetHeight), text: t.innerText.trim()} : null;
  }),
}))"""


def _assert_refused_form(page: Any, fields: set[str]) -> list[dict[str, Any]]:
    """The state of a refused form: the summary focused, "Error:" first in the title, each
    invalid field described by its visible error (and its help text, when it has one)."""
    summary = page.locator("[data-error-summary]")
    expect(summary).to_have_count(1)
    expect(summary).to_be_focused()
    prefix = summary.get_attribute("data-error-summary")
    assert prefix and page.title().startswith(prefix + " "), page.title()
    described = page.evaluate(_DESCRIBED)
    assert {d["id"] for d in described} == fields
    for d in described:
        assert f"{d['id']}_error" in d["ids"], d
        for target in d["targets"]:
            assert target is not None, d  # every id points at an element of the page
            assert target["visible"] and target["text"], d
        error = next(t for t in d["targets"] if t["id"] == f"{d['id']}_error")
        # The summary lists the same error, with a link to its field.
        link = summary.locator(f"a[href='#{d['id']}']")
        expect(link).to_have_count(1)
        assert error["text"].splitlines()[0] in link.inner_text()
    return described


def test_a_refused_login_focuses_the_summary_and_ties_each_error_to_its_field(page: Any) -> None:
    """SC 3.3.1, 1.3.1, 2.4.2: an empty password, then an unknown account."""
    page.goto("/accounts/login/")
    expect(page.locator("[data-error-summary]")).to_have_count(0)
    assert not page.title().startswith("Error")
    page.fill("#id_username", "nobody-a11y")
    with page.expect_navigation():
        page.click("form:has(#id_username) button[type=submit]")
    _assert_refused_form(page, {"id_password"})
    expect(page.locator("#id_username")).not_to_have_attribute("aria-invalid", "true")

    # A wrong account is the form's error, not a field's: in the summary, focused, as text.
    page.fill("#id_username", "nobody-a11y")
    page.fill("#id_password", "not-the-password-2026")
    with page.expect_navigation():
        page.click("form:has(#id_username) button[type=submit]")
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary.locator("li")).to_have_count(1)
    assert page.evaluate(_DESCRIBED) == []


def test_a_refused_patient_form_focuses_the_summary_and_ties_each_error_to_its_field(
    page: Any,
) -> None:
    """SC 3.3.1, 1.3.1, 3.3.2, 2.4.2: the secretary saves an empty identity form; the summary's
    links lead to each field; the asterisk of the required fields is explained once."""
    sign_in(page, SECRETARY)
    page.goto("/patients/new/")
    expect(page.locator(".required-note")).to_have_count(1)
    with page.expect_navigation():
        page.click("form.form button[type=submit]")
    invalid = {el.get_attribute("id") for el in page.locator("[aria-invalid=true]").all()}
    assert {"id_family_name", "id_given_name", "id_birth_date"} <= invalid
    described = _assert_refused_form(page, invalid)
    # A field with a help text is described by both, its help first.
    with_help = [d for d in described if f"{d['id']}_helptext" in d["ids"]]
    for d in with_help:
        assert d["ids"] == [f"{d['id']}_helptext", f"{d['id']}_error"]
    # Following a link of the summary puts the focus in its field.
    first = page.locator("[data-error-summary] a").first
    target = first.get_attribute("href")
    first.click()
    expect(page.locator(str(target))).to_be_focused()


def test_the_skip_link_is_the_first_stop_and_leads_to_the_content(page: Any) -> None:
    """SC 2.4.1: one Tab, Enter, and the focus is on the main content, past the header."""
    sign_in(page, SECRETARY)
    for path in ("/", "/accounts/"):  # pages without an autofocus field
        page.goto(path)
        page.keyboard.press("Tab")
        skip = page.locator("a.skip-link")
        expect(skip).to_be_focused()
        expect(skip).to_be_visible()  # shown when focused
        assert skip.get_attribute("href") == "#main"
        page.keyboard.press("Enter")
        expect(page.locator("main#main")).to_be_focused()
    # On a page whose search field takes the focus, the link still comes first in the order.
    page.goto("/patients/")
    first = page.evaluate(
        "() => [...document.querySelectorAll('a[href], button, input:not([type=hidden])')]"
        ".find((e) => e.tabIndex >= 0).className"
    )
    assert first == "skip-link"


def test_the_current_language_is_marked_for_assistive_technology(page: Any) -> None:
    """SC 1.3.1, 4.1.2: not by bold alone."""
    page.goto("/accounts/login/")
    current = page.locator("form.lang button[aria-current=true]")
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("value", str(page.locator("html").get_attribute("lang")))
    with page.expect_navigation():
        page.click("form.lang button[value=nl]")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    current = page.locator("form.lang button[aria-current=true]")
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("value", "nl")


def _headers(page: Any, table: str) -> list[str]:
    return list(
        page.locator(f"{table} thead th[scope=col]").evaluate_all(
            "e => e.map(x => x.id || x.innerText)"
        )
    )


def test_chart_tables_have_headers_and_each_correct_link_names_its_entry(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    """SC 1.3.1: header cells in the observations table; SC 2.4.4: the chart's "correct" links
    each have their own accessible name (the entry, then when it was recorded); SC 1.4.10: the
    observations card no longer clips its links."""
    sign_in(page, PRACTITIONER)
    open_record(page, demo_patients[3])
    for code, value in (("weight", "71"), ("weight", "72"), ("bp", "120/80")):
        with page.expect_navigation():
            page.click('a[href$="/observation/new/"]')
        page.select_option("select[name=code]", code)
        page.fill("input[name=value]", value)
        with page.expect_navigation():
            page.click("form.form button[type=submit]")
    assert len(_headers(page, "[data-testid=observations] table")) == 4
    links = page.locator("[data-testid=chart] a[href$='/correct/']")
    assert links.count() >= 3
    names = [
        " ".join(str(name).split()) for name in links.evaluate_all("e => e.map(a => a.textContent)")
    ]
    hidden = links.first.locator(".visually-hidden")
    expect(hidden).to_have_count(1)
    assert len(set(names)) == len(names), names  # no two links with the same name
    # SC 1.4.10: at 1,280 and 1,024 px the observations card shows its links whole.
    for width in (1280, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        card = page.locator("[data-testid=observations]")
        assert card.evaluate("c => c.scrollWidth <= c.clientWidth"), width


def test_the_second_factor_table_has_header_cells(page: Any) -> None:
    """SC 1.3.1: the account page's tables say what each column holds."""
    sign_in(page, SECRETARY)
    page.goto("/accounts/")
    assert len(_headers(page, "[data-testid=factors] table")) == 4
    assert len(_headers(page, "[data-testid=sessions] table")) == 5


MANAGER = ("gestion", "demo-manager-2026")

# What sticks out at the current width: the page itself scrolling sideways; any element, outside
# a table, that passes the right edge of its card (or of the header, or of the page's main
# part), where a card's scroll box would cut it; a table that is wider than its box without a
# box that scrolls.
_OVERFLOW = """() => {
  const found = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth + 1) found.push('the page: ' + root.scrollWidth + ' px');
  for (const e of document.querySelectorAll('main *, header *')) {
    if (e.closest('table, .visually-hidden')) continue;
    const r = e.getBoundingClientRect();
    if (!r.width) continue;
    const box = e.parentElement.closest('.card, main, header').getBoundingClientRect();
    if (r.right > box.right + 1 || r.right > window.innerWidth + 1)
      found.push(e.tagName + ' ' + (e.textContent || '').trim().slice(0, 40));
  }
  for (const table of document.querySelectorAll('main table')) {
    if (table.getBoundingClientRect().width <= table.parentElement.clientWidth + 1) continue;
    let box = table.parentElement;
    const scrolls = (el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX);
    while (box && !scrolls(box)) box = box.parentElement;
    if (!box || box === document.body || box === root) found.push('a table outside a scroll box');
  }
  return found;
}"""

_PAGES = {
    "practitioner": (
        PRACTITIONER, ["/", "/patients/", "/scheduling/", "/accounts/", "/breaches/help/"]
    ),
    "secretary": (SECRETARY, ["/", "/patients/new/", "/scheduling/"]),
    "manager": (
        MANAGER,
        ["/", "/accounts/users/", "/accounts/settings/", "/compliance/", "/breaches/breaches/",
         "/maintenance/", "/access/policy/"],
    ),
    "auditor": (AUDITOR, ["/", "/audit/", "/audit/report/", "/audit/alerts/", "/access/reviews/"]),
}  # fmt: skip


@pytest.mark.parametrize("role", sorted(_PAGES))
def test_the_main_pages_reflow_at_320_px(
    page: Any, demo_patients: tuple[DemoPatient, ...], role: str
) -> None:
    """SC 1.4.10: 320 CSS px wide (1,280 px at 400 % zoom), no sideways scrolling of the page,
    nothing cut; tables scroll in their own box. The chart too, for the practitioner."""
    account, paths = _PAGES[role]
    page.set_viewport_size({"width": 320, "height": 800})
    page.goto("/accounts/login/")
    assert page.evaluate(_OVERFLOW) == [], "/accounts/login/"
    sign_in(page, account)
    assert page.evaluate("window.innerWidth") == 320
    for path in paths:
        page.goto(path)
        assert page.evaluate(_OVERFLOW) == [], path
    if role == "practitioner":
        # Patients 0 to 3 only: the break-the-glass tests need patients the practitioner has
        # not declared (open_record declares care), and the other browser tests use these.
        open_record(page, demo_patients[0])
        assert page.evaluate(_OVERFLOW) == [], "the chart"


def test_a_refused_form_not_called_form_still_titles_the_page_error(page: Any) -> None:
    """SC 3.3.1, 2.4.2: the breach page holds five forms; the refused one shows its summary,
    focused, and the script puts "Error:" first in the title."""
    sign_in(page, MANAGER)
    page.goto("/compliance/breaches/new/")
    page.fill("textarea[name=what_happened]", "Fictitious: a test of the error summary.")
    with page.expect_navigation():
        page.click("[data-testid=submit-breach]")
    assert not page.title().startswith("Error")
    page.fill("input[name=people_count]", "-4")
    with page.expect_navigation():
        page.click("[data-testid=save-assessment]")
    summary = page.locator("[data-error-summary]")
    expect(summary).to_have_count(1)
    expect(summary).to_be_focused()
    assert page.title().startswith(str(summary.get_attribute("data-error-summary")) + " ")


def _tab_to(page: Any, selector: str, most: int = 80) -> None:
    """Press Tab until the focus is on ``selector`` (SC 2.1.1: reachable by the keyboard)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            # SC 2.4.7: the focus shows (the browser's ring: no style of ours removes it).
            assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
            return
    raise AssertionError(f"{selector} not reached with {most} presses of Tab on {page.url}")


def _enter(page: Any) -> None:
    with page.expect_navigation():
        page.keyboard.press("Enter")


def test_keyboard_alone_logs_in_searches_opens_a_chart_and_records_an_observation(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    """SC 2.1.1 keyboard, SC 2.4.3 focus order, SC 2.4.7 focus visible: no mouse from the login
    to a recorded observation."""
    from tests.e2e.conftest import totp_code

    patient = demo_patients[2]
    page.goto("/accounts/login/")
    expect(page.locator("#id_username")).to_be_focused()  # the field takes the focus
    page.keyboard.type(PRACTITIONER[0])
    page.keyboard.press("Tab")
    page.keyboard.type(PRACTITIONER[1])
    _enter(page)
    if not page.evaluate("document.activeElement.id === 'id_code'"):
        _tab_to(page, "#id_code")
    page.keyboard.type(totp_code(PRACTITIONER[0]))
    _enter(page)
    if page.locator("form:has(input[name=version]) button[type=submit]").count():
        _tab_to(page, "form:has(input[name=version]) button[type=submit]")
        _enter(page)
    expect(page.locator("[data-testid=who]")).to_be_visible()

    _tab_to(page, "header nav a[href='/patients/']")
    _enter(page)
    expect(page.locator("input[name=q]")).to_be_focused()
    page.keyboard.type(patient.niss)
    _enter(page)
    _tab_to(page, "[data-testid=results] a[href^='/patients/']")
    _enter(page)
    if page.locator("[data-testid=declare-care]").count():
        _tab_to(page, "[data-testid=declare-care]")
        _enter(page)
    expect(page.locator("[data-testid=chart]")).to_be_visible()

    _tab_to(page, 'a[href$="/observation/new/"]')
    _enter(page)
    _tab_to(page, "select[name=code]")
    for _ in range(12):  # the list's arrow keys, until blood pressure is chosen
        if page.evaluate("document.activeElement.value") == "bp":
            break
        page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.value") == "bp"
    _tab_to(page, "input[name=value]")
    page.keyboard.type("131/84")
    _enter(page)
    expect(page.locator("[data-testid=observations]")).to_contain_text("131/84")


def test_switching_language_keeps_the_page_state(page: Any) -> None:
    """SC 3.2.2 on input, 3.1.2: changing the language keeps the agenda's day; it changes the
    language of the page, nothing else."""
    sign_in(page, SECRETARY)
    page.goto("/scheduling/?day=2026-12-03")
    with page.expect_navigation():
        page.click("form.lang button[value=nl]")
    assert page.url.endswith("/scheduling/?day=2026-12-03"), page.url
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    with page.expect_navigation():
        page.click("form.lang button[value=fr]")
    assert page.url.endswith("/scheduling/?day=2026-12-03"), page.url
    expect(page.locator("html")).to_have_attribute("lang", "fr")
