"""The search index against someone holding the database but not the key file (issue 9; E10,
G3): a moved token never lists or opens the wrong patient, one altered record never breaks a
search for the others, and the number of tokens does not tell a name's length."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

from django.apps import apps
from django.db import connection
from django.utils import timezone

from secretum.access.policy import Role
from secretum.audit import alerts
from secretum.audit.services import patient_access_report
from secretum.patients import services
from secretum.patients.models import Patient, SearchToken
from tests.conftest import actor_for, identity, make_user


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


def test_a_moved_national_number_token_opens_nobody_else(practitioner: Any) -> None:
    """Patient A's national-number token moved onto patient B: searching A's number lists
    nobody (A no longer has it, B's decrypted number is not it), on the web and in the DPO's
    access report."""
    actor = actor_for(practitioner)
    a = services.register_patient(actor, identity(family_name="Aubertinova"))
    b = services.register_patient(actor, identity(family_name="Brouckaertova"))
    b_row = Patient.objects.get(uid=b.uid)
    _sql(
        "UPDATE patients_searchtoken SET patient_id = %s WHERE kind = 'niss' AND patient_id = %s",
        b_row.pk,
        Patient.objects.get(uid=a.uid).pk,
    )
    found = services.search_patients(actor, a.niss)
    assert [p.uid for p in found.patients] == []
    assert services.patient_ref_for_niss(a.niss) is None
    auditor = make_user(Role.AUDITOR)
    try:
        report = patient_access_report(actor_for(auditor), a.niss)
    except Exception as exc:  # no such patient: never B's report
        assert type(exc).__name__ == "Http404"
    else:
        raise AssertionError(f"A's number opened a report on {report.patient_name}")
    assert [p.uid for p in services.search_patients(actor, b.niss).patients] == [b.uid]


def test_one_altered_record_never_breaks_a_search(practitioner: Any) -> None:
    """One patient's sealed name corrupted in the database: the search lists the others, says
    how many could not be read, and the auditor is alerted."""
    actor = actor_for(practitioner)
    kept = services.register_patient(actor, identity(family_name="Vercauterova"))
    broken = services.register_patient(actor, identity(family_name="Vercammenova"))
    row = Patient.objects.get(uid=broken.uid)
    sealed = bytearray(bytes(row.family_name))
    sealed[-1] ^= 1
    Patient.objects.filter(pk=row.pk).update(family_name=bytes(sealed))
    found = services.search_patients(actor, "Verca")
    assert [p.uid for p in found.patients] == [kept.uid] and found.unreadable == 1
    tampered = [
        a for a in alerts.detect(timezone.now() - dt.timedelta(hours=1)) if a.kind == "tampered"
    ]
    assert [a.reason for a in tampered] == [f"patients.Patient {broken.uid}"]


def test_the_number_of_tokens_does_not_tell_a_names_length(practitioner: Any) -> None:
    actor = actor_for(practitioner)
    short = services.register_patient(actor, identity(family_name="Ox", given_name="Al"))
    long = services.register_patient(
        actor, identity(family_name="Vandersmissenova-Ockeghemova", given_name="Marie-Christine")
    )
    counts = {
        uid: SearchToken.objects.filter(patient__uid=uid, kind="name").count()
        for uid in (short.uid, long.uid)
    }
    assert set(counts.values()) == {services.NAME_TOKENS}
    assert [p.uid for p in services.search_patients(actor, "Vandersm Marie").patients] == [long.uid]


def test_patients_indexed_before_padding_are_padded_at_the_upgrade(
    practitioner: Any, patient: Any
) -> None:
    """The index of a patient registered before padding existed held only their real name
    tokens, so its size told the name's length: the upgrade indexes them again, padded."""
    pk = Patient.objects.values_list("pk", flat=True).get(uid=patient.uid)
    real = {t for k, t in services.real_tokens({**identity(), **_values(patient)}) if k == "name"}
    SearchToken.objects.filter(patient_id=pk, kind="name").exclude(token__in=real).delete()
    assert (
        SearchToken.objects.filter(patient_id=pk, kind="name").count()
        == len(real)
        < services.NAME_TOKENS
    )
    migration = importlib.import_module("secretum.patients.migrations.0003_pad_search_tokens")
    migration.pad_existing_tokens(apps, None)
    assert SearchToken.objects.filter(patient_id=pk, kind="name").count() == services.NAME_TOKENS
    found = services.search_patients(actor_for(practitioner), patient.family_name[:5])
    assert [p.uid for p in found.patients] == [patient.uid]
    assert [
        p.uid for p in services.search_patients(actor_for(practitioner), patient.niss).patients
    ] == [patient.uid]


def _values(patient: Any) -> dict[str, Any]:
    return {
        "family_name": patient.family_name,
        "given_name": patient.given_name,
        "birth_date": patient.birth_date.isoformat(),
        "niss": patient.niss,
    }
