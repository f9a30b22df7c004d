"""Trends: the curve of each numeric observation over time, drawn on the server (issue 15).

A doctor reads a curve faster than a table. The chart page draws one small SVG per observation
with at least two current values (weight, blood pressure as two lines, height, temperature),
from the entries the chart has already read and decrypted: no query, no decryption, no audit
event of its own. The drawing is plain SVG markup written by the template from the figures
computed here, so the page keeps its Content Security Policy (no script, no inline style), and
every figure is a string with a decimal point whatever the language (a comma would break the
``points`` attribute). The table beside it stays the accessible source: each curve also names
its range and latest value in words, and each point carries its date and value as a title.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy

from secretum.clinical import labs
from secretum.clinical.rules import OBSERVATION_CODES, UNITS

if TYPE_CHECKING:
    from secretum.clinical.services import Entry

# The drawing's frame, in SVG user units; the page scales it to the card's width.
WIDTH, HEIGHT = 480, 170
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 28
MAX_POINTS = 60  # the latest ones: a curve of years is read better in the history
NOON = dt.time(12, tzinfo=dt.UTC)  # a lab sample's day, placed where every time zone keeps it
_ONE: tuple[tuple[str, str | Promise], ...] = (("value", ""),)

_LINES: dict[str, tuple[tuple[str, str | Promise], ...]] = {
    # One line per number in the value; "bp" is systolic/diastolic.
    "bp": (("systolic", gettext_lazy("systolic")), ("diastolic", gettext_lazy("diastolic"))),
}


@dataclass(frozen=True)
class Dot:
    x: str
    y: str
    when: dt.datetime
    text: str  # the value as recorded, e.g. "120/80" or "72.5"


@dataclass(frozen=True)
class Line:
    name: str  # CSS class suffix: value, systolic, diastolic
    label: str | Promise
    points: str  # the polyline's "x,y x,y …"
    dots: tuple[Dot, ...]


@dataclass(frozen=True)
class Tick:
    at: str  # y coordinate
    label: str


@dataclass(frozen=True)
class Trend:
    code: str
    label: str | Promise
    unit: str
    lines: tuple[Line, ...]
    ticks: tuple[Tick, ...]
    first: dt.datetime
    last: dt.datetime
    low: str
    high: str
    latest: str
    timed: bool = True  # points at a moment (observations); False: on a day (lab samples)

    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right_edge: int = WIDTH - RIGHT
    bottom_edge: int = HEIGHT - BOTTOM
    date_row: int = HEIGHT - 8


def _numbers(code: str, value: str | None) -> tuple[Decimal, ...] | None:
    """The numbers of a stored value (validated when it was recorded), or None if unreadable."""
    parts = (value or "").split("/") if code == "bp" else [value or ""]
    numbers = [labs.number(part) for part in parts]
    wanted = len(_LINES.get(code, ((code, ""),)))
    if len(numbers) != wanted or None in numbers:
        return None
    return tuple(n for n in numbers if n is not None)


def _text(number: Decimal | float) -> str:
    """A coordinate or a figure with a decimal point and no exponent, whatever the locale."""
    return f"{Decimal(str(number)).quantize(Decimal('0.1')).normalize():f}"


# The smallest range a curve spans, so that a change no doctor would call one (300 g of weight)
# does not fill the height of the drawing and read as a fall.
MIN_SPAN = {
    "bp": Decimal(40),
    "weight": Decimal(4),
    "height": Decimal(4),
    "temperature": Decimal(2),
}


def _figure(number: Decimal) -> str:
    """A value as recorded, without trailing zeros or an exponent."""
    return f"{number.normalize():f}"


def _tick(number: Decimal) -> str:
    """A computed figure (a grid line's), to three significant digits."""
    return _figure(Decimal(f"{float(number):.3g}"))


def _scale(low: Decimal, high: Decimal, min_span: Decimal) -> tuple[Decimal, Decimal]:
    """The plotted range: the values' own with a margin, at least the smallest span given."""
    margin = (high - low) / 10
    low, high = low - margin, high + margin
    missing = min_span - (high - low)
    if missing > 0:
        low, high = low - missing / 2, high + missing / 2
    return low, high


Series = Sequence[tuple[dt.datetime, str, tuple[Decimal, ...]]]


def _draw(
    code: str,
    label: str | Promise,
    unit: str,
    names: Sequence[tuple[str, str | Promise]],
    min_span: Decimal,
    series: Series,
) -> Trend:
    start, end = series[0][0], series[-1][0]
    span = (end - start).total_seconds()
    everything = [n for _when, _text_, numbers in series for n in numbers]
    low, high = _scale(min(everything), max(everything), min_span)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int, when: dt.datetime) -> str:
        share = (
            (when - start).total_seconds() / span
            if span
            else index / max(len(series) - 1, 1)  # all on one day: in the order recorded
        )
        return _text(LEFT + share * plot_w)

    def y(number: Decimal) -> str:
        return _text(TOP + (high - number) / (high - low) * plot_h)

    lines = []
    for position, (name, line_label) in enumerate(names):
        dots = tuple(
            Dot(x(i, when), y(numbers[position]), when, shown)
            for i, (when, shown, numbers) in enumerate(series)
        )
        lines.append(Line(name, line_label, " ".join(f"{d.x},{d.y}" for d in dots), dots))
    middle = (low + high) / 2
    ticks = tuple(Tick(y(value), _tick(value)) for value in (high, middle, low))
    return Trend(
        code=code,
        label=label,
        unit=unit,
        lines=tuple(lines),
        ticks=ticks,
        first=start,
        last=end,
        low=_figure(min(everything)),
        high=_figure(max(everything)),
        latest=series[-1][1],
    )


