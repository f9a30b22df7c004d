from __future__ import annotations

import datetime as dt

from secretum.lib.dates import add_years, shown


def test_add_years_keeps_the_day_and_moves_29_february() -> None:
    assert add_years(dt.date(2026, 3, 14), 5) == dt.date(2031, 3, 14)
    assert add_years(dt.date(2024, 2, 29), -2) == dt.date(2022, 2, 28)
    moment = dt.datetime(2024, 2, 29, 10, 30, tzinfo=dt.UTC)
    assert add_years(moment, -10) == dt.datetime(2014, 2, 28, 10, 30, tzinfo=dt.UTC)


def test_shown_as_the_practice_writes_dates() -> None:
    assert shown(dt.date(1900, 1, 1)) == "01/01/1900"
