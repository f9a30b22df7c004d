"""Display helpers for templates: the translated label of a stored code; dates and links of
the rows of a list, made quickly (a search lists up to fifty patients, a chart hundreds of
entries)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import template
from django.urls import reverse

from secretum.clinical.rules import OBSERVATION_CODES, SEVERITIES
from secretum.patients.forms import SEXES

register = template.Library()

_LABELS = {
    "observation": dict(OBSERVATION_CODES),
    "severity": dict(SEVERITIES),
    "sex": dict(SEXES),
}


@register.filter
def label(code: str | None, vocabulary: str) -> str:
    """``{{ e.values.code|label:"observation" }}`` -> "Blood pressure" (in the user's language)."""
    if not code:
        return ""
    return str(_LABELS.get(vocabulary, {}).get(code, code))


@register.filter
def get_item(mapping: dict[str, str | None], key: str) -> str | None:
    return mapping.get(key)


@register.filter(expects_localtime=True)
def day(value: dt.date | None) -> str:
    """``{{ value|day }}``: as ``{{ value|date:"d/m/Y" }}`` (a moment in the current time zone),
    without formatting machinery a fixed pattern does not need."""
    if not isinstance(value, dt.date):
        return ""
    return f"{value.day:02d}/{value.month:02d}/{value.year:04d}"


@register.filter(expects_localtime=True)
def moment(value: dt.datetime | None) -> str:
    """``{{ value|moment }}``: as ``{{ value|date:"d/m/Y H:i" }}``, in the current time zone."""
    if not isinstance(value, dt.datetime):
        return ""
    return f"{day(value)} {value.hour:02d}:{value.minute:02d}"


# Stands for the uid in a route reversed once per page (any UUID: only its place matters).
_UID_SLOT = str(uuid.UUID(int=0))


@register.simple_tag(takes_context=True)
def uid_url(context: Any, name: str, *args: Any) -> str:
    """``{% uid_url 'patients:detail' p.uid %}``: as ``{% url %}`` for a route whose last argument
    is a uid. The route is reversed once per request for each name and leading arguments, then
    each uid (checked to be one) takes its place."""
    *leading, uid = args
    text = str(uuid.UUID(str(uid)))
    request = context.get("request")
    if request is None:
        return reverse(name, args=[*leading, text])
    shapes = request.__dict__.setdefault("_secretum_uid_urls", {})
    key = (name, *map(str, leading))
    shape = shapes.get(key)
    if shape is None:
        shape = shapes[key] = reverse(name, args=[*leading, _UID_SLOT])
    return str(shape).replace(_UID_SLOT, text)
