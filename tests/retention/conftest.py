"""A record with every kind of row that names a patient, and a way to make it old (J2)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from secretum.access.models import CareRelationship
from secretum.clinical import services as clinical
from secretum.documents import services as documents
from secretum.lib import clamav
from secretum.patients import services as patients
from secretum.patients.integrity import ENTRY_KINDS
from secretum.patients.models import Patient
from secretum.retention import contact, services
from secretum.scheduling import services as scheduling
from secretum.scheduling.models import Appointment
from tests.conftest import actor_for, identity
from tests.crypto.test_rotation import home, quick  # noqa: F401  (fixtures for test_destruction)

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)
_days = itertools.count()  # each record's appointment on a day of its own
SECRET_NAME = "Zyxwvutska"  # a name no other test uses: a search for it finds this patient only


def full_record(practitioner: Any, **overrides: Any) -> str:
    """A fictitious patient with a consultation, a problem, a medication, an observation, a
    document and an appointment; its uid."""
    actor = actor_for(practitioner)
    uid = patients.register_patient(actor, identity(**overrides)).uid
    clinical.record_entry(actor, uid, "encounter", {"reason": "Toux", "plan": "Repos"})
    clinical.record_entry(
        actor, uid, "problem", {"system": "icpc-2", "code": "R05", "label": "Toux"}
    )
    clinical.record_entry(
        actor,
        uid,
        "medication",
        {"drug": "Paracétamol", "dose": "1 g", "frequency": "3x/j", "duration": "5 j"},
    )
    clinical.record_entry(actor, uid, "observation", {"code": "weight", "value": "72"})
    patient, key = patients.writable_patient(uid)
    documents.store(
        patient, key, SimpleNamespace(detail={}), title="lettre.png", kind="image/png",
        data=PNG, verdict=clamav.Verdict(clean=True), author=practitioner,
    )  # fmt: skip
    start = (timezone.localtime() + dt.timedelta(days=2 + next(_days))).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    scheduling.book_appointment(actor, uid, practitioner.pk, start, 15)
    return str(uid)


def age(uid: str, years: int, days: int = 1) -> None:
    """Every moment of the record ``years`` years (and ``days`` days) back: no contact since."""
    at = timezone.now() - dt.timedelta(days=365 * years + years // 4 + days + 1)
    patient = Patient.objects.get(uid=uid)
    Patient.objects.filter(pk=patient.pk).update(updated_at=at, created_at=at)
    for kind in ENTRY_KINDS.values():
        kind.model._base_manager.filter(patient=patient).update(recorded_at=at)
    Appointment.objects.filter(patient=patient).update(starts_at=at)
    CareRelationship.objects.filter(patient=patient).update(last_contact_at=at)


@contextmanager
def years_on(years: int = 31) -> Iterator[None]:
    """The retention's clock ``years`` years ahead (its services and its list of records due):
    the records written now have had no contact for that long, by the tables' dates and by the
    audit log's alike. The rest of Secretum (sessions, audit events) keeps the real time."""
    ahead = dt.timedelta(days=365 * years + years // 4 + 2)

    def now() -> dt.datetime:
        return timezone.now() + ahead

    def localdate(value: dt.datetime | None = None) -> dt.date:
        return timezone.localdate(now() if value is None else value)

    later = SimpleNamespace(now=now, localdate=localdate, make_aware=timezone.make_aware)
    with (
        mock.patch.object(services, "timezone", later),
        mock.patch.object(contact, "timezone", later),
    ):
        yield


@pytest.fixture
def old_record(practitioner: Any) -> Iterator[str]:
    """A record without contact for 31 years, as the retention's clock sees it (``years_on``):
    due under the default retention of 30 years."""
    uid = full_record(practitioner, family_name=SECRET_NAME)
    with years_on(31):
        yield uid
