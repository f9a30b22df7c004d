"""The chart's most numerous sections, made in one pass each (issue 17): consultation notes and
observations are three entries in four of a record (and each measure is a dot of a trend), and
the template's loop spent a context pushed and popped, a dozen lookups and several filters on
each; a medication was an included template of its own (a context, twenty conditions, three
forms). The markup is the templates', byte for byte (tests/clinical/test_chart_tags.py renders
both)."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterable
from typing import Any

from django import template
from django.template.defaulttags import CsrfTokenNode
from django.utils import timezone
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.translation import gettext, gettext_noop

from secretum.core.templatetags.secretum import (
    day,
    entry_links,
    entry_name,
    entry_value,
    isoday,
    label,
    moment,
    uid_url,
)

register = template.Library()

# The parts of a consultation note (SOAP), each shown when it holds something.
_SOAP = (("subjective", "S"), ("objective", "O"), ("assessment", "A"), ("plan", "P"))


def _shown(value: Any) -> str:
    """A value as ``{{ value }}`` shows it: escaped, nothing for a field the entry lacks."""
    return conditional_escape("" if value is None else value)


# Django's linebreaksbr turns "\r\n" and "\r" into "\n" first.
_NEWLINES = re.compile(r"\r\n|\r")


def _lines(value: Any) -> str:
    """As ``{{ value|linebreaksbr }}``: escaped (unless marked safe), each line break a
    ``<br>``. Django's filter reaches the same text through lazy wrappers costing about 15 µs a
    call, 1.4 % of a chart opening's processor time (bench/README.md)."""
    text = str(value) if isinstance(value, SafeData) else html.escape(str(value))
    return _NEWLINES.sub("\n", text).replace("\n", "<br>")


def _when(entry: Any) -> str:
    return moment(timezone.localtime(entry.recorded_at)) if entry.recorded_at else ""


@register.simple_tag(takes_context=True)
def encounter_notes(context: template.Context, entries: Iterable[Any]) -> SafeString:
    """``{% encounter_notes chart.entries.encounter %}``: each note, its SOAP parts and links."""
    notes = []
    for e in entries:
        values = e.values
        parts = "".join(
            "\n      "
            + (f"<p><b>{letter}</b> {_lines(values[name])}</p>" if values.get(name) else "")
            for name, letter in _SOAP
        )
        notes.append(
            f'\n    <div class="note"><h3>{_when(e)} · {_shown(e.author)} · '
            f"{_shown(values.get('reason', ''))}</h3>{parts}\n      {entry_links(context, e)}"
            "\n    </div>\n    "
        )
    if not notes:
        return mark_safe(  # noqa: S308  (a translation of ours, escaped)
            f'<p class="hint">{escape(gettext("No consultation recorded."))}</p>'
        )
    return mark_safe("".join(notes))  # noqa: S308  (every value above escaped)


@register.simple_tag(takes_context=True)
def observation_rows(context: template.Context, entries: Iterable[Any]) -> SafeString:
    """``{% observation_rows chart.entries.observation %}``: a row for each observation."""
    rows = [
        f"<tr><td>{_when(e)}</td><td>{escape(label(e.values.get('code'), 'observation'))}</td>"
        f"<td>{_shown(e.values.get('value', ''))} {_shown(e.values.get('unit', ''))}</td>"
        f"<td>{entry_links(context, e)}</td></tr>"
        for e in entries
    ]
    return mark_safe(  # noqa: S308  (every value above escaped)
        "".join(rows) or '<tr><td class="hint" colspan="4">—</td></tr>'
    )


# The description of a trend for a screen reader (its msgid as {% blocktranslate trimmed %}
# made it, so that the catalogues' translations still apply).
_TREND_DESC = gettext_noop(
    "From %(first)s to %(last)s: between %(low)s and %(high)s %(unit)s; latest %(latest)s %(unit)s."
)


def _local_day(value: dt.datetime) -> str:
    """As ``{{ value|day }}`` shows a trend's moment: the day it is in the current time zone."""
    return day(timezone.localtime(value))


def _caption_keys(trend: Any) -> str:
    if len(trend.lines) < 2:
        return ""
    return ": " + " · ".join(
        f'<span class="trend-key trend-key-{_shown(line.name)}">{_shown(line.label)}</span>'
        for line in trend.lines
    )


def _trend_figure(t: Any) -> str:
    code, unit = _shown(t.code), _shown(t.unit)
    first, last = _local_day(t.first), _local_day(t.last)
    said = {"first": first, "last": last, "low": _shown(t.low), "high": _shown(t.high)}
    desc = gettext(_TREND_DESC) % {**said, "unit": unit, "latest": _shown(t.latest)}
    grid = "".join(
        f'<line class="trend-grid" x1="{t.left}" x2="{t.right_edge}" y1="{_shown(tick.at)}" '
        f'y2="{_shown(tick.at)}"/><text class="trend-tick" x="{t.left - 6}" y="{_shown(tick.at)}" '
        f'text-anchor="end" dominant-baseline="middle">{_shown(tick.label)}</text>'
        for tick in t.ticks
    )
    return (
        f'<figure class="trend trend-{code}">\n'
        f'  <figcaption id="trend-{code}-caption">{_shown(t.label)} ({unit}){_caption_keys(t)}'
        "</figcaption>\n"
        f'  <svg viewBox="0 0 {t.width} {t.height}" role="img" '
        f'aria-labelledby="trend-{code}-caption trend-{code}-desc" focusable="false">\n'
        f'    <desc id="trend-{code}-desc">{desc}</desc>\n'
        f"    {grid}\n"
        f'    <text class="trend-date" x="{t.left}" y="{t.date_row}" text-anchor="start">{first}'
        f'</text><text class="trend-date" x="{t.right_edge}" y="{t.date_row}" text-anchor="end">'
        f"{last}</text>\n"
        f"    {trend_lines(t)}\n"
        "  </svg>\n</figure>"
    )


