"""A patient's data key rotated: a new DEK, every value of the record sealed again under it, the
old one gone (E10, O1; ``secretum keys rotate --patient NISS-OR-UID``, docs/keys.md).

What a patient's DEK seals: the identity (``Patient``'s sealed fields) and every table of the
record's entries (``integrity.ENTRY_KINDS``: the clinical entries with every earlier version
they superseded, and the documents, titles and contents), each value bound by its associated
data (``SealedModel.aad_of``). One patient is one transaction, holding the patient row locked
(``writable_patient``): either every value and the wrapped key are the new ones, or none is, so
a rotation interrupted at any point leaves the record readable under the key it had. Each entry
gets a new row seal (its ciphertexts changed), the record a new entries digest and seal, one
version on, and the write is an audit event naming that version (a rotation is a write of the
record). A record or entry altered outside Secretum is refused, never sealed again: a new seal
would launder the alteration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from secretum.access.actor import Actor
from secretum.access.guard import EventDraft, require
from secretum.access.policy import Permission
from secretum.audit.log import record_event
from secretum.audit.models import Action
from secretum.crypto.fields import SealedField, uid_text
from secretum.crypto.keyring import DataKey, new_data_key
from secretum.patients import integrity, services
from secretum.patients.models import IDENTITY_FIELDS


@dataclass(frozen=True)
class Rotated:
    uid: str
    values: int  # values sealed again (identity fields and entry fields that hold one)
    entries: int  # entry rows sealed again
    record_version: int


def sealed_fields(model: Any) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if isinstance(f, SealedField)]


def _reseal(row: Any, names: list[str], old: DataKey, new: DataKey) -> int:
    """Each sealed value of the row opened under ``old`` and sealed under ``new``."""
    count = 0
    for name in names:
        blob = getattr(row, name)
        if blob is not None:
            aad = row.aad_of(name)
            setattr(row, name, new.seal_bytes(old.open_bytes(blob, aad), aad))
            count += 1
    return count


def rotate_patient_key(actor: Actor, uid: Any) -> Rotated:
    """Rotate one patient's data key (the module's docstring); ValidationError if the record was
    altered outside Secretum, Http404 if there is no such patient; AccessDenied (audited) for
    anyone but the instance's owner at the command line: no role holds the permission."""
    asked = {"data_key": "rotate"}
    require(
        actor,
        Permission.KEYS_ROTATE,
        EventDraft(Action.UPDATE, services.RESOURCE, str(uid), str(uid), asked),
    )
    with transaction.atomic():
        patient, old = services.writable_patient(uid)
        patient_uid = uid_text(patient)
        rows = [
            (kind, sealed_fields(kind.model), row)
            for kind in integrity.ENTRY_KINDS.values()
            for row in kind.model._base_manager.filter(patient_id=patient.pk).order_by("pk")
        ]
        altered = not integrity.entries_intact(patient) or not all(
            kind.intact(row, patient_uid) for kind, _names, row in rows
        )
        if not altered:
            return _rotate(actor, patient, old, rows)
    # Nothing written: the alteration reported (outside the transaction, so that it stays).
    services.report_unreadable(patient, actor)
    raise integrity.altered_error()


def _rotate(
    actor: Actor, patient: Any, old: DataKey, rows: list[tuple[Any, list[str], Any]]
) -> Rotated:
    patient_uid = uid_text(patient)
    new, patient.wrapped_key = new_data_key(services.key_aad(patient))
    values = 0
    for kind, names, row in rows:
        values += _reseal(row, names, old, new)
        kind.stamp(row, patient_uid)
        row.save(update_fields=[*names, *kind.columns])
    values += _reseal(patient, list(IDENTITY_FIELDS), old, new)
    version = integrity.stamp(patient, integrity.stored_digest(patient))
    patient.save(
        update_fields=[
            "wrapped_key",
            *IDENTITY_FIELDS,
            "record_version",
            "entries_digest",
            "record_seal",
        ]
    )
    record_event(
        actor,
        Action.UPDATE,
        services.RESOURCE,
        patient_ref=patient_uid,
        resource_ref=patient_uid,
        detail={integrity.VERSION_KEY: version, "data_key": "rotated", "values": values},
    )
    return Rotated(patient_uid, values, len(rows), version)
