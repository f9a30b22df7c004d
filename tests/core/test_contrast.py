"""Contrast, computed from the colours of ``secretum.css`` (issue 16; WCAG 2.1 SC 1.4.3
contrast (minimum): 4.5:1 for text; SC 1.4.11 non-text contrast: 3:1 for the edge of an input).

The ratio is WCAG's: (L1 + 0.05) / (L2 + 0.05) of the relative luminances of the two sRGB
colours (WCAG 2.1, "relative luminance" and "contrast ratio").
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "secretum" / "static" / "secretum.css"
WHITE = "#ffffff"


def _rules(css: str) -> dict[str, str]:
    """Each rule's selector (as written) -> its declarations, comments left out."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    return {sel.strip(): body for sel, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css)}


def _variables(rules: dict[str, str]) -> dict[str, str]:
    return dict(re.findall(r"--([\w-]+)\s*:\s*([^;]+?)\s*(?:;|$)", rules[":root"]))


def _colour(value: str, variables: dict[str, str]) -> str:
    found = re.search(r"var\(--([\w-]+)\)|#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b", value)
    assert found, value
    if found.group(1):
        return _colour(variables[found.group(1)], variables)
    text = found.group(0)
    return "#" + "".join(c * 2 for c in text[1:]) if len(text) == 4 else text


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _declaration(body: str, name: str) -> str:
    found = re.search(rf"(?:^|;)\s*{name}\s*:\s*([^;]+)", body)
    assert found, (name, body)
    return found.group(1)


def test_the_ratio_is_wcags() -> None:
    assert ratio("#000000", WHITE) == pytest.approx(21)
    assert ratio("#777777", WHITE) == pytest.approx(4.48, abs=0.01)
    assert ratio(WHITE, WHITE) == 1


def test_input_edges_have_3_to_1_against_their_background_and_the_page() -> None:
    """SC 1.4.11: the border of a text field, a list and a text area (was 2.1:1)."""
    rules = _rules(CSS.read_text())
    variables = _variables(rules)
    body = rules["input, select, textarea"]
    border = _colour(_declaration(body, "border"), variables)
    inside = _colour(_declaration(body, "background"), variables)
    page = _colour(variables["bg"], variables)
    assert ratio(border, inside) >= 3 and ratio(border, page) >= 3, border


def test_older_versions_in_the_history_are_legible() -> None:
    """SC 1.4.3: an older version of an entry (was faded to 3.39:1) keeps 4.5:1 on its card."""
    rules = _rules(CSS.read_text())
    variables = _variables(rules)
    old = {sel: body for sel, body in rules.items() if ".history .old" in sel}
    assert old and not any("opacity" in body for body in old.values())
    colour = _colour(_declaration(rules[".history .old, .history .old dd"], "color"), variables)
    card = _colour(_declaration(rules[".card"], "background"), variables)
    assert ratio(colour, card) >= 4.5


@pytest.mark.parametrize(
    ("text", "background"),
    [("ink", "bg"), ("muted", "bg"), ("bad", "bg"), ("accent", "bg"), ("ok", "bg")],
)
def test_text_colours_have_4_5_to_1_on_the_page_and_on_white(text: str, background: str) -> None:
    """SC 1.4.3: the palette's text colours, on the page's grey and on a white card."""
    variables = _variables(_rules(CSS.read_text()))
    colour = _colour(variables[text], variables)
    assert ratio(colour, _colour(variables[background], variables)) >= 4.5
    assert ratio(colour, WHITE) >= 4.5
