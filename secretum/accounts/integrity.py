"""Rows that decide who may do what, authenticated under the key file (B1, B3, C1, O2).

Whoever holds the database but not the key file must not be able to grant themselves anything:
make the secretary a practitioner, put a password hash of their own on an account, add a
security key of their own to it, switch a factor back on, or stretch the idle lock. Each such
row carries ``row_seal``: HMAC-SHA256 (RFC 2104) under the key file's index key, domain
``row:<model>``, over its primary key and the fields below, canonically encoded. Every save
through Secretum writes it; a row changed without the key file no longer matches, and it is
refused, never obeyed:

* a user: treated as locked (no login, no session), an alert raised and the refusal audited;
* a factor: ignored (it proves nothing), alerted and audited;
* the practice settings: the defaults apply instead, alerted and audited.

A user's names are sealed too: the auditor's reports name people by them. Fields that only slow
an attacker down (failure counters, lock-out end, last use) are not sealed: they change on every
login and hold no right.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from django.db import transaction

from secretum.access.actor import Actor, Purpose
from secretum.audit.log import record_tampered
from secretum.crypto import keyring

SEALED = {
    "accounts.User": (
        "username",
        "first_name",
        "last_name",
        "role",
        "is_active",
        "is_staff",
        "is_superuser",
        "password",
        "must_enrol_factor",
        "must_change_password",
    ),
    "accounts.Factor": (
        "user_id",
        "kind",
        "confirmed",
        "totp_secret",
        "credential_id",
        "public_key",
    ),
    "accounts.PracticeSettings": (
        "idle_timeout_minutes",
        "session_lifetime_hours",
        "password_renewal_days",
    ),
}


def _label(instance: Any) -> str:
    return f"{instance._meta.app_label}.{instance._meta.object_name}"


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | memoryview | bytearray):
        return {"b": bytes(value).hex()}
    return value


def seal_of(label: str, pk: Any, values: dict[str, Any]) -> bytes:
    """The seal of a row of model ``label`` with primary key ``pk`` and these field values."""
    canonical = json.dumps(
        [pk, [_encode(values[name]) for name in SEALED[label]]],
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return keyring.secret_digest("row:" + label, canonical)


def _values(instance: Any) -> dict[str, Any]:
    return {name: getattr(instance, name) for name in SEALED[_label(instance)]}


def stamp(instance: Any) -> None:
    """Write the seal of a row about to be saved (its primary key must be known)."""
    instance.row_seal = seal_of(_label(instance), instance.pk, _values(instance))


def intact(instance: Any) -> bool:
    """The row is as Secretum last wrote it."""
    stored = instance.row_seal
    if stored is None:
        return False
    expected = seal_of(_label(instance), instance.pk, _values(instance))
    return hmac.compare_digest(bytes(stored), expected)


class SealedRow:
    """Mixin for a model whose ``save`` writes its seal. A save limited to unsealed fields
    (``update_fields``) leaves the seal alone: the row's other values in memory may be stale."""

    def seal_intact(self) -> bool:
        """The row is as Secretum last wrote it (for layers below accounts, without an import)."""
        return intact(self)

    def save(self, *args: Any, **kwargs: Any) -> None:
        fields = kwargs.get("update_fields")
        sealed = SEALED[_label(self)]
        if fields is not None and not set(fields) & set(sealed):
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


def report(instance: Any, source: str = "") -> None:
    """A sealed row that does not match: refused by the caller, recorded for the auditor."""
    actor = Actor(user=None, role=None, source=source or "system", purpose=Purpose.MAINTENANCE)
    record_tampered(_label(instance), str(instance.pk), actor=actor)


def checked(instance: Any, source: str = "") -> bool:
    """``intact``, and a mismatch reported."""
    if intact(instance):
        return True
    report(instance, source)
    return False
