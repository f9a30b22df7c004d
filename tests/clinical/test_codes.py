"""Coded problems (issue 15): ICD-10 checked against the WHO classification, ICPC-2 by its form,
a lifecycle, the problem list at the top of the chart, suggestions as the code is typed, and the
upgrade that renews the seals of the problems made before without whitening an altered one."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import connection

from secretum.clinical import codes, services
from secretum.clinical.models import Problem
from secretum.patients import integrity as records
from tests.conftest import actor_for, client_for


def test_icd10_codes_are_checked_and_titled_by_the_classification() -> None:
    assert codes.check("icd-10", " e11.9 ") == codes.Code(
        "E11.9", "Type 2 diabetes mellitus without complications"
    )
    assert codes.check("icd-10", "E119").code == "E11.9"  # the dot may be left out
    assert codes.check("icd-10", "I10").title == "Essential (primary) hypertension"
    for wrong in ("E11.99", "E1", "XYZ", "", "I00-I99"):  # no such code; a block is no diagnosis
        with pytest.raises(ValidationError, match="not an ICD-10 category"):
            codes.check("icd-10", wrong)


def test_icpc2_codes_are_checked_by_their_form_only() -> None:
    assert codes.check("icpc-2", "k86") == codes.Code("K86", "")
    for wrong in ("K8", "K860", "C86", "86K"):  # C is no ICPC-2 chapter
        with pytest.raises(ValidationError, match="chapter letter and two digits"):
            codes.check("icpc-2", wrong)
    with pytest.raises(ValidationError, match="Choose the code system"):
        codes.check("snomed", "38341003")


def test_suggestions_by_code_first_then_by_words_of_the_title() -> None:
    assert codes.suggest("e") == [] and codes.suggest(" ") == []
    by_code = codes.suggest("E11")
    assert [c.code for c in by_code] == ["E11", *(f"E11.{n}" for n in range(10))]
    assert len(codes.suggest("diabetes")) == codes.SUGGESTIONS  # at most
    worded = codes.suggest("type 2 diabetes coma")
    assert [c.code for c in worded] == ["E11.0"]
    assert codes.suggest("E119")[0].code == "E11.9"


def _record(practitioner: Any, patient: Any, **values: str) -> Any:
    return services.record_entry(actor_for(practitioner), patient.uid, "problem", values)


def test_a_problem_takes_its_title_and_is_active_unless_said(
    practitioner: Any, patient: Any
) -> None:
    entry = _record(practitioner, patient, system="icd-10", code="j45")
    assert entry.values | {} == {
        "system": "icd-10", "code": "J45", "label": "Asthma", "onset": None, "status": "active",
    }  # fmt: skip
    own = _record(practitioner, patient, system="icd-10", code="J45", label="Asthme allergique")
    assert own.values["label"] == "Asthme allergique"  # the practitioner's words are kept
    with pytest.raises(ValidationError, match="Label is required for an ICPC-2 code"):
        _record(practitioner, patient, system="icpc-2", code="R96")
    with pytest.raises(ValidationError, match="Code system is required"):
        _record(practitioner, patient, code="R96", label="Asthme")


def test_the_problem_list_is_first_on_the_chart_active_problems_first(
    practitioner: Any, patient: Any
) -> None:
    _record(
        practitioner, patient, system="icpc-2", code="R74", label="Quzinfection", status="resolved"
    )
    _record(practitioner, patient, system="icpc-2", code="K86", label="Quzhypertension")
    _record(
        practitioner, patient, system="icpc-2", code="P76", label="Quzdepression", status="inactive"
    )
    page = client_for(practitioner).get(f"/patients/{patient.uid}/").content.decode()
    chart = page[page.index('data-testid="chart"') :]
    assert chart.index('data-testid="problems"') < chart.index("<h2>Allergies")
    assert (
        chart.index("Quzhypertension") < chart.index("Quzdepression") < chart.index("Quzinfection")
    )
    assert chart.count('class="settled"') == 2


def test_suggestions_answer_practitioners_only_and_carry_no_patient_data(
    practitioner: Any, secretary: Any
) -> None:
    answer = client_for(practitioner).get("/clinical/codes/icd-10/", {"q": "asthma"})
    assert answer.status_code == 200
    assert {"code": "J45", "title": "Asthma"} in answer.json()["codes"]
    assert client_for(practitioner).get("/clinical/codes/icd-10/").json() == {"codes": []}
    assert client_for(secretary).get("/clinical/codes/icd-10/", {"q": "asthma"}).status_code == 403


def test_the_form_offers_suggestions_and_names_the_code_field_in_its_error(
    practitioner: Any, patient: Any
) -> None:
    client = client_for(practitioner)
    url = f"/clinical/{patient.uid}/problem/new/"
    form = client.get(url).content.decode()
    assert 'list="code-suggestions"' in form and '<datalist id="code-suggestions">' in form
    assert 'data-suggest-url="/clinical/codes/icd-10/"' in form
    refused = client.post(url, {"system": "icd-10", "code": "E11.99", "status": "active"})
    assert refused.status_code == 200
    assert "not an ICD-10 category" in str(refused.context["form"].errors["code"])


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _as_before_the_upgrade(problem_uid: str, patient: Any, *, altered: bool = False) -> None:
    """Put a problem row back as the previous release wrote it: no system, no status, sealed
    over its three fields, the record sealed over that; ``altered``: then changed outside."""
    from secretum.clinical import integrity

    migration = importlib.import_module(
        "secretum.clinical.migrations.0004_problem_codes_and_lifecycle"
    )
    row = Problem.objects.get(uid=problem_uid)
    row.system = row.status = None
    row.row_seal = integrity.seal_of(row, str(patient.uid), migration.BEFORE)
    Problem.objects.filter(pk=row.pk).update(system=None, status=None, row_seal=row.row_seal)
    stored = type(row).patient.get_queryset().get(pk=row.patient_id)
    stored.entries_digest = records.stored_digest(stored)
    stored.record_seal = records.seal_of(stored)
    stored.save(update_fields=["entries_digest", "record_seal"])
    if altered:
        other = Problem.objects.exclude(pk=row.pk).filter(patient_id=row.patient_id).first()
        _sql(f"UPDATE {Problem._meta.db_table} SET label = %s WHERE id = %s", other.label, row.pk)  # noqa: S608


def _renew() -> None:
    migration = importlib.import_module(
        "secretum.clinical.migrations.0004_problem_codes_and_lifecycle"
    )
    migration.renew_problem_seals(apps, None)


def test_the_upgrade_renews_the_seals_of_intact_problems(practitioner: Any, patient: Any) -> None:
    entry = _record(practitioner, patient, system="icpc-2", code="K86", label="HTA")
    _as_before_the_upgrade(entry.uid, patient)
    assert services.access_chart(actor_for(practitioner), patient.uid).altered  # new fields
    _renew()
    chart = services.access_chart(actor_for(practitioner), patient.uid)
    assert not chart.altered
    assert chart.entries["problem"][0].values["status"] is None  # shown as active
    _record(practitioner, patient, system="icd-10", code="I10")  # the record takes writes


def test_the_upgrade_leaves_an_altered_problem_altered(practitioner: Any, patient: Any) -> None:
    kept = _record(practitioner, patient, system="icpc-2", code="K86", label="HTA")
    entry = _record(practitioner, patient, system="icpc-2", code="T90", label="Diabète")
    _as_before_the_upgrade(kept.uid, patient)
    _as_before_the_upgrade(entry.uid, patient, altered=True)  # a label swapped outside Secretum
    _renew()
    assert services.access_chart(actor_for(practitioner), patient.uid).altered
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        _record(practitioner, patient, system="icd-10", code="I10")
