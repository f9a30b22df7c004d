"""Lab results (issue 15): LOINC codes checked by their check digit, UCUM units checked and
converted by a units library, reference ranges and flags, the latest value of each test on the
chart with out-of-range ones marked in words, and a trend per test across units."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from secretum.clinical import labs, services
from secretum.clinical.trends import lab_trends
from tests.conftest import actor_for, client_for

GLUCOSE = {"loinc": "2345-7", "value": "126", "taken_on": "2026-03-02", "low": "70", "high": "110"}


def _result(practitioner: Any, patient: Any, **values: str) -> Any:
    return services.record_entry(actor_for(practitioner), patient.uid, "lab", values)


@pytest.mark.parametrize("code", ["2345-7", "718-7", "4548-4", "33914-3", "13457-7", "1988-5"])
def test_real_loinc_codes_pass_their_check_digit(code: str) -> None:
    assert labs.check_loinc(f" {code} ") == code


@pytest.mark.parametrize("code", ["2345-8", "2345", "ABC-1", "12345678-9", "2345-", ""])
def test_a_mistyped_loinc_code_is_refused(code: str) -> None:
    with pytest.raises(ValidationError, match="not a LOINC code"):
        labs.check_loinc(code)


def test_units_are_ucum_and_convert_within_their_kind() -> None:
    for unit in ("mg/dL", "mmol/L", "10*3/uL", "%", "m[IU]/L", "mL/min/{1.73_m2}", "U/L"):
        labs.unit_of(unit)
    with pytest.raises(ValidationError, match="not a UCUM unit"):
        labs.unit_of("mgg/xx")
    assert labs.convert(Decimal(126), "mg/dL", "g/L") == Decimal("1.26")
    assert labs.convert(Decimal(5), "mmol/L", "mg/dL") is None  # another kind: no molar mass
    assert labs.convert(Decimal(5), "mmol/L", "mmol/L") == 5


def test_a_common_test_takes_its_name_and_unit_and_is_flagged(
    practitioner: Any, patient: Any
) -> None:
    entry = _result(practitioner, patient, **GLUCOSE)
    assert entry.values == {
        "loinc": "2345-7", "test": "Glucose", "value": "126", "unit": "mg/dL", "low": "70",
        "high": "110", "taken_on": "2026-03-02", "flag": "high",
    }  # fmt: skip
    low = _result(practitioner, patient, **{**GLUCOSE, "value": "61,5"})
    assert (low.values["value"], low.values["flag"]) == ("61.5", "low")
    inside = _result(practitioner, patient, **{**GLUCOSE, "value": "90"})
    assert inside.values["flag"] is None
    text = _result(
        practitioner,
        patient,
        loinc="94500-6",
        test="SARS-CoV-2 RNA",
        value="negative",
        taken_on="2026-03-02",
    )
    assert (text.values["unit"], text.values["flag"]) == (None, None)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"loinc": "2345-8"}, "not a LOINC code"),
        ({"loinc": "94500-6"}, "Name the test"),
        ({"unit": "mgg/xx"}, "not a UCUM unit"),
        ({"low": "seventy"}, "The lower limit must be a number"),
        ({"low": "120"}, "lower limit must be below the upper limit"),
        ({"value": "raised"}, "A reference range needs a numeric value"),
        ({"taken_on": "2999-01-01"}, "the date is in the future"),
        ({"taken_on": "02/03/2026"}, "must be a date"),
    ],
)
def test_bad_results_are_refused_with_a_clear_message(
    practitioner: Any, patient: Any, change: dict[str, str], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _result(practitioner, patient, **{**GLUCOSE, **change})


def test_the_chart_shows_the_latest_of_each_test_and_marks_it_in_words(
    practitioner: Any, patient: Any
) -> None:
    _result(practitioner, patient, **{**GLUCOSE, "value": "95", "taken_on": "2026-05-02"})
    _result(practitioner, patient, **GLUCOSE)  # recorded later, sampled earlier: not the latest
    _result(
        practitioner,
        patient,
        loinc="2823-3",
        value="5.9",
        low="3.5",
        high="5.1",
        taken_on="2026-05-02",
    )
    page = client_for(practitioner).get(f"/patients/{patient.uid}/").content.decode()
    card = page[page.index('data-testid="labs"') :]
    card = card[: card.index("</article>")]
    rows = re.findall(r"<tr[^>]*>.*?</tr>", card, re.S)[1:]
    assert len(rows) == 2
    glucose, potassium = rows
    assert "95 mg/dL" in glucose and "02/05/2026" in glucose and "out-of-range" not in glucose
    assert (
        "Potassium" in potassium and 'class="out-of-range"' in potassium and ">high<" in potassium
    )


def test_a_test_reported_in_two_units_is_one_curve(practitioner: Any, patient: Any) -> None:
    first = _result(
        practitioner,
        patient,
        **{**GLUCOSE, "value": "1.10", "unit": "g/L", "taken_on": "2025-01-10"},
    )
    second = _result(practitioner, patient, **{**GLUCOSE, "value": "126", "taken_on": "2026-01-10"})
    text = _result(
        practitioner,
        patient,
        **{
            **GLUCOSE,
            "value": "130",
            "unit": "mmol/L",
            "low": "",
            "high": "",
            "taken_on": "2026-02-10",
        },
    )
    (trend,) = lab_trends([second, first])
    assert (trend.unit, trend.label, trend.timed) == ("mg/dL", "Glucose", False)
    assert [d.text for d in trend.lines[0].dots] == ["110", "126"]  # g/L converted to mg/dL
    assert lab_trends([first, second, text]) == []  # the latest in mmol/L: the others don't convert
