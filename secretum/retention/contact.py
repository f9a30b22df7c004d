"""The last contact with each patient, and the records whose retention period has ended (J2).

"Last contact" is the latest of what the database already holds about the patient: the
identity's last change, every entry of the record (clinical entries and documents, the tables
``patients.integrity.ENTRY_KINDS`` names), every appointment (one in the future counts: the
patient is still seen) and every practitioner's care relationship. Nothing new is stored: a
record written later moves its own date, so the list cannot go stale.

Why not the archive's definition (``patients.archive``, J1), which leaves a cancelled appointment
out: here a cancelled appointment counts. Its booking and its cancelling are contacts the audit
log records, and a destruction is confirmed against the audit log (``services._confirmed``): a
definition that dropped them would report a record with a cancelled appointment as altered and
refuse to destroy it. And for a destruction, erring late is the law's side; for the archive,
which one audited restore undoes, a visit that never took place keeps no record in the lists.

Cheap on a large practice: the list is one query, an anti-join (``NOT EXISTS`` of any contact
after the cut-off, on the tables' patient indexes); the dates themselves are computed only for
the records it keeps.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import DateTimeField, Exists, F, Max, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from secretum.access.models import CareRelationship
from secretum.patients.integrity import ENTRY_KINDS
from secretum.patients.models import Patient
from secretum.scheduling.models import Appointment


def sources() -> list[tuple[Any, str]]:
    """(model, column) of every moment that counts as a contact; each model has ``patient``."""
    found: list[tuple[Any, str]] = [(kind.model, "recorded_at") for kind in ENTRY_KINDS.values()]
    return [*found, (Appointment, "starts_at"), (CareRelationship, "last_contact_at")]


def years_before(day: dt.date, years: int) -> dt.date:
    """The same day ``years`` earlier (28 February for a 29 February)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def years_after(day: dt.date, years: int) -> dt.date:
    return years_before(day, -years)


def _start_of(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _latest(model: Any, column: str) -> Subquery:
    rows = model._base_manager.filter(patient=OuterRef("pk")).order_by()
    return Subquery(rows.values("patient").annotate(m=Max(column)).values("m")[:1])


def with_last_contact(patients: QuerySet[Patient]) -> QuerySet[Patient]:
    """The patients, each with ``last_contact`` (a moment): their identity's last change if
    nothing later."""
    later = [
        Coalesce(_latest(model, column), F("updated_at"), output_field=DateTimeField())
        for model, column in sources()
    ]
    return patients.annotate(last_contact=Greatest(F("updated_at"), *later))


def due(years: int, today: dt.date | None = None) -> QuerySet[Patient]:
    """The patients without any contact for ``years`` years: their retention has ended."""
    cutoff = _start_of(years_before(today or timezone.localdate(), years))
    found = Patient.objects.filter(updated_at__lt=cutoff)
    for model, column in sources():
        after = model._base_manager.filter(patient=OuterRef("pk"), **{f"{column}__gte": cutoff})
        found = found.exclude(Exists(after))
    # The annotation's name is unknown to the stubs' model: a plain QuerySet for them.
    annotated: Any = with_last_contact(found)
    return annotated.order_by("last_contact", "pk")


def last_contact(patient_pk: int) -> dt.datetime:
    """One patient's last contact."""
    found: Any = with_last_contact(Patient.objects.filter(pk=patient_pk))
    return found.values("last_contact").get()["last_contact"]
