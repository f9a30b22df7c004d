"""The markup of a form's fields (issue 16; WCAG 2.1 SC 1.3.1 info and relationships, SC 3.3.1
error identification, SC 3.3.2 labels or instructions): every id that Django's BoundField puts in
a widget's ``aria-describedby`` is an element of the page, a group of choices is a fieldset named
by its legend, and the required fields' asterisk is explained once."""

from __future__ import annotations

import re

from django import forms
from django.template.loader import render_to_string


class _Form(forms.Form):
    name = forms.CharField(label="Name", help_text="As on the identity card.")
    colour = forms.ChoiceField(
        label="Colour",
        choices=[("red", "Red"), ("blue", "Blue")],
        widget=forms.RadioSelect,
        help_text="One only.",
    )
    note = forms.CharField(label="Note", required=False)
    token = forms.CharField(widget=forms.HiddenInput, required=False)


class _Optional(forms.Form):
    note = forms.CharField(label="Note", required=False)


def _ids(html: str) -> set[str]:
    return set(re.findall(r'\bid="([^"]+)"', html))


def _described(html: str) -> list[str]:
    return [i for group in re.findall(r'aria-describedby="([^"]+)"', html) for i in group.split()]


def test_every_described_id_is_on_the_page_and_errors_are_summarised() -> None:
    html = render_to_string("form_fields.html", {"form": _Form({"note": "x"})})
    described = _described(html)
    assert {"id_name_helptext", "id_name_error", "id_colour_helptext", "id_colour_error"} <= set(
        described
    )
    assert set(described) <= _ids(html)
    assert html.count('aria-invalid="true"') == 3  # the text field and each radio button
    assert re.search(r'<fieldset aria-describedby="id_colour_helptext id_colour_error">', html)
    assert "<legend>Colour" in html and 'for="id_token"' not in html
    summary = html.split("data-error-summary")[1]
    assert 'href="#id_name"' in summary and 'href="#id_colour_0"' in summary
    assert html.count("required-note") == 1


def test_an_unbound_form_has_no_summary_and_a_form_without_required_field_no_note() -> None:
    html = render_to_string("form_fields.html", {"form": _Form()})
    assert "data-error-summary" not in html and "_error" not in html
    assert "required-note" in html
    assert "required-note" not in render_to_string("form_fields.html", {"form": _Optional()})
