"""A search's results, made in one pass (issue 17): a name search lists up to fifty patients,
and the template's loop spent a context pushed and popped, six lookups and a filter on each
row, about a tenth of the request (a py-spy profile, bench/README.md). The markup is the
template's, byte for byte (tests/patients/test_result_rows.py renders both)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from secretum.core.templatetags.secretum import day, uid_url

register = template.Library()


@register.simple_tag
def result_rows(patients: Iterable[Any]) -> SafeString:
    """``{% result_rows result.patients %}``: one row a patient, its name a link to the chart,
    "altered outside Secretum" beside a record altered: shown, never hidden."""
    said = escape(gettext("altered outside Secretum"))
    altered = f' <strong class="error" data-testid="altered">{said}</strong>'
    rows = [
        f'\n      <tr><td><a href="{uid_url("patients:detail", p.uid)}">'
        f"{conditional_escape(p.display_name)}</a>{altered if p.altered else ''}</td>"
        f"\n      <td>{conditional_escape(day(p.birth_date))}</td>"
        f"<td>{conditional_escape(p.niss_display)}</td><td>{conditional_escape(p.city)}</td></tr>"
        "\n    "
        for p in patients
    ]
    return mark_safe("".join(rows))  # noqa: S308  (every value above escaped)
