from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from secretum.lib.dates import add_years, check_recent, shown


def test_add_years_keeps_the_day_and_moves_29_february() -> None:
    assert add_years(dt.date(2026, 3, 14), 5) == dt.date(2031, 3, 14)
    assert add_years(dt.date(2024, 2, 29), -2) == dt.date(2022, 2, 28)
    moment = dt.datetime(2024, 2, 29, 10, 30, tzinfo=dt.UTC)
    assert add_years(moment, -10) == dt.datetime(2014, 2, 28, 10, 30, tzinfo=dt.UTC)


def test_shown_as_the_practice_writes_dates() -> None:
    assert shown(dt.date(1900, 1, 1)) == "01/01/1900"


def test_check_recent_refuses_a_moment_more_than_ten_years_ago() -> None:
    """N2: year 1 is refused before anything converts it (it cannot be, to UTC)."""
    check_recent(timezone.localtime() - dt.timedelta(days=9 * 365))
    with pytest.raises(ValidationError, match="within the last ten years, from"):
        check_recent(dt.datetime.min.replace(tzinfo=dt.UTC))
