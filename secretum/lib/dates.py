"""Plausible ranges for the dates people type (N2).

A date field accepts any date from year 1 to 9999, and arithmetic near either end overflows
(``date.max + timedelta(days=1)`` raises OverflowError; year 1 in Europe/Brussels, at UTC+0:17:30,
cannot even be converted to UTC). Each date a person types is therefore held to a range that a
practice would expect, said in the error message; ranges are computed (and the one the
breach register uses, checked) with these helpers.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

D = TypeVar("D", bound=dt.date)  # a date or a datetime

# How far back a moment typed for a past event may lie (the breach register's awareness,
# notification and information); earlier, it is a typing error, and year 1 cannot even be
# converted to UTC to be stored. check_recent's message says "ten": change both.
RECENT_YEARS = 10


def add_years(day: D, years: int) -> D:
    """The same day ``years`` later (earlier when negative); 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def shown(day: dt.date) -> str:
    """A date as the practice writes it in messages: dd/mm/yyyy."""
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"


def check_recent(at: dt.datetime) -> None:
    """ValidationError, saying the range, for a moment more than :data:`RECENT_YEARS` ago. The
    moment is compared as it is, never converted (year 1 could not be)."""
    earliest = add_years(timezone.localtime(), -RECENT_YEARS)
    if at < earliest:
        raise ValidationError(
            _("Give a date and time within the last ten years, from %(first)s.")
            % {"first": shown(earliest)}
        )
