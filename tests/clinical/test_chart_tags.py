"""The chart's notes and observations made by a tag each (issue 17): the same bytes as the
template loops they replace, in every language, for every combination a chart shows (parts
present or not, lines, a writer or not, a corrected entry, an archived chart, none at all), and
the patient's own words escaped wherever the loop escaped them."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from django.template import Context, Template
from django.template.defaultfilters import linebreaksbr
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

from secretum.clinical.templatetags import chart as chart_tags

# The loops of patients/detail.html before issue 17: the reference the tags must match.
_NOTES_LOOP = """{% load i18n secretum %}
    {% for e in chart.entries.encounter %}
    <div class="note"><h3>{{ e.recorded_at|moment }} · {{ e.author }} · {{ e.values.reason }}</h3>
      {% if e.values.subjective %}<p><b>S</b> {{ e.values.subjective|linebreaksbr }}</p>{% endif %}
      {% if e.values.objective %}<p><b>O</b> {{ e.values.objective|linebreaksbr }}</p>{% endif %}
      {% if e.values.assessment %}<p><b>A</b> {{ e.values.assessment|linebreaksbr }}</p>{% endif %}
      {% if e.values.plan %}<p><b>P</b> {{ e.values.plan|linebreaksbr }}</p>{% endif %}
      {% entry_links e %}
    </div>
    {% empty %}<p class="hint">{% translate "No consultation recorded." %}</p>{% endfor %}"""
_OBSERVATIONS_LOOP = (
    "{% load i18n secretum %}{% for e in chart.entries.observation %}<tr><td>"
    '{{ e.recorded_at|moment }}</td><td>{{ e.values.code|label:"observation" }}</td><td>'
    "{{ e.values.value }} {{ e.values.unit }}</td><td>{% entry_links e %}</td></tr>{% empty %}"
    '<tr><td class="hint" colspan="4">—</td></tr>{% endfor %}'
)
# clinical/medication.html, included for each medication before issue 17.
_MEDICATION_INCLUDED = (
    "{% load i18n secretum %}{% entry_name e as named %}"
    '<li data-testid="medication"><strong>{{ e.values.drug }}</strong>{% if e.values.strength %}'
    " {{ e.values.strength }}{% endif %}"
    " · {{ e.values.dose }} · {{ e.values.frequency }}{% if e.values.route %}"
    ' · {% entry_value "medication" "route" e.values %}{% endif %}'
    "{% if e.values.duration %} · {{ e.values.duration }}{% endif %}"
    '{% if e.values.start %} · {% translate "from" %}'
    " {{ e.values.start|isoday }}{% endif %}{% if e.values.stop %}"
    ' · {% translate "stops on" %} {{ e.values.stop|isoday }}{% endif %}'
    "{% if e.values.cnk %} <small>CNK {{ e.values.cnk }}</small>{% endif %}"
    "{% if e.values.atc %} <small>ATC {{ e.values.atc }}</small>{% endif %}"
    " {% entry_links e %}\n"
    '{% if active and not chart.archived %}<span class="entry-links">\n'
    "{% if can_write_clinical %}"
    '<form method="post" action="{% uid_url \'clinical:stop\' e.uid %}'
    '" class="inline">{% csrf_token %}'
    '<button type="submit" class="link" data-testid="stop-medication">{% translate "stop" %}'
    '<span class="visually-hidden">: {{ named }}</span></button></form>{% endif %}\n'
    "{% if can_prescribe %}"
    '<form method="post" action="{% uid_url \'clinical:renew\' e.uid %}'
    '" class="inline">{% csrf_token %}'
    '<button type="submit" class="link" data-testid="renew-medication">{% translate "renew" %}'
    '<span class="visually-hidden">: {{ named }}</span></button></form>\n'
    '<form method="post" action="{% uid_url \'compliance:print_prescription\' e.uid %}'
    '" class="inline" target="_blank">{% csrf_token %}'
    '<label><input type="checkbox" name="niss"> {% translate "with the national number" %}'
    '<span class="visually-hidden">: {{ named }}</span></label> '
    '<button type="submit" class="link" data-testid="print-prescription">'
    '{% translate "print the prescription" %}'
    '<span class="visually-hidden">: {{ named }}</span></button></form>{% endif %}\n'
    "</span>{% endif %}</li>\n"
)
_MEDICATIONS_LOOP = (
    "{% load i18n secretum %}<ul>{% for e in medications.0 %}{% include medication with "
    'active=True %}{% empty %}<li class="hint">—</li>{% endfor %}</ul><ul>'
    "{% for e in medications.1 %}{% include medication with active=False %}{% endfor %}</ul>"
)
_MEDICATIONS_TAG = (
    "{% load chart %}<ul>{% medication_items medications.0 active=True %}"
    '{% if not medications.0 %}<li class="hint">—</li>{% endif %}</ul>'
    "<ul>{% medication_items medications.1 active=False %}</ul>"
)
_NOTES_TAG = "{% load chart %}\n    {% encounter_notes chart.entries.encounter %}"
_OBSERVATIONS_TAG = "{% load chart %}{% observation_rows chart.entries.observation %}"

HOSTILE = '<script>alert("x")</script> & <b>gras</b>'
WHEN = dt.datetime(2026, 3, 29, 0, 59, 59, tzinfo=dt.UTC)  # the night summer time starts


def _entry(kind: str, values: dict[str, Any], *, corrected: bool = False) -> Any:
    return SimpleNamespace(
        kind=kind,
        uid=uuid.uuid4(),
        corrected=corrected,
        values=values,
        recorded_at=WHEN,
        author=f"Dr Éloïse {HOSTILE}",
    )


NOTES = [
    _entry(
        "encounter",
        {
            "reason": f"Toux {HOSTILE}",
            "subjective": "depuis 3 jours\nla nuit surtout\r\n<i>fièvre</i>",
            "objective": "",
            "assessment": "bronchite",
            "plan": "repos\n\nrevoir dans 1 semaine",
        },
        corrected=True,
    ),
    _entry("encounter", {"reason": "Contrôle", "subjective": "", "plan": "—"}),
    _entry("encounter", {}),  # a note whose parts are all missing
]
MEDICATIONS = [
    _entry(
        "medication",
        {
            "drug": f"Amlodipine {HOSTILE}",
            "strength": "5 mg",
            "dose": "1 comprimé",
            "frequency": "1x/jour",
            "route": "oral",
            "duration": "3 mois",
            "start": "2026-11-20",
            "stop": "2027-02-18",
            "cnk": "1234567",
            "atc": "C08CA01",
        },
        corrected=True,
    ),
    _entry("medication", {"drug": "Paracétamol", "dose": "1 g", "frequency": HOSTILE}),
    _entry("medication", {"drug": "Oméprazole", "route": HOSTILE, "stop": "pas une date"}),
]
OBSERVATIONS = [
    _entry("observation", {"code": "weight", "value": "70.5", "unit": "kg"}),
    _entry("observation", {"code": "unknown-code", "value": HOSTILE}, corrected=True),
    _entry("observation", {"value": "12"}),
    _entry("observation", {"code": HOSTILE, "value": "1", "unit": HOSTILE}),  # shown as stored
]


def _both(loop: str, tag: str, context: dict[str, Any], rf: Any) -> tuple[str, str]:
    made = [Template(t).render(Context({**context, "request": rf.get("/")})) for t in (loop, tag)]
    return made[0], made[1]


@pytest.mark.parametrize("language", ["en", "fr", "nl"])
@pytest.mark.parametrize("zone", ["Europe/Brussels", "UTC"])
def test_the_tags_make_what_the_loops_made(language: str, zone: str, rf: Any) -> None:
    with translation.override(language), timezone.override(zone):
        medication = Template(_MEDICATION_INCLUDED)
        for writer, prescriber in itertools.product((False, True), repeat=2):
            for archived in (False, True):
                for notes, observations, medications in (
                    (NOTES, OBSERVATIONS, (MEDICATIONS[:2], MEDICATIONS[2:])),
                    ([], [], ([], [])),
                    ([], [], ([], MEDICATIONS)),
                ):
                    chart = SimpleNamespace(
                        archived=archived,
                        entries={"encounter": notes, "observation": observations},
                    )
                    context = {
                        "chart": chart,
                        "can_write_clinical": writer,
                        "can_prescribe": prescriber,
                        "medications": medications,
                        "medication": medication,
                        "csrf_token": "a-token-of-the-session",
                    }
                    for loop, tag in (
                        (_NOTES_LOOP, _NOTES_TAG),
                        (_OBSERVATIONS_LOOP, _OBSERVATIONS_TAG),
                        (_MEDICATIONS_LOOP, _MEDICATIONS_TAG),
                    ):
                        theirs, ours = _both(loop, tag, context, rf)
                        assert ours == theirs
                        assert "<script>" not in ours and "<i>" not in ours


def test_a_note_keeps_its_lines_and_escapes_its_words(rf: Any) -> None:
    chart = SimpleNamespace(archived=False, entries={"encounter": NOTES[:1]})
    made = Template(_NOTES_TAG).render(Context({"chart": chart, "request": rf.get("/")}))
    assert "<p><b>S</b> depuis 3 jours<br>la nuit surtout<br>&lt;i&gt;fièvre&lt;/i&gt;</p>" in made
    assert "<b>O</b>" not in made  # an empty part is not shown
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;gras" in made


@pytest.mark.parametrize(
    "value",
    [
        "one line",
        "a\nb\r\nc\rd\n\n",
        "\r\r\n\n\r",
        "<script>alert(\"x\")</script> & <b>gras</b>\n'quoted'",
        mark_safe("<i>already safe</i>\r\nnext"),
        "",
        42,
    ],
)
def test_a_notes_lines_are_what_linebreaksbr_makes(value: Any) -> None:
    """Every way a line can end, markup escaped as Django escapes it, a text marked safe kept."""
    assert chart_tags._lines(value) == linebreaksbr(value, autoescape=True)


# The lines and dots of clinical/trends.html before issue 17 (`t` a trend of clinical/trends.py).
_TREND_LOOP = (
    "{% load secretum %}"
    '{% for line in t.lines %}<polyline class="trend-line trend-line-{{ line.name }}" '
    'points="{{ line.points }}"/>\n    {% for d in line.dots %}<circle class="trend-dot '
    'trend-dot-{{ line.name }}" cx="{{ d.x }}" cy="{{ d.y }}" r="3.5"><title>{% if t.timed %}'
    "{{ d.when|moment }}{% else %}{{ d.when|day }}{% endif %} — {{ d.text }} {{ t.unit }}"
    "</title></circle>{% endfor %}{% endfor %}"
)
_TREND_TAG = "{% load chart %}{% trend_lines t %}"


def _measure(code: str, value: str, days: int) -> Any:
    return SimpleNamespace(
        kind="observation",
        recorded_at=WHEN + dt.timedelta(days=days, hours=days),
        values={"code": code, "value": value},
        retracted=False,
    )


def _lab(value: str, unit: str, taken_on: str) -> Any:
    values = {"loinc": "2345-7", "test": f"Glucose {HOSTILE}", "value": value, "unit": unit}
    return SimpleNamespace(
        kind="lab_result",
        recorded_at=WHEN,
        values={**values, "taken_on": taken_on, "low": "70", "high": "110"},
        retracted=False,
    )


@pytest.mark.parametrize("language", ["en", "fr", "nl"])
@pytest.mark.parametrize("zone", ["Europe/Brussels", "UTC", "America/Montreal"])
def test_a_trends_lines_and_dots_are_what_the_loop_made(language: str, zone: str) -> None:
    from secretum.clinical.trends import trends

    measures = [_measure("bp", f"{120 + i}/{80 - i}", i) for i in range(4)] + [
        _measure("weight", value, i) for i, value in enumerate(("70.5", "71", "69.8"))
    ]
    results = [_lab("95", HOSTILE, "2026-02-01"), _lab("104", HOSTILE, "2026-03-29")]
    drawn = trends(measures, results)
    assert [len(t.lines) for t in drawn] == [2, 1, 1] and not drawn[-1].timed
    with translation.override(language), timezone.override(zone):
        for t in drawn:
            theirs, ours = (
                Template(x).render(Context({"t": t})) for x in (_TREND_LOOP, _TREND_TAG)
            )
            assert ours == theirs
            assert "<script>" not in ours
        assert "&lt;script&gt;" in ours  # the lab's unit, as the patient's record holds it
    empty = SimpleNamespace(lines=(), unit="", timed=True)
    assert Template(_TREND_TAG).render(Context({"t": empty})) == ""


# clinical/trends.html, included by patients/detail.html before issue 17 (its comment aside).
_TRENDS_INCLUDED = (
    "{% load i18n secretum chart %}\n"
    '{% if trends %}<div class="trends" data-testid="trends">\n'
    '{% for t in trends %}<figure class="trend trend-{{ t.code }}">\n'
    '  <figcaption id="trend-{{ t.code }}-caption">{{ t.label }} ({{ t.unit }}){% if'
    ' t.lines|length > 1 %}: {% for line in t.lines %}<span class="trend-key'
    ' trend-key-{{ line.name }}">{{ line.label }}</span>{% if not forloop.last %} ·'
    " {% endif %}{% endfor %}{% endif %}</figcaption>\n"
    '  <svg viewBox="0 0 {{ t.width }} {{ t.height }}" role="img"'
    ' aria-labelledby="trend-{{ t.code }}-caption trend-{{ t.code }}-desc"'
    ' focusable="false">\n'
    '    <desc id="trend-{{ t.code }}-desc">{% blocktranslate trimmed with'
    " first=t.first|day last=t.last|day low=t.low high=t.high unit=t.unit"
    " latest=t.latest %}From {{ first }} to {{ last }}: between {{ low }} and {{"
    " high }} {{ unit }}; latest {{ latest }} {{ unit }}.{% endblocktranslate"
    " %}</desc>\n"
    '    {% for tick in t.ticks %}<line class="trend-grid" x1="{{ t.left }}" x2="{{'
    ' t.right_edge }}" y1="{{ tick.at }}" y2="{{ tick.at }}"/><text'
    ' class="trend-tick" x="{{ t.left|add:\'-6\' }}" y="{{ tick.at }}"'
    ' text-anchor="end" dominant-baseline="middle">{{ tick.label }}</text>{% endfor'
    " %}\n"
    '    <text class="trend-date" x="{{ t.left }}" y="{{ t.date_row }}"'
    ' text-anchor="start">{{ t.first|day }}</text><text class="trend-date" x="{{'
    ' t.right_edge }}" y="{{ t.date_row }}" text-anchor="end">{{ t.last|day'
    " }}</text>\n"
    "    {% trend_lines t %}\n"
    "  </svg>\n"
    "</figure>{% endfor %}\n"
    "</div>{% endif %}\n"
)
_TRENDS_TAG = "{% load chart %}{% trend_figures trends %}"


@pytest.mark.parametrize("language", ["en", "fr", "nl"])
@pytest.mark.parametrize("zone", ["Europe/Brussels", "UTC", "America/Montreal"])
def test_a_charts_trends_are_what_the_included_template_made(language: str, zone: str) -> None:
    """Every figure (two lines and their key, one line, a lab's trend by day), none at all, and
    the patient's own words (a lab's unit) escaped where the template escaped them."""
    from secretum.clinical.trends import trends

    measures = [_measure("bp", f"{120 + i}/{80 - i}", i) for i in range(4)] + [
        _measure("weight", value, i) for i, value in enumerate(("70.5", "71", "69.8"))
    ]
    results = [_lab("95", HOSTILE, "2026-02-01"), _lab("104", HOSTILE, "2026-03-29")]
    with translation.override(language), timezone.override(zone):
        for drawn in (trends(measures, results), trends(measures[:1]), []):
            theirs, ours = (
                Template(x).render(Context({"trends": drawn}))
                for x in (_TRENDS_INCLUDED, _TRENDS_TAG)
            )
            assert ours == theirs
            assert "<script>" not in ours
        made = Template(_TRENDS_TAG).render(Context({"trends": trends(measures, results)}))
    assert made.count("<figure") == 3 and "&lt;script&gt;" in made
