"""Rows that decide who may do what, authenticated under the key file (B1, B3, C1, O2).

Whoever holds the database but not the key file must not be able to grant themselves anything.
A model that mixes in ``SealedRow`` names the fields that grant rights in ``SEALED_FIELDS`` and
carries ``row_seal``: HMAC-SHA256 (RFC 2104) under the key file's index key, domain
``row:<app>.<Model>``, over its primary key and those fields, canonically encoded. Every save
through Secretum writes it; a row changed without the key file no longer matches, and the
caller refuses it (accounts/integrity.py says how each kind of row is refused).
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Sequence
from typing import Any, ClassVar

from django.db import transaction

from secretum.crypto import keyring

# json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str), without making an
# encoder at each call.
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def label_of(instance: Any) -> str:
    return f"{instance._meta.app_label}.{instance._meta.object_name}"


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | memoryview | bytearray):
        return {"b": bytes(value).hex()}
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        # A moment, whatever zone it was typed in: the database gives it back in UTC.
        return str(value.astimezone(dt.UTC))
    return value


def seal_of(label: str, pk: Any, values: Sequence[Any]) -> bytes:
    """The seal of a row of model ``label`` with primary key ``pk`` whose sealed fields hold
    ``values``, in the order of its ``SEALED_FIELDS``."""
    canonical = _CANONICAL.encode([pk, [_encode(v) for v in values]])
    return keyring.secret_digest("row:" + label, canonical)


def _values(instance: Any, fields: Sequence[str] | None = None) -> list[Any]:
    return [getattr(instance, name) for name in fields or type(instance).SEALED_FIELDS]


def stamp(instance: Any, fields: Sequence[str] | None = None) -> None:
    """Write the seal of a row about to be saved (its primary key must be known). ``fields``:
    a migration's historical model passes the real model's ``SEALED_FIELDS``."""
    instance.row_seal = seal_of(label_of(instance), instance.pk, _values(instance, fields))


def intact(instance: Any) -> bool:
    """The row is as Secretum last wrote it."""
    stored = instance.row_seal
    if stored is None:
        return False
    expected = seal_of(label_of(instance), instance.pk, _values(instance))
    return hmac.compare_digest(bytes(stored), expected)


class SealedRow:
    """Mixin for a model whose ``save`` writes its seal. A save limited to unsealed fields
    (``update_fields``) leaves the seal alone: the row's other values in memory may be stale."""

    SEALED_FIELDS: ClassVar[tuple[str, ...]] = ()

    def seal_intact(self) -> bool:
        """The row is as Secretum last wrote it."""
        return intact(self)

    def save(self, *args: Any, **kwargs: Any) -> None:
        fields = kwargs.get("update_fields")
        if fields is not None and not set(fields) & set(self.SEALED_FIELDS):
            super().save(*args, **kwargs)  # type: ignore[misc]
            return
        if self.pk is None:  # type: ignore[attr-defined]
            with transaction.atomic():
                super().save(*args, **kwargs)  # type: ignore[misc]  # to learn the primary key
                stamp(self)
                super().save(update_fields=["row_seal"])  # type: ignore[misc]
            return
        if fields is not None:
            kwargs["update_fields"] = [*fields, "row_seal"]
        stamp(self)
        super().save(*args, **kwargs)  # type: ignore[misc]
