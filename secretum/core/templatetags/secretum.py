"""Display helpers for templates: the translated label of a stored code."""

from __future__ import annotations

from django import template

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
