"""The one place where a sealed field of a patient is decrypted for someone (C1, E10).

The gate (access/guard.py) hands each audited call a ``FieldReader`` for the patient's data key;
the services decrypt through it and through nothing else (a test reads the code to hold them to
it). What it opens is decided by the classification (access/classification.py), not by what a
view asks for: an identity field for a role that reads identities, a medical field only for a
role that reads medical data *and* on a basis for this patient (a care relationship, the shared
record, a break-the-glass access), a secret never. A field refused is a ``FieldRefused``: the
call is refused as a whole, and the refusal audited.
"""

from __future__ import annotations

from typing import Any

from secretum.access.actor import AccessDenied, Actor
from secretum.access.classification import ALSO_READS, FIELDS, READ_PERMISSION, DataClass
from secretum.crypto.keyring import DataKey


class FieldRefused(AccessDenied):
    """A service asked to decrypt a field of a class its caller may not read."""

    def __init__(self, label: str, name: str) -> None:
        super().__init__(f"{label}.{name}")
        self.field = f"{label}.{name}"


class FieldReader:
    """Opens the fields of one patient (whose data key it holds) for one audited call.

    ``decided``: the call's decisions so far, by (model, field), shared by the readers of one
    call (a search opens many patients): each field's class is decided once per call, by the
    role the gate found at its start, never carried into another call."""

    __slots__ = ("_actor", "_decided", "_key", "_medical")

    def __init__(
        self,
        actor: Actor,
        key: DataKey,
        *,
        medical: bool,
        decided: dict[tuple[str, str], bool] | None = None,
    ) -> None:
        self._actor = actor
        self._key = key
        self._medical = medical  # the gate found a basis for this patient's medical record
        self._decided = {} if decided is None else decided

    def may(self, label: str, name: str) -> bool:
        decided = self._decided.get((label, name))
        if decided is None:
            decided = self._decided[label, name] = self._decide(label, name)
        return decided

    def _decide(self, label: str, name: str) -> bool:
        data_class = FIELDS[label][name]
        if data_class == DataClass.SECRET:
            return False
        if self._actor.user is None:  # the system itself: the instance's owner
            return True
        if data_class == DataClass.MEDICAL and not self._medical:
            return False
        permission = READ_PERMISSION[data_class]
        if permission is None or self._actor.may(permission):
            return True
        return any(
            (label, name) in fields and self._actor.may(held) for held, fields in ALSO_READS.items()
        )

    def open(self, row: Any, name: str) -> str | None:
        label = row._meta.label
        if not self.may(label, name):
            raise FieldRefused(label, name)
        return row.unseal(self._key, name)

    def open_bytes(self, row: Any, name: str, aad: str) -> bytes:
        """The bytes of a sealed field (a document's content, D4), decided as ``open``;
        ``aad``: the associated data the row sealed them under."""
        label = row._meta.label
        if not self.may(label, name):
            raise FieldRefused(label, name)
        return self._key.open_bytes(getattr(row, name), aad)
