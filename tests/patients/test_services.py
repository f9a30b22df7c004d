"""Registering and finding patients: sealed identities, blind-index search, audited."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from secretum.access.actor import AccessDenied
from secretum.lib import niss
from secretum.patients import services
from tests.conftest import actor_for, events, identity


def test_register_and_read_back(practitioner: Any) -> None:
    actor = actor_for(practitioner)
    created = services.register_patient(actor, identity(family_name="Van den Kwartel"))
    again = services.access_patient(actor, created.uid)
    assert again.family_name == "Van den Kwartel"
    assert again.birth_date == created.birth_date
    assert [e.action for e in events(patient_ref=created.uid)] == ["create", "read"]


@pytest.mark.parametrize("query", ["kwa", "KWART", "van den", "vandenkw", "den kwa", "Kwártel"])
def test_search_by_name_prefix_ignores_case_accents_and_spaces(
    practitioner: Any, query: str
) -> None:
    actor = actor_for(practitioner)
    created = services.register_patient(actor, identity(family_name="Van den Kwartel"))
    services.register_patient(actor, identity(family_name="Plomteux"))
    result = services.search_patients(actor, query)
    assert [p.uid for p in result.patients] == [created.uid]
    assert result.kind == "name"


def test_search_by_given_and_family_name_together(practitioner: Any) -> None:
    actor = actor_for(practitioner)
    wanted = services.register_patient(actor, identity(family_name="Brouxelle", given_name="Odile"))
    services.register_patient(actor, identity(family_name="Brouxelle", given_name="Marius"))
    assert [p.uid for p in services.search_patients(actor, "brou odi").patients] == [wanted.uid]


def test_search_by_birth_date_and_national_number(practitioner: Any) -> None:
    actor = actor_for(practitioner)
    birth = dt.date(1988, 2, 29)
    number = niss.build(birth, 123)
    created = services.register_patient(actor, identity(birth_date=birth, niss=number))
    by_date = services.search_patients(actor, "29/02/1988")
    assert by_date.kind == "birth" and created.uid in [p.uid for p in by_date.patients]
    by_niss = services.search_patients(actor, niss.formatted(number))
    assert by_niss.kind == "niss" and [p.uid for p in by_niss.patients] == [created.uid]


def test_search_event_records_the_kind_of_query_never_its_text(practitioner: Any) -> None:
    actor = actor_for(practitioner)
    number = niss.build(dt.date(1990, 5, 5), 77)
    services.register_patient(actor, identity(niss=number, family_name="Quernaval"))
    services.search_patients(actor, number)
    services.search_patients(actor, "querna")
    searches = events(action="search")
    assert [json.loads(e.detail)["kind"] for e in searches] == ["niss", "name"]
    for e in searches:
        assert number not in e.detail and "querna" not in e.detail.lower()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "Type a name"),
        ("a", "at least 2 letters"),
        ("85.07.30-033.29", "check digits"),
        ("31/02/2001", "Not a valid date"),
    ],
)
def test_bad_queries_are_refused_with_a_clear_message(
    practitioner: Any, query: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        services.search_patients(actor_for(practitioner), query)


def test_invalid_national_number_is_refused_on_registration(practitioner: Any) -> None:
    with pytest.raises(ValidationError, match="check digits"):
        services.register_patient(actor_for(practitioner), identity(niss="85073003329"))


def test_manager_cannot_search_and_the_refusal_is_audited(manager: Any) -> None:
    with pytest.raises(AccessDenied):
        services.search_patients(actor_for(manager), "dupont")
    (event,) = events(action="search")
    assert event.outcome == "denied" and event.actor_name == manager.username


def test_update_records_which_fields_changed_not_their_values(practitioner: Any) -> None:
    actor = actor_for(practitioner)
    created = services.register_patient(actor, identity())
    data = identity(
        family_name=created.family_name,
        given_name=created.given_name,
        birth_date=created.birth_date,
        niss=created.niss,
        city="Ailleurs-sur-Test",
    )
    services.update_patient(actor, created.uid, data)
    (event,) = events(action="update")
    assert json.loads(event.detail)["fields"] == ["city"]
    assert "Ailleurs" not in event.detail
    assert services.search_patients(actor, created.family_name[:5]).patients[0].city == (
        "Ailleurs-sur-Test"
    )


def test_unknown_patient_is_not_found(practitioner: Any) -> None:
    from django.http import Http404

    with pytest.raises(Http404):
        services.access_patient(actor_for(practitioner), "00000000-0000-0000-0000-000000000000")
    (event,) = events(action="read")
    assert event.outcome == "failure"


@pytest.mark.parametrize("ref", ["not-a-uid", "1; DROP TABLE patients_patient", 12, ""])
def test_a_malformed_reference_is_not_found_and_never_reaches_the_database_as_sql(
    practitioner: Any, ref: Any
) -> None:
    from django.http import Http404

    from secretum.patients.models import Patient

    with pytest.raises(Http404):
        services.open_patient(ref)
    assert Patient.objects.count() == 0


def test_the_database_chooses_a_terms_first_holders(practitioner: Any) -> None:
    """Issue 17: ``first`` gives the lowest primary keys among every holder, as reading all of
    them and keeping the lowest would; a limit never drops a holder below it."""
    from secretum.crypto import keyring
    from secretum.patients import queries
    from secretum.patients.models import SearchToken

    actor = actor_for(practitioner)
    for n in range(7):
        services.register_patient(actor, identity(family_name=f"Quembrail{n}"))
    tokens = keyring.blind_indexes("name", "quembrail")
    every = queries.token_holders(SearchToken.Kind.NAME, tokens)
    assert len(every) == 7
    for first in (1, 3, 7, 20):
        chosen = queries.token_holders(SearchToken.Kind.NAME, tokens, first)
        assert chosen == set(sorted(every)[:first])


def test_a_search_cut_at_its_candidates_says_so_and_several_terms_are_all_read(
    practitioner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More candidates than a search opens: the list is cut and says so, with one term (the
    database choosing) as with several (each term's holders intersected here, so that a patient
    matching both is found wherever they rank for each)."""
    monkeypatch.setattr(services, "SEARCH_LIMIT", 2)
    monkeypatch.setattr(services, "SEARCH_CANDIDATES", 4)
    actor = actor_for(practitioner)
    for n in range(5):
        services.register_patient(actor, identity(family_name="Quembrail", given_name=f"Ann{n}"))
    wanted = services.register_patient(
        actor, identity(family_name="Quembrail", given_name="Odilette")
    )
    one = services.search_patients(actor, "quembr")
    assert len(one.patients) == 2 and one.truncated
    both = services.search_patients(actor, "quembr odil")
    assert [p.uid for p in both.patients] == [wanted.uid] and not both.truncated
    assert services.search_patients(actor, "quembr ann").truncated
    monkeypatch.setattr(services, "SEARCH_CANDIDATES", 6)
    monkeypatch.setattr(services, "SEARCH_LIMIT", 6)
    every = services.search_patients(actor, "quembr")
    assert len(every.patients) == 6 and not every.truncated
