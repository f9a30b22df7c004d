"""All reads and writes of clinical data: practitioners only, audited, sealed."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.models import Action
from secretum.clinical import rules
from secretum.clinical.models import (
    Allergy,
    ClinicalEntry,
    Encounter,
    Medication,
    Observation,
    Problem,
)
from secretum.crypto.keyring import DataKey
from secretum.patients.services import PatientIdentity, open_patient, reveal_identity

# Any: django-stubs cannot type the managers of an abstract base's subclasses.
MODELS: dict[str, Any] = {
    "encounter": Encounter,
    "problem": Problem,
    "allergy": Allergy,
    "medication": Medication,
    "observation": Observation,
}
CHART_LIMIT = 100  # entries of each kind on the chart page


@dataclass(frozen=True)
class Entry:
    kind: str
    uid: str
    recorded_at: dt.datetime
    author: str
    values: dict[str, str | None]
    corrected: bool  # this version replaces an earlier one
    current: bool
    retracted: bool


@dataclass(frozen=True)
class Chart:
    patient: PatientIdentity
    entries: dict[str, list[Entry]] = field(default_factory=dict)


def _model(kind: str) -> Any:
    try:
        return MODELS[kind]
    except KeyError:
        raise Http404("No such kind of entry.") from None


def _reveal(kind: str, row: ClinicalEntry, key: DataKey) -> Entry:
    names = [s.name for s in rules.SPECS[kind]] + (["unit"] if kind == "observation" else [])
    return Entry(
        kind=kind,
        uid=str(row.uid),
        recorded_at=row.recorded_at,
        author=str(row.author),
        values={n: row.unseal(key, n) for n in names},
        corrected=getattr(row, "supersedes_id", None) is not None,
        current=row.superseded_at is None and not row.retracted,
        retracted=row.retracted,
    )


def _resource(kind: str) -> str:
    return MODELS[kind]._meta.label


def access_chart(actor: Actor, patient_uid: Any) -> Chart:
    with guarded(
        actor,
        Permission.CLINICAL_READ,
        Action.READ,
        "clinical.Chart",
        patient_ref=patient_uid,
        resource_ref=patient_uid,
    ):
        patient, key = open_patient(patient_uid)
        chart = Chart(reveal_identity(patient, key))
        for kind, model in MODELS.items():
            rows = (
                model.objects.filter(patient=patient, superseded_at__isnull=True, retracted=False)
                .select_related("author")
                .order_by("-recorded_at", "-id")[:CHART_LIMIT]
            )
            chart.entries[kind] = [_reveal(kind, r, key) for r in rows]
        return chart


def record_entry(actor: Actor, patient_uid: Any, kind: str, data: dict[str, Any]) -> Entry:
    model = _model(kind)
    values = rules.clean_entry(kind, data)
    with guarded(
        actor, Permission.CLINICAL_WRITE, Action.CREATE, _resource(kind), patient_ref=patient_uid
    ) as event:
        patient, key = open_patient(patient_uid)
        row = model(patient=patient, author=actor.user)
        row.seal(key, **values)
        row.save()
        event.resource_ref = str(row.uid)
        return _reveal(kind, row, key)


def _open_entry(kind: str, uid: Any) -> tuple[Any, DataKey]:
    model = _model(kind)
    try:
        row = model.objects.select_related("patient", "author").get(uid=uid)
    except (model.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such entry.") from None
    _, key = open_patient(row.patient.uid)
    return row, key


def _entry_patient_ref(kind: str, uid: Any) -> str:
    """The patient of an entry, for the audit event of a call that may yet be refused."""
    row = (
        _model(kind).objects.filter(uid=uid).values_list("patient__uid", flat=True).first()
        if _valid_uuid(uid)
        else None
    )
    return str(row or "")


def _valid_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def entry_patient(actor: Actor, kind: str, uid: Any) -> str:
    """The uid of the patient an entry belongs to (to go back to the chart), checked."""
    ref = _entry_patient_ref(kind, uid)
    if not ref or not actor.may(Permission.CLINICAL_READ):
        raise Http404("No such entry.")
    return ref


def access_entry(actor: Actor, kind: str, uid: Any) -> tuple[Entry, str]:
    """One entry and its patient's uid (to prefill a correction)."""
    with guarded(
        actor,
        Permission.CLINICAL_READ,
        Action.READ,
        _resource(kind) if kind in MODELS else "clinical",
        patient_ref=_entry_patient_ref(kind, uid),
        resource_ref=uid,
    ):
        row, key = _open_entry(kind, uid)
        return _reveal(kind, row, key), str(row.patient.uid)


def correct_entry(actor: Actor, kind: str, uid: Any, data: dict[str, Any]) -> tuple[Entry, str]:
    """A new version that supersedes the current one (the earlier version is kept), and the
    patient's uid."""
    values = rules.clean_entry(kind, data)
    with guarded(
        actor,
        Permission.CLINICAL_WRITE,
        Action.UPDATE,
        _resource(kind),
        patient_ref=_entry_patient_ref(kind, uid),
        resource_ref=uid,
    ) as event:
        old, key = _open_entry(kind, uid)
        if old.superseded_at is not None or old.retracted:
            raise ValidationError(_("Only the current version of an entry can be corrected."))
        old.superseded_at = timezone.now()
        old.save(update_fields=["superseded_at"])
        new = type(old)(patient=old.patient, author=actor.user, supersedes=old)
        new.seal(key, **values)
        new.save()
        event.detail["new_version"] = str(new.uid)
        return _reveal(kind, new, key), str(old.patient.uid)


def retract_entry(actor: Actor, kind: str, uid: Any) -> str:
    """Mark an entry as entered in error (the row and its history stay); the patient's uid."""
    with guarded(
        actor,
        Permission.CLINICAL_WRITE,
        Action.DELETE,
        _resource(kind),
        patient_ref=_entry_patient_ref(kind, uid),
        resource_ref=uid,
    ):
        row, _key = _open_entry(kind, uid)
        if row.superseded_at is not None or row.retracted:
            raise ValidationError(_("Only the current version of an entry can be retracted."))
        row.retracted = True
        row.save(update_fields=["retracted"])
        return str(row.patient.uid)


def entry_history(actor: Actor, kind: str, uid: Any) -> tuple[list[Entry], str]:
    """Every version of an entry, newest first, and the patient's uid."""
    with guarded(
        actor,
        Permission.CLINICAL_READ,
        Action.READ,
        _resource(kind) if kind in MODELS else "clinical",
        patient_ref=_entry_patient_ref(kind, uid),
        resource_ref=uid,
        detail={"view": "history"},
    ):
        first, key = _open_entry(kind, uid)
        patient_uid = str(first.patient.uid)
        row: ClinicalEntry | None = first
        # Walk forward to the newest version, then back through every earlier one.
        while row is not None and hasattr(row, "superseded_by"):
            row = row.superseded_by
        versions = []
        while row is not None:
            versions.append(_reveal(kind, row, key))
            row = row.supersedes
        return versions, patient_uid
