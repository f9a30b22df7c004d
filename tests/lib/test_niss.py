from __future__ import annotations

import datetime as dt

import pytest

from secretum.lib import niss


def test_check_digits_before_and_after_2000() -> None:
    assert niss.build(dt.date(1985, 7, 30), 33) == "85073003328"
    assert niss.build(dt.date(2003, 1, 2), 2) == "03010200237"
    assert niss.clean("03010200237") == "03010200237"


@pytest.mark.parametrize("typed", ["85.07.30-033.28", "85 07 30 033 28", "850730-033-28"])
def test_usual_formats_are_accepted(typed: str) -> None:
    assert niss.clean(typed) == "85073003328"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("85073003329", "check digits"),
        ("8507300332", "11 digits"),
        ("8507300332a", "11 digits"),
    ],
)
def test_invalid_numbers_are_refused(typed: str, message: str) -> None:
    with pytest.raises(niss.NissError, match=message):
        niss.clean(typed)


def test_formatted() -> None:
    assert niss.formatted("85073003328") == "85.07.30-033.28"


@pytest.mark.parametrize(
    "typed",
    [
        "²²²²²²²²²²²",  # str.isdigit() is true, int() refuses it: a 500 before N2
        "٨٥٠٧٣٠٠٣٣٢٨",  # 85073003328 in Arabic-Indic digits: int() reads it
        "８５.０７.３０-０３３.２８",  # full width
    ],
)
def test_only_ascii_digits_make_a_national_number(typed: str) -> None:
    """N2: a national number is typed with 0-9; other Unicode digits are refused, clearly."""
    with pytest.raises(niss.NissError, match="digits 0 to 9"):
        niss.clean(typed)
    assert not niss.looks_like(typed)


@pytest.mark.parametrize("serial", [0, 999, -1])
def test_a_serial_outside_1_to_998_builds_no_number(serial: int) -> None:
    with pytest.raises(niss.NissError, match="between 1 and 998"):
        niss.build(dt.date(1980, 5, 17), serial)
    assert niss.clean(niss.build(dt.date(1980, 5, 17), 998)).startswith("800517998")
