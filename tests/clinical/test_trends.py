"""Trends (issue 15): the curve of each observation, drawn on the server from the chart's own
entries, readable without colour or script, with the figures written the same in every language."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.utils import timezone

from secretum.clinical import services
from secretum.clinical.services import Entry
from secretum.clinical.trends import BOTTOM, HEIGHT, LEFT, MAX_POINTS, RIGHT, TOP, WIDTH, trends
from tests.conftest import actor_for, client_for

START = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def observation(code: str, value: str, days: float, *, retracted: bool = False) -> Entry:
    return Entry(
        kind="observation",
        uid=f"{code}-{days}",
        recorded_at=START + dt.timedelta(days=days),
        author="Dr Test",
        values={"code": code, "value": value, "unit": ""},
        corrected=False,
        current=not retracted,
        retracted=retracted,
    )


def coordinates(points: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in (p.split(",") for p in points.split())]


def test_one_value_draws_no_curve_two_do_oldest_first() -> None:
    assert trends([observation("weight", "70", 0)]) == []
    (trend,) = trends([observation("weight", "72.5", 30), observation("weight", "70", 0)])
    assert (trend.code, trend.unit, trend.first, trend.latest) == ("weight", "kg", START, "72.5")
    (line,) = trend.lines
    (x0, y0), (x1, y1) = coordinates(line.points)
    assert x0 == LEFT and x1 == WIDTH - RIGHT  # the first and last readings at the plot's edges
    assert y1 < y0  # heavier is higher on the page
    assert TOP <= y1 and y0 <= HEIGHT - BOTTOM
    assert (trend.low, trend.high) == ("70", "72.5")


def test_time_is_to_scale() -> None:
    (trend,) = trends(
        [observation("height", "170", 0), observation("height", "171", 10),
         observation("height", "172", 100)]
    )  # fmt: skip
    xs = [x for x, _y in coordinates(trend.lines[0].points)]
    assert abs((xs[1] - xs[0]) / (xs[2] - xs[0]) - 0.1) < 0.01


def test_blood_pressure_is_two_lines_told_apart_by_name() -> None:
    (trend,) = trends([observation("bp", "130/85", 0), observation("bp", "120/80", 7)])
    assert [line.name for line in trend.lines] == ["systolic", "diastolic"]
    systolic, diastolic = (coordinates(line.points) for line in trend.lines)
    assert all(s[1] < d[1] for s, d in zip(systolic, diastolic, strict=True))
    assert trend.latest == "120/80" and (trend.low, trend.high) == ("80", "130")


def test_retracted_unreadable_and_unknown_values_are_left_out() -> None:
    drawn = trends(
        [
            observation("weight", "70", 0),
            observation("weight", "90", 1, retracted=True),
            observation("weight", "not a number", 2),
            observation("bp", "120", 3),  # one number where two are expected
            observation("bp", "120/80", 4),
            observation("pulse", "60", 5),
            observation("pulse", "62", 6),
        ]
    )
    assert drawn == []


def test_a_flat_series_and_one_day_still_draw_inside_the_frame() -> None:
    (trend,) = trends([observation("temperature", "37", 0), observation("temperature", "37", 0)])
    points = coordinates(trend.lines[0].points)
    assert [x for x, _y in points] == [LEFT, WIDTH - RIGHT]  # spread in the order recorded
    assert all(TOP < y < HEIGHT - BOTTOM for _x, y in points)


def test_only_the_latest_readings_are_drawn() -> None:
    series = [observation("weight", str(60 + i % 7), i) for i in range(MAX_POINTS + 25)]
    (trend,) = trends(series)
    assert len(trend.lines[0].dots) == MAX_POINTS
    assert trend.first == START + dt.timedelta(days=25)


def test_the_chart_page_draws_the_trends_without_script_or_inline_style(
    practitioner: Any, patient: Any
) -> None:
    actor = actor_for(practitioner)
    for value in ("70,5", "71", "69.8"):
        services.record_entry(actor, patient.uid, "observation", {"code": "weight", "value": value})
    services.record_entry(actor, patient.uid, "observation", {"code": "bp", "value": "120/80"})
    client = client_for(practitioner)
    client.cookies["django_language"] = "fr"
    page = client.get(f"/patients/{patient.uid}/", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    figures = re.findall(r'<figure class="trend trend-(\w+)">', page)
    assert figures == ["weight"]  # one blood pressure reading: the table, no curve
    svg = page[page.index("<svg") : page.index("</svg>")]
    assert "<script" not in svg and "style=" not in svg
    points = re.search(r'points="([^"]+)"', svg)
    assert points and len(coordinates(points.group(1))) == 3  # decimal points, not commas
    assert 'role="img"' in svg and "<desc" in svg
    today = timezone.localdate()
    assert f"{today:%d/%m/%Y}" in svg
    assert "69.8 kg" in svg and "70.5 kg" in svg  # each reading's own title


def test_a_change_no_doctor_would_call_one_does_not_fill_the_height() -> None:
    (trend,) = trends([observation("weight", "109.1", 0), observation("weight", "108.8", 9)])
    (y0, y1) = (y for _x, y in coordinates(trend.lines[0].points))
    assert (y1 - y0) < (HEIGHT - TOP - BOTTOM) / 4  # 300 g: a small slope, not a fall
    (wide,) = trends([observation("weight", "60", 0), observation("weight", "90", 9)])
    (y0, y1) = (y for _x, y in coordinates(wide.lines[0].points))
    assert (y0 - y1) > (HEIGHT - TOP - BOTTOM) * 0.75  # a real change uses the height
