"""Rows that decide who may do what, authenticated under the key file (B1, B3, C1, O2).

Whoever holds the database but not the key file must not be able to grant themselves anything:
make the secretary a practitioner, put a password hash of their own on an account, add a
security key of their own to it, switch a factor back on, or stretch the idle lock. Each such
row is a ``crypto.rows.SealedRow`` (its ``SEALED_FIELDS`` are in accounts/models.py); a row
changed without the key file no longer matches its seal, and it is refused, never obeyed:

* a user: treated as locked (no login, no session), an alert raised and the refusal audited;
* a factor: ignored (it proves nothing), alerted and audited;
* the practice settings: the defaults apply instead, alerted and audited.

A user's names are sealed too: the auditor's reports name people by them. Fields that only slow
an attacker down (failure counters, lock-out end, last use) are not sealed: they change on every
login and hold no right.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from secretum.access.actor import Actor, Purpose
from secretum.audit.log import record_tampered
from secretum.crypto.rows import intact, label_of


def report(instance: Any, source: str = "") -> None:
    """A sealed row that does not match: refused by the caller, recorded for the auditor."""
    actor = Actor(user=None, role=None, source=source or "system", purpose=Purpose.MAINTENANCE)
    record_tampered(label_of(instance), str(instance.pk), actor=actor)


def checked(instance: Any, source: str = "") -> bool:
    """``intact``, and a mismatch reported."""
    if intact(instance):
        return True
    report(instance, source)
    return False


class AlteredAccount(ValidationError):
    """A user's row altered outside Secretum, refused as it is: never saved again, since a save
    would seal the values written outside into a valid row. Its refuser reports it (``report``)
    once outside the transaction that the refusal rolls back."""

    def __init__(self, user: Any) -> None:
        super().__init__(_("This account was altered outside Secretum: it stays refused."))
        self.user = user
