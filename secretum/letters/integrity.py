"""Each letter of a record authenticated under the key file, and counted in the set of the record's
entries (issue 15; E10, G3), as a clinical entry is (clinical/integrity.py).

A letter's ``row_seal`` is HMAC-SHA256 (RFC 2104) under the key file's index key, domain
``row:letters.Letter``, over the patient's uid, the letter's uid, author, time of recording,
kind, language, status, time of finalising, the version it supersedes, whether and when it was
superseded, the SHA-256 of its content's ciphertext and who finalised it (its signatory): a
finalised letter turned back into a draft in the database (to edit it in place), given another
kind, dated back or moved to another patient no longer matches. The set of a record's letters is
in the record's ``entries_digest`` (kind ``letter``), which the record seal covers
(patients/integrity.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from secretum.crypto import keyring
from secretum.crypto.fields import uid_text
from secretum.letters.models import Letter
from secretum.patients import integrity as records

KIND = "letter"  # its name in the entries digest
DOMAIN = "row:letters.Letter"

# json.dumps(value, separators=(",", ":")), without making an encoder at each call.
_CANONICAL = json.JSONEncoder(separators=(",", ":"))


def _when(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def seal_of(row: Any, patient_uid: str) -> bytes:
    """The seal a letter row must carry."""
    content = row.content
    canonical = _CANONICAL.encode(
        [
            str(patient_uid),
            uid_text(row),
            row.author_id,
            _when(row.recorded_at),
            row.kind,
            row.language,
            row.status,
            _when(row.finalised_at),
            row.supersedes_id,
            _when(row.superseded_at),
            None if content is None else hashlib.sha256(content).hexdigest(),
            row.finalised_by_id,
        ]
    )
    return keyring.secret_digest(DOMAIN, canonical)


def stamp(row: Any, patient_uid: str) -> None:
    """Write the seal of a letter row about to be saved."""
    row.row_seal = seal_of(row, patient_uid)


def intact(row: Any, patient_uid: str) -> bool:
    stored = row.row_seal
    return stored is not None and hmac.compare_digest(bytes(stored), seal_of(row, patient_uid))


def register() -> None:
    """Count the letters in the set the record seal covers (LettersConfig.ready)."""
    records.register_entries(KIND, records.EntryKind(Letter, stamp, intact))
