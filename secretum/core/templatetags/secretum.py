"""Display helpers for templates: the translated label of a stored code; dates and links of
the rows of a list, made quickly (a search lists up to fifty patients, a chart hundreds of
entries)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from secretum.access.forms import CATEGORIES
from secretum.audit.vocabulary import VOCABULARIES
from secretum.breaches.entries import FIELD_LABELS, PEOPLE_CATEGORIES, RECORD_CATEGORIES
from secretum.breaches.models import Breach
from secretum.clinical.rules import OBSERVATION_CODES, SEVERITIES, SPECS
from secretum.core.templatetags import routes
from secretum.patients.forms import SEXES

register = template.Library()

# Issue 16, "no raw codes on screen": every vocabulary whose codes a page shows, by name. The
# audit log's own (action, resource, purpose, outcome, role) are in ``audit.vocabulary``.
_LABELS: dict[str, Mapping[str, Any]] = {
    **VOCABULARIES,
    "observation": dict(OBSERVATION_CODES),
    "severity": dict(SEVERITIES),
    "sex": dict(SEXES),
    "breach-field": FIELD_LABELS,
    "breach-risk": dict(Breach.Risk.choices),
    "breach-people": PEOPLE_CATEGORIES,
    "breach-records": RECORD_CATEGORIES,
    "glass-category": dict(CATEGORIES),
}
# The breach fields whose stored value is a code, or codes separated by commas.
_BREACH_CODED = {
    "risk": "breach-risk",
    "people_categories": "breach-people",
    "record_categories": "breach-records",
}


@register.filter
def label(code: str | None, vocabulary: str) -> str:
    """``{{ e.values.code|label:"observation" }}`` -> "Blood pressure" (in the user's language)."""
    if not code:
        return ""
    return str(_LABELS.get(vocabulary, {}).get(code, code))


@register.simple_tag
def entry_value(kind: str, name: str, values: dict[str, Any]) -> str:
    """A clinical entry's field as a person reads it: a coded field (an observation's code, an
    allergy's severity) by its label, not its code (issue 16)."""
    value = values.get(name)
    if value in (None, ""):
        return "—"
    for spec in SPECS.get(kind, ()):
        if spec.name == name and spec.choices:
            return str(dict(spec.choices).get(value, value))
    return str(value)


@register.filter
def breach_value(value: Any, name: str) -> str:
    """A value of a breach entry's history as a person reads it (issue 16): a moment stored in
    ISO 8601 as a local date and time, a code or a list of codes by their labels."""
    if value is None or value == "":
        return "—"
    if name in _BREACH_CODED:
        return ", ".join(label(code, _BREACH_CODED[name]) for code in str(value).split(",") if code)
    if name.endswith("_at") and isinstance(value, str):
        try:
            when = parse_datetime(value)
        except ValueError:
            when = None
        if when is not None:
            if timezone.is_aware(when):
                when = timezone.localtime(when)
            return moment(when)
    return str(value)


@register.filter
def get_item(mapping: dict[str, str | None], key: str) -> str | None:
    """``{{ values|get_item:name }}`` (kept for templates of other branches)."""
    return mapping.get(key)


@register.filter(expects_localtime=True)
def day(value: dt.date | None) -> str:
    """``{{ value|day }}``: as ``{{ value|date:"d/m/Y" }}`` (a moment in the current time zone),
    without formatting machinery a fixed pattern does not need."""
    if not isinstance(value, dt.date):
        return ""
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


@register.filter
def isoday(value: str | None) -> str:
    """``{{ "2026-03-14"|isoday }}``: a date stored as ISO 8601 text, as ``day`` shows dates;
    anything else as it is."""
    try:
        return day(dt.date.fromisoformat(value or ""))
    except ValueError:
        return value or ""


@register.filter(expects_localtime=True)
def clock(value: dt.datetime | None) -> str:
    """``{{ value|clock }}``: as ``{{ value|time:"H:i" }}``, in the current time zone."""
    if not isinstance(value, dt.datetime):
        return ""
    return f"{value.hour:02d}:{value.minute:02d}"


@register.filter(expects_localtime=True)
def moment(value: dt.datetime | None) -> str:
    """``{{ value|moment }}``: as ``{{ value|date:"d/m/Y H:i" }}``, in the current time zone."""
    if not isinstance(value, dt.datetime):
        return ""
    return f"{day(value)} {clock(value)}"


# Stands for the uid in a route reversed once per process (any UUID: only its place matters).
_UID_SLOT = str(uuid.UUID(int=0))


@register.simple_tag
def uid_url(name: str, *args: Any) -> str:
    """``{% uid_url 'patients:detail' p.uid %}``: as ``{% url %}`` for a route whose last argument
    is a uid. The route is reversed once per process for each name and leading arguments
    (``routes.reversed_once``), then each uid (checked to be one) takes its place."""
    *leading, uid = args
    text = str(uuid.UUID(str(uid)))
    shape = routes.reversed_once(name, (*map(str, leading), _UID_SLOT))
    return shape.replace(_UID_SLOT, text)


@register.filter
def has_required(form: Any) -> bool:
    """Whether a form shows a required field: its asterisk is then explained once, above the
    fields (WCAG 3.3.2)."""
    return any(f.field.required and not f.is_hidden for f in form)


@register.simple_tag
def entry_name(entry: Any) -> str:
    """A few words naming a clinical entry (its main field, then when it was recorded): the
    hidden part of its "correct" and "corrected" links, so that the eight "correct" links of a
    chart each say which entry they correct (WCAG 2.4.4). The main field is the entry's first,
    or its label when the first are a code and its system (a problem's); a coded first field is
    followed by the next one (an observation's value and unit)."""
    specs = SPECS.get(getattr(entry, "kind", ""), ())
    values = getattr(entry, "values", {}) or {}
    main = ""
    for place, spec in enumerate(specs):
        if spec.name == "system" or (spec.name == "code" and not spec.choices):
            continue
        main = entry_value(entry.kind, spec.name, values)
        if spec.choices and place + 1 < len(specs):  # "Weight 71 kg", not only "Weight"
            following = specs[place + 1].name
            shown = " ".join(str(values.get(n) or "") for n in (following, "unit")).strip()
            main = f"{main} {shown}".strip()
        break
    when = moment(timezone.localtime(entry.recorded_at)) if entry.recorded_at else ""
    return ", ".join(part for part in (main, when) if part and part != "—")


@register.simple_tag(takes_context=True)
def entry_links(context: Any, entry: Any) -> SafeString:
    """``{% entry_links e %}``: the links after a clinical entry of the chart, "corrected" (to its
    history) and "correct", each naming the entry for a screen reader (WCAG 2.4.4). Issue 17: one
    call per entry, where an included template per entry cost a chart of twenty entries about
    0.8 ms; the markup is the one the template made."""
    named = escape(entry_name(entry))
    links = []
    if entry.corrected:
        history = uid_url("clinical:history", entry.kind, entry.uid)
        links.append(
            f'<a href="{history}" title="{escape(gettext("History"))}">'
            f'{escape(gettext("corrected"))}<span class="visually-hidden">: {named}</span></a>'
        )
    if context.get("can_write_clinical") and not getattr(context.get("chart"), "archived", False):
        correct = uid_url("clinical:correct", entry.kind, entry.uid)
        links.append(
            f' <a href="{correct}">{escape(gettext("correct"))}'
            f'<span class="visually-hidden">: {named}</span></a>'
        )
    return mark_safe(f'<span class="entry-links">{"".join(links)}</span>')  # noqa: S308  (escaped)
