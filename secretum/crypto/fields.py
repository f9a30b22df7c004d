"""Sealed model fields: ciphertext only, ever, in the database (E10, G3)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models

from secretum.crypto.keyring import DataKey


def uid_text(row: Any) -> str:
    """``str(row.uid)``, formatted once for the uid the row holds: the associated data of each
    of its sealed values and its seal name it, and a list of patients opens hundreds. A uid
    set anew is formatted anew."""
    uid = row.uid
    known = row.__dict__.get("_uid_text")
    if known is None or known[0] is not uid:
        known = row.__dict__["_uid_text"] = (uid, str(uid))
    return str(known[1])


class SealedField(models.BinaryField):
    """AES-256-GCM ciphertext of one value (see keyring). Never filtered on, never ordered by:
    search goes through blind indexes."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("null", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)


class SealedModel(models.Model):
    """A row with sealed fields and an opaque identifier for URLs (H2)."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True

    def aad(self, field: str) -> str:
        # Binds a ciphertext to its model, field and row.
        return f"{self._meta.label}.{field}:{uid_text(self)}"

    def aad_of(self, field: str) -> str:
        """The associated data of a sealed field's value (a model whose field binds more than its
        row, as a document's content binds its status and type, says so here): a data key's
        rotation re-seals each value under it."""
        return self.aad(field)

    def seal(self, key: DataKey, **values: str | None) -> None:
        for name, value in values.items():
            if not isinstance(self._meta.get_field(name), SealedField):
                raise TypeError(f"{self._meta.label}.{name} is not a sealed field")
            setattr(self, name, key.seal(value, self.aad(name)))

    def unseal(self, key: DataKey, name: str) -> str | None:
        return key.open(getattr(self, name), self.aad(name))
