"""A search's results made by one tag (issue 17, ``patients/templatetags/results.py``): the same
bytes as the template's loop before it, in every language, for every kind of row, with values
that carry markup escaped as the template escaped them."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.template import Context, Template
from django.utils import translation

from secretum.patients.services import PatientIdentity

# The loop of patients/search.html before issue 17: the reference the tag must match.
_LOOP = """{% load i18n secretum %}
    {% for p in result.patients %}
      <tr><td><a href="{% uid_url 'patients:detail' p.uid %}">{{ p.display_name }}</a>{% if p.altered %} <strong class="error" data-testid="altered">{% translate "altered outside Secretum" %}</strong>{% endif %}</td>
      <td>{{ p.birth_date|day }}</td><td>{{ p.niss_display }}</td><td>{{ p.city }}</td></tr>
    {% endfor %}"""  # noqa: E501  (the template's own lines)
_TAG = "{% load results %}\n    {% result_rows result.patients %}"

HOSTILE = '<script>alert("x")</script> & <b>'


def _patient(**changed: object) -> PatientIdentity:
    values: dict[str, object] = {
        "uid": str(uuid.uuid4()),
        "family_name": "Dubois",
        "given_name": "Léa",
        "birth_date": dt.date(1984, 2, 29),
        "sex": "F",
        "niss": "84022912345",
        "street": "Rue Haute 1",
        "postal_code": "1000",
        "city": "Bruxelles",
        "phone": "",
        "email": "",
        "insurer": "",
        "insurer_number": "",
    }
    values.update(changed)
    return PatientIdentity(**values)  # type: ignore[arg-type]


PATIENTS = [
    _patient(),
    _patient(family_name=HOSTILE, given_name=HOSTILE, city=HOSTILE, altered=True),
    _patient(birth_date=None, niss="", city=""),
    _patient(family_name="Van den Bossche", given_name="Jan", city="Gent"),
]


@pytest.mark.parametrize("language", ["en", "fr", "nl"])
def test_the_tag_makes_what_the_loop_made(language: str) -> None:
    with translation.override(language):
        for patients in (PATIENTS, PATIENTS[1:2], []):
            context = {"result": {"patients": patients}}
            theirs = Template(_LOOP).render(Context(context))
            ours = Template(_TAG).render(Context(context))
            assert ours == theirs
            assert "<script>" not in ours and "<b>" not in ours


def test_an_altered_record_is_said_so_and_a_uid_is_checked() -> None:
    with translation.override("fr"):
        made = Template(_TAG).render(Context({"result": {"patients": PATIENTS[:2]}}))
    assert made.count('data-testid="altered"') == 1 and "modifié en dehors de Secretum" in made
    with pytest.raises(ValueError):
        Template(_TAG).render(Context({"result": {"patients": [_patient(uid="../admin")]}}))