@register.simple_tag
def trend_figures(trends: Iterable[Any]) -> SafeString:
    """``{% trend_figures trends %}``: a chart's trends (issue 15; clinical/trends.py), one SVG
    figure each: its caption (with a key when it draws several lines), its description for a
    screen reader, its grid, its first and last dates, its lines and dots. Issue 17: an included
    template cost a chart with trends about 7 % of its time, in lookups and filters per tick."""
    drawn = list(trends)
    if not drawn:
        return mark_safe("\n\n")  # the included template's output without trends
    figures = "".join(_trend_figure(t) for t in drawn)
    page = f'\n<div class="trends" data-testid="trends">\n{figures}\n</div>\n'
    return mark_safe(page)  # noqa: S308  (every value escaped or a number; our translation)


@register.simple_tag
def trend_lines(trend: Any) -> SafeString:
    """``{% trend_lines t %}``: each line of a trend's chart (clinical/trends.py), then a dot for
    each measure, titled with its moment and its value as recorded."""
    unit = _shown(trend.unit)
    shown = moment if trend.timed else day
    parts = []
    for line in trend.lines:
        name = _shown(line.name)
        parts.append(
            f'<polyline class="trend-line trend-line-{name}" points="{_shown(line.points)}"/>\n    '
        )
        parts.extend(
            f'<circle class="trend-dot trend-dot-{name}" cx="{_shown(d.x)}" cy="{_shown(d.y)}" '
            f'r="3.5"><title>{shown(timezone.localtime(d.when))} — {_shown(d.text)} {unit}'
            "</title></circle>"
            for d in line.dots
        )
    return mark_safe("".join(parts))  # noqa: S308  (every value above escaped)


@register.simple_tag(takes_context=True)
def medication_items(
    context: template.Context, entries: Iterable[Any], *, active: bool
) -> SafeString:
    """``{% medication_items medications.0 active=True %}``: an item for each medication, with
    its links; an active one on a chart not archived also offers to stop it (a writer), to renew
    it and print its prescription (a prescriber)."""
    csrf = CsrfTokenNode().render(context)
    offers = active and not getattr(context.get("chart"), "archived", False)
    writer, prescriber = context.get("can_write_clinical"), context.get("can_prescribe")
    words = {key: escape(gettext(text)) for key, text in _MEDICATION_WORDS.items()}
    items = []
    for e in entries:
        v = e.values
        named = _shown(entry_name(e))
        hidden = f'<span class="visually-hidden">: {named}</span>'
        text = [f'<li data-testid="medication"><strong>{_shown(v.get("drug", ""))}</strong>']
        if v.get("strength"):
            text.append(f" {_shown(v['strength'])}")
        text.append(f" · {_shown(v.get('dose', ''))} · {_shown(v.get('frequency', ''))}")
        text.extend(
            shape.format(_shown(_medication_value(v, name)), **words)
            for name, shape in _MEDICATION_PARTS
            if v.get(name)
        )
        text.append(f" {entry_links(context, e)}\n")
        if offers:
            text.append('<span class="entry-links">\n')
            if writer:
                text.append(
                    f'<form method="post" action="{uid_url("clinical:stop", e.uid)}" '
                    f'class="inline">{csrf}<button type="submit" class="link" '
                    f'data-testid="stop-medication">{words["stop"]}{hidden}</button></form>'
                )
            text.append("\n")
            if prescriber:
                text.append(
                    f'<form method="post" action="{uid_url("clinical:renew", e.uid)}" '
                    f'class="inline">{csrf}<button type="submit" class="link" '
                    f'data-testid="renew-medication">{words["renew"]}{hidden}</button></form>\n'
                    '<form method="post" action="'
                    f'{uid_url("compliance:print_prescription", e.uid)}" class="inline" '
                    f'target="_blank">{csrf}<label><input type="checkbox" name="niss"> '
                    f'{words["niss"]}{hidden}</label> <button type="submit" '
                    f'class="link" data-testid="print-prescription">'
                    f"{words['print']}{hidden}</button></form>"
                )
            text.append("\n</span>")
        text.append("</li>\n")
        items.append("".join(text))
    return mark_safe("".join(items))  # noqa: S308  (every value above escaped, links reversed)


# The words of a medication's line and its offers (translated once a call, not once an item).
_MEDICATION_WORDS = {
    "since": gettext_noop("from"),
    "until": gettext_noop("stops on"),
    "stop": gettext_noop("stop"),
    "renew": gettext_noop("renew"),
    "niss": gettext_noop("with the national number"),
    "print": gettext_noop("print the prescription"),
}
# The line after the dose and frequency: each part shown when the medication has it ({0}: its
# value, escaped; the names: _MEDICATION_WORDS, translated).
_MEDICATION_PARTS = (
    ("route", " · {0}"),
    ("duration", " · {0}"),
    ("start", " · {since} {0}"),
    ("stop", " · {until} {0}"),
    ("cnk", " <small>CNK {0}</small>"),
    ("atc", " <small>ATC {0}</small>"),
)


def _medication_value(values: dict[str, Any], name: str) -> str:
    """A part of the line as a person reads it: the route by its label, dates as dates."""
    if name == "route":
        return entry_value("medication", name, values)
    if name in ("start", "stop"):
        return isoday(values[name])
    return str(values[name])
