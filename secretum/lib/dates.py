"""Plausible ranges for the dates people type (N2).

A date field accepts any date from year 1 to 9999, and arithmetic near either end overflows
(``date.max + timedelta(days=1)`` raises OverflowError; year 1 in Europe/Brussels, at UTC+0:17:30,
cannot even be converted to UTC). Each date a person types is therefore held to a range that a
practice would expect, said in the error message; ranges are computed with these helpers.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

D = TypeVar("D", bound=dt.date)  # a date or a datetime


def add_years(day: D, years: int) -> D:
    """The same day ``years`` later (earlier when negative); 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def shown(day: dt.date) -> str:
    """A date as the practice writes it in messages: dd/mm/yyyy."""
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