def trends(observations: Iterable[Entry], results: Iterable[Entry] = ()) -> list[Trend]:
    """One trend per observation code with at least two current, readable values, oldest point
    first, in the order of the observation codes; then the lab tests' (lab_trends). Retracted
    entries are left out."""
    by_code: dict[str, list[tuple[dt.datetime, str, tuple[Decimal, ...]]]] = {}
    for entry in observations:
        code = entry.values.get("code") or ""
        if entry.retracted or code not in UNITS:
            continue
        numbers = _numbers(code, entry.values.get("value"))
        if numbers is not None:
            by_code.setdefault(code, []).append(
                (entry.recorded_at, entry.values.get("value") or "", numbers)
            )
    drawn = []
    for code, label in OBSERVATION_CODES:
        series = sorted(by_code.get(code, []), key=lambda point: point[0])[-MAX_POINTS:]
        if len(series) >= 2:
            names = _LINES.get(code, (("value", ""),))
            drawn.append(_draw(code, label, UNITS[code], names, MIN_SPAN[code], series))
    return drawn + lab_trends(results)


def _lab_series(entries: list[Entry], unit: str) -> Series:
    series = []
    for entry in entries:
        value = labs.number(entry.values.get("value"))
        if value is not None:
            value = labs.convert(value, entry.values.get("unit") or "", unit)
        if value is None:
            continue  # a text result, or a unit of another kind: the table shows it
        day = dt.date.fromisoformat(entry.values.get("taken_on") or "")
        series.append((dt.datetime.combine(day, NOON), _figure(value), (value,)))
    return series


def lab_trends(results: Iterable[Entry]) -> list[Trend]:
    """One trend per lab test (LOINC) with two numeric results or more, by the day the sample was
    taken, in the unit of the latest result: earlier ones in another unit of the same kind are
    converted (mg/dL and g/L on one curve). The smallest span is the latest reference range."""
    by_test: dict[str, list[Entry]] = {}
    for entry in results:
        if not entry.retracted and entry.values.get("taken_on"):
            by_test.setdefault(entry.values.get("loinc") or "", []).append(entry)
    drawn = []
    for loinc, entries in by_test.items():
        entries.sort(key=lambda e: (e.values.get("taken_on") or "", e.recorded_at))
        latest = entries[-1].values
        unit = latest.get("unit") or ""
        series = _lab_series(entries[-MAX_POINTS:], unit)
        if len(series) < 2:
            continue
        low, high = labs.number(latest.get("low")), labs.number(latest.get("high"))
        scale = max(abs(series[-1][2][0]) / 5, Decimal("0.1"))
        span = high - low if low is not None and high is not None else scale
        trend = _draw(f"lab-{loinc}", latest.get("test") or loinc, unit, _ONE, span, series)
        drawn.append(replace(trend, timed=False))
    return sorted(drawn, key=lambda trend: str(trend.label))
