"""The privacy screen (E6) in a real browser: one key or one click hides the page at once (an
opaque cover over the whole window, the page blurred and inert beneath it, the tab's title
neutral); the same key or click shows it again as it was, without a reload and without losing
what was typed; keyboard only, announced to screen readers; optionally when the window loses
focus; and the idle lock (E1) wins over it.

Elements are found by data-testid, never by visible text (the interface is translated).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.utils import translation
from playwright.sync_api import expect

from tests.e2e.conftest import PRACTITIONER, DemoPatient, Server, running_server, sign_in
from tests.e2e.test_browser import open_record, patient_uid, search

pytestmark = pytest.mark.e2e

HIDE_KEY = "Control+Alt+KeyH"

# What the page shows and what a screen reader can reach, as the browser computes it.
STATE = """() => {
  const cover = document.querySelector("[data-privacy-cover]");
  const box = cover.getBoundingClientRect();
  const active = document.activeElement;
  return {
    hidden: !cover.hidden,
    cover: [box.left, box.top, box.width, box.height],
    viewport: [window.innerWidth, window.innerHeight],
    background: getComputedStyle(cover).backgroundColor,
    opacity: getComputedStyle(cover).opacity,
    inert: ["header", "main", "footer"].map((s) => document.querySelector("body > " + s).inert),
    blur: getComputedStyle(document.querySelector("main")).filter,
    title: document.title,
    focus: active.dataset.testid || active.getAttribute("name") || active.tagName,
    status: document.querySelector("[data-privacy-status]").textContent,
  };
}"""

# Every place on screen where the text shows, unless something else is drawn over it there.
UNCOVERED = """(text) => {
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.textContent.toUpperCase().includes(text.toUpperCase())) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const r of range.getClientRects()) {
      const x = r.left + r.width / 2, y = r.top + r.height / 2;
      if (x < 0 || y < 0 || x > window.innerWidth || y > window.innerHeight) continue;
      const top = document.elementFromPoint(x, y);
      if (top && (top === node.parentElement || node.parentElement.contains(top))) {
        found.push(node.textContent.trim());
      }
    }
  }
  return found;
}"""


def _state(page: Any) -> dict[str, Any]:
    return dict(page.evaluate(STATE))


def _said(language: str | Any, message: str) -> str:
    """``message`` in ``language``, or in the language of the page ``language``."""
    if not isinstance(language, str):
        language = language.evaluate("document.documentElement.lang")
    with translation.override(language):
        return str(translation.gettext(message))


def _assert_hidden(page: Any, patient: DemoPatient) -> dict[str, Any]:
    state = _state(page)
    assert state["hidden"] and state["cover"] == [0, 0, *state["viewport"]], state
    assert state["opacity"] == "1" and not state["background"].startswith("rgba"), state
    assert state["inert"] == [True, True, True] and state["blur"].startswith("blur("), state
    assert state["title"] == "Secretum"
    assert state["focus"] == "privacy-show"  # the focus is on the way back, inside the cover
    # The name is on the page still (nothing was removed), and nowhere to be seen.
    assert patient.family_name.upper() in page.content().upper()
    assert page.evaluate(UNCOVERED, patient.family_name) == []
    return state


def _assert_shown(page: Any, title: str) -> dict[str, Any]:
    state = _state(page)
    assert not state["hidden"] and state["inert"] == [False, False, False], state
    assert state["blur"] == "none" and state["title"] == title
    return state


def _hide_and_show(
    page: Any, patient: DemoPatient, *, click: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Hide the screen (the key, or a click on its button) and find it hidden; show it again the
    same way and find it as it was, its title back: both states."""
    title = page.title()
    page.click("[data-testid=privacy-hide]") if click else page.keyboard.press(HIDE_KEY)
    hidden = _assert_hidden(page, patient)
    page.click("[data-testid=privacy-show]") if click else page.keyboard.press(HIDE_KEY)
    return hidden, _assert_shown(page, title)


