"""The display helpers of the pages read most often (issue 10, "Performance"): dates and links
made quickly, and exactly as Django's own ``date`` filter and ``{% url %}`` tag make them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.template import Context, Template
from django.urls import set_script_prefix
from django.utils import timezone

from secretum.core.templatetags import routes

MOMENTS = [
    dt.datetime(2026, 3, 29, 0, 59, 59, tzinfo=dt.UTC),  # the night summer time starts
    dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC),  # and ends
    dt.datetime(1999, 12, 31, 23, 5, tzinfo=dt.UTC),  # the next day in Brussels
    dt.datetime(1900, 1, 1, 9, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 11, 30, 8, 7),  # naive: shown as it is
]


def _render(text: str, **context: Any) -> str:
    return Template("{% load secretum %}" + text).render(Context(context))


@pytest.mark.parametrize("zone", ["Europe/Brussels", "UTC", "Pacific/Kiritimati"])
def test_day_and_moment_show_what_the_date_filter_shows(zone: str) -> None:
    with timezone.override(zone):
        for value in [*MOMENTS, dt.date(1971, 3, 4), dt.date(2026, 12, 31), None, ""]:
            assert _render("{{ v|day }}", v=value) == _render('{{ v|date:"d/m/Y" }}', v=value)
        for value in [*MOMENTS, None]:
            assert _render("{{ v|moment }}", v=value) == _render(
                '{{ v|date:"d/m/Y H:i" }}', v=value
            )

        for value in [*MOMENTS, None, "", dt.date(2026, 12, 31)]:
            # A day without its time, or nothing: no time shown, as the time filter shows none.
            assert _render("{{ v|clock }}", v=value) == _render('{{ v|time:"H:i" }}', v=value)


@pytest.mark.parametrize("prefix", ["/", "/cabinet/"])
def test_uid_url_makes_the_links_url_makes(prefix: str) -> None:
    """Reversed once per process for each route and script prefix, the same link as
    ``{% url %}`` for every uid; a value that is not a uid is refused, never put in a link."""
    set_script_prefix(prefix)
    try:
        uids = [uuid.uuid4() for _ in range(3)]
        for uid in [*uids, str(uids[0]).upper()]:
            plain = str(uuid.UUID(str(uid)))
            ours = _render("{% uid_url 'patients:detail' u %}", u=uid)
            assert ours == _render("{% url 'patients:detail' u %}", u=plain)
            for route in ("clinical:correct", "clinical:history"):
                ours = _render(f"{{% uid_url '{route}' 'allergy' u %}}", u=uid)
                theirs = _render(f"{{% url '{route}' 'allergy' u %}}", u=plain)
                assert ours == theirs and ours.startswith(prefix)
        for route in ("patients:detail", "clinical:correct"):
            assert any(key[0] == route and key[3] == prefix for key in routes._KEPT)
        with pytest.raises(ValueError):
            _render("{% uid_url 'patients:detail' u %}", u="../../admin")
    finally:
        set_script_prefix("/")


# What ``clinical/entry_links.html`` was, included once per entry before issue 17: the reference
# the tag must match, byte for byte.
_ENTRY_LINKS_TEMPLATE = (
    '{% load i18n secretum %}{% entry_name e as named %}<span class="entry-links">'
    "{% if e.corrected %}<a href=\"{% uid_url 'clinical:history' e.kind e.uid %}\" "
    'title="{% translate \'History\' %}">{% translate "corrected" %}'
    '<span class="visually-hidden">: {{ named }}</span></a>{% endif %}'
    "{% if can_write_clinical and not chart.archived %} "
    '<a href="{% uid_url \'clinical:correct\' e.kind e.uid %}">{% translate "correct" %}'
    '<span class="visually-hidden">: {{ named }}</span></a>{% endif %}</span>'
)


@pytest.mark.parametrize("language", ["en", "fr", "nl"])
def test_entry_links_make_what_the_included_template_made(language: str, rf: Any) -> None:
    """Every combination (corrected or not, a writer or not, an archived chart or none), in each
    language, and an entry whose text carries markup: the same bytes as the template, so the
    entry's name is escaped where the template escaped it."""
    from types import SimpleNamespace

    from django.utils import translation

    hostile = '<img src=x onerror="alert(1)"> & Arachide'
    with translation.override(language):
        for corrected in (False, True):
            entry = SimpleNamespace(
                kind="allergy",
                uid=uuid.uuid4(),
                corrected=corrected,
                values={"substance": hostile, "severity": "severe"},
                recorded_at=MOMENTS[0],
            )
            for writer in (False, True):
                for chart in (
                    None,
                    SimpleNamespace(archived=False),
                    SimpleNamespace(archived=True),
                ):
                    context = {"e": entry, "can_write_clinical": writer, "chart": chart}
                    theirs = Template(_ENTRY_LINKS_TEMPLATE).render(
                        Context({**context, "request": rf.get("/")})
                    )
                    ours = _render("{% entry_links e %}", request=rf.get("/"), **context)
                    assert ours == theirs
                    assert "<img" not in ours
