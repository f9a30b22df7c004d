"""Each clinical entry, and the set of a record's entries, authenticated under the key file
(E10, G3, O2).

An entry's ``row_seal`` is HMAC-SHA256 (RFC 2104) under the key file's index key, domain
``row:<model>``, over the patient's uid, the entry's uid, author, time of recording, the version
it supersedes, whether and when it was superseded, whether it was retracted, and the SHA-256 of
each of its ciphertexts. A row changed in the database without the key file (un-retracted,
made current again, moved to another patient, dated back) no longer matches.

The set of a record's entries is authenticated by the patient row: ``entries_digest`` is the
SHA-256 of every entry's kind, uid and seal, in a fixed order, and the record seal covers it
(patients/integrity.py, which computes it over the tables registered there: these five, and the
documents), so an entry deleted, added, or put back with an older seal of its own changes the
digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from secretum.clinical.models import MODELS
from secretum.crypto import keyring
from secretum.crypto.fields import SealedField, uid_text
from secretum.patients import integrity as records

# json.dumps(value, separators=(",", ":")), without making an encoder at each call.
_CANONICAL = json.JSONEncoder(separators=(",", ":"))


@cache
def _sealed_fields(label: str) -> tuple[str, ...]:
    model = next(m for m in MODELS.values() if m._meta.label == label)
    return tuple(f.name for f in model._meta.concrete_fields if isinstance(f, SealedField))


def _when(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def seal_of(row: Any, patient_uid: str, fields: Iterable[str] | None = None) -> bytes:
    """The seal an entry row must carry. ``fields``: its sealed fields (a migration's historical
    model passes them; otherwise the model's own)."""
    label = row._meta.label
    names = _sealed_fields(label) if fields is None else fields
    cipher = [
        None if (v := getattr(row, n)) is None else hashlib.sha256(v).hexdigest() for n in names
    ]
    canonical = _CANONICAL.encode(
        [
            str(patient_uid),
            uid_text(row),
            row.author_id,
            _when(row.recorded_at),
            row.supersedes_id,
            _when(row.superseded_at),
            bool(row.retracted),
            cipher,
        ]
    )
    return keyring.secret_digest("row:" + label, canonical)


def stamp(row: Any, patient_uid: str) -> None:
    """Write the seal of an entry row about to be saved."""
    row.row_seal = seal_of(row, patient_uid)


def intact(row: Any, patient_uid: str) -> bool:
    stored = row.row_seal
    return stored is not None and hmac.compare_digest(bytes(stored), seal_of(row, patient_uid))


def register() -> None:
    """Count the kinds of entry in the set the record seal covers (ClinicalConfig.ready)."""
    for kind, model in MODELS.items():
        records.register_entries(kind, records.EntryKind(model, stamp, intact))