def test_the_key_hides_the_chart_and_shows_it_again_as_it_was(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[2]
    sign_in(page, PRACTITIONER)
    chart_url = open_record(page, patient)
    title = page.title()
    assert patient.family_name.upper() in title.upper()  # the tab's title names the patient
    assert page.evaluate(UNCOVERED, patient.family_name)  # and the page shows the name
    page.evaluate("window.scrollTo(0, 200)")
    scrolled = page.evaluate("window.scrollY")
    assert scrolled > 0
    hidden, shown = _hide_and_show(page, patient)
    assert hidden["status"] == _said(page, "The screen is hidden.")
    assert shown["status"] == _said(page, "The screen is shown again.")
    assert page.url == chart_url
    assert page.evaluate("window.scrollY") == scrolled  # where the reader was

    # A form half typed: hidden and shown, what was typed is there and the caret where it was.
    with page.expect_navigation():
        page.click('a[href$="/observation/new/"]')
    assert urlsplit(page.url).path.endswith(f"/{patient_uid(chart_url)}/observation/new/")
    page.evaluate("window.notReloaded = 'still the same page'")
    page.select_option("select[name=code]", "bp")
    page.click("input[name=value]")
    page.keyboard.type("128/")
    assert _hide_and_show(page, patient)[1]["focus"] == "value"
    page.keyboard.type("82")
    assert page.input_value("input[name=value]") == "128/82"
    assert page.input_value("select[name=code]") == "bp"
    assert page.evaluate("window.notReloaded") == "still the same page"


def test_one_click_hides_and_one_click_shows(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[2]
    sign_in(page, PRACTITIONER)
    open_record(page, patient)
    _hidden, shown = _hide_and_show(page, patient, click=True)
    assert shown["focus"] == "privacy-hide"  # back on the button that hid it


def test_a_hidden_screen_looks_the_same_whatever_it_hides(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    """Pixel by pixel: a chart hidden and the search page hidden are the same image, so nothing
    of what lies beneath (a name, a colour, the page's length) shows through the cover."""
    sign_in(page, PRACTITIONER)
    open_record(page, demo_patients[3])
    page.keyboard.press(HIDE_KEY)
    chart = page.screenshot()
    search(page, demo_patients[4].family_name[:3])
    page.keyboard.press(HIDE_KEY)
    assert page.screenshot() == chart
    page.keyboard.press(HIDE_KEY)
    page.keyboard.press(HIDE_KEY)
    assert page.screenshot() == chart


def test_keyboard_only_escape_twice_hides_and_the_focus_stays_on_the_cover(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[2]
    sign_in(page, PRACTITIONER)
    open_record(page, patient)
    title = page.title()
    page.keyboard.press("Escape")
    page.wait_for_timeout(800)
    page.keyboard.press("Escape")
    assert not _state(page)["hidden"]  # two presses far apart are not "twice"
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    _assert_hidden(page, patient)
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    _assert_hidden(page, patient)  # Escape never shows it again
    for _ in range(6):  # Tab never reaches the page beneath
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "document.activeElement.closest('body > header, body > main, body > footer') === null"
        )
        assert focused
    page.focus("[data-testid=privacy-show]")
    page.keyboard.press("Enter")
    _assert_shown(page, title)


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_the_buttons_and_the_cover_are_named_in_the_users_language(
    page: Any, language: str
) -> None:
    sign_in(page, PRACTITIONER)
    page.goto("/")
    with page.expect_navigation():
        page.click(f"form.lang button[value={language}]")
    hide = page.locator("[data-testid=privacy-hide]")
    expect(hide).to_have_accessible_name(_said(language, "Hide screen"))
    assert hide.get_attribute("aria-keyshortcuts") == "Control+Alt+H"
    hide.click()
    cover = page.get_by_role("dialog")
    expect(cover).to_have_accessible_name(_said(language, "Screen hidden"))
    expect(cover).to_have_attribute("aria-modal", "true")
    expect(page.locator("[data-testid=privacy-show]")).to_have_accessible_name(
        _said(language, "Show the screen")
    )
    expect(page.locator("[data-testid=privacy-status]")).to_have_attribute("aria-live", "polite")
    expect(page.locator("[data-testid=privacy-status]")).to_have_text(
        _said(language, "The screen is hidden.")
    )


def _blur_window(page: Any) -> None:
    """The window loses the focus. Headless Chromium keeps every page focused (Playwright's focus
    emulation), so the event the browser sends then is sent here: a blur on the window."""
    page.evaluate("window.dispatchEvent(new FocusEvent('blur'))")


def test_losing_the_focus_hides_the_screen_only_where_this_browser_chose_it(
    page: Any, demo_patients: tuple[DemoPatient, ...]
) -> None:
    patient = demo_patients[2]
    sign_in(page, PRACTITIONER)
    chart_url = open_record(page, patient)
    title = page.title()
    _blur_window(page)  # off by default
    assert not _state(page)["hidden"]

    page.goto("/accounts/")
    section = page.locator("[data-testid=privacy-screen]")
    expect(section).to_be_visible()
    box = page.locator("[data-testid=privacy-on-blur]")
    expect(box).not_to_be_checked()
    box.check()
    expect(section.locator("[role=status]")).to_have_text(_said(page, "Saved for this browser."))
    page.reload()
    expect(box).to_be_checked()  # kept by this browser

    page.goto(chart_url)
    _blur_window(page)
    _assert_hidden(page, patient)
    page.evaluate("window.dispatchEvent(new FocusEvent('focus'))")
    _assert_hidden(page, patient)  # coming back does not show it: the key or the button does
    page.keyboard.press(HIDE_KEY)
    _assert_shown(page, title)

    # A file chooser takes the focus without leaving the screen.
    page.evaluate(
        "() => { const f = document.createElement('input'); f.type = 'file';"
        " document.querySelector('main').append(f); f.focus(); }"
    )
    _blur_window(page)
    assert not _state(page)["hidden"]

    page.goto("/accounts/")
    box.uncheck()
    page.goto(chart_url)
    _blur_window(page)
    assert not _state(page)["hidden"]


# Longer than the page's pause between two reports of activity to the server (secretum.js,
# PING_EVERY = 30 s): activity behind the screen would have postponed the lock, were it counted.
IDLE_SECONDS = 35


@pytest.fixture(scope="module")
def idle_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # A provider's ceiling on the idle lock, shortened for the test (E1).
    with running_server(
        tmp_path_factory.mktemp("idle"), SECRETUM_IDLE_TIMEOUT=str(IDLE_SECONDS)
    ) as running:
        yield running


def test_the_idle_lock_wins_over_the_privacy_screen(browser: Any, idle_server: Server) -> None:
    """E1 and E6: behind the privacy screen, moving the mouse or pressing Tab is no activity;
    the idle lock comes at its time, and then the password and a second factor are asked."""
    context = browser.new_context(ignore_https_errors=True, base_url=idle_server.base_url)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        sign_in(page, PRACTITIONER, fresh=True)
        patient = idle_server.patients[0]
        open_record(page, patient)
        started = time.monotonic()
        page.keyboard.press(HIDE_KEY)
        _assert_hidden(page, patient)
        step = 0
        # Someone fidgets in front of the hidden screen, well past the lock's time.
        while "/accounts/unlock/" not in page.url and time.monotonic() - started < 2 * IDLE_SECONDS:
            step += 1
            page.mouse.move(100 + step % 50 * 5, 100 + step % 30 * 3)
            page.keyboard.press("Tab")
            page.wait_for_timeout(250)
        assert "/accounts/unlock/" in page.url, "the idle lock did not come"
        assert time.monotonic() - started < IDLE_SECONDS + 10
        expect(page.locator("[data-testid=lock-screen]")).to_be_visible()
        assert patient.family_name.upper() not in page.content().upper()
    finally:
        context.close()
