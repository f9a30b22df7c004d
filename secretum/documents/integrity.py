"""Each document of a record authenticated under the key file, and counted in the set of the
record's entries (issue 15; D4, E10, G3).

A document's content and title are sealed under the patient's data key, their associated data
naming the row, its status and its type (documents/models.py): a ciphertext cannot be read under
another row's name. What that does not tell is whether a row is where Secretum put it, as
Secretum left it: a letter deleted from the database, a row copied from another patient or put
back from an older copy. So, like a clinical entry (clinical/integrity.py):

* a document's ``row_seal`` is HMAC-SHA256 (RFC 2104) under the key file's index key, domain
  ``row:documents.Document``, over the patient's uid, the document's uid, author, time of
  recording, status, type, size, source, the scanner's finding and the SHA-256 of each of its
  ciphertexts: a quarantined document marked clean, or a row moved to another patient, no longer
  matches. The content's SHA-256 is kept in the row (``content_sha256``) so that a list of
  documents checks each seal without reading the contents (the chart does: a record's scans
  may weigh tens of megabytes); where the content is read (opening a document, ``records
  verify``) its hash is checked against it too;
* the set of a record's documents is in the record's ``entries_digest`` (kind ``document``),
  which the record seal covers (patients/integrity.py): a document deleted, added, or put back
  with an older seal of its own changes the digest. ``register`` counts the table in that set
  when Django starts (DocumentsConfig.ready): the digest lives one layer down, in patients, so
  neither clinical nor documents imports the other to keep it whole.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from secretum.crypto import keyring
from secretum.crypto.fields import uid_text
from secretum.documents.models import Document
from secretum.patients import integrity as records

KIND = "document"  # its name in the entries digest
DOMAIN = "row:documents.Document"

# json.dumps(value, separators=(",", ":")), without making an encoder at each call.
_CANONICAL = json.JSONEncoder(separators=(",", ":"))


def _when(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def _hex(value: bytes | memoryview | None) -> str | None:
    return None if value is None else bytes(value).hex()


def content_sha256(row: Any) -> bytes:
    """The SHA-256 of the row's content ciphertext (the row's content loaded)."""
    return hashlib.sha256(bytes(row.content)).digest()


def seal_of(row: Any, patient_uid: str) -> bytes:
    """The seal a document row must carry (a migration's historical row too): over the title
    ciphertext's SHA-256 and the content's as the row keeps it (``content_sha256``)."""
    title = row.title
    canonical = _CANONICAL.encode(
        [
            str(patient_uid),
            uid_text(row),
            row.author_id,
            _when(row.recorded_at),
            row.status,
            row.content_type,
            int(row.size),
            row.source,
            row.signature,
            [
                None if title is None else hashlib.sha256(title).hexdigest(),
                _hex(row.content_sha256),
            ],
        ]
    )
    return keyring.secret_digest(DOMAIN, canonical)


def stamp(row: Any, patient_uid: str) -> None:
    """Write the content's hash and the seal of a document row about to be saved (its content
    loaded)."""
    row.content_sha256 = content_sha256(row)
    row.row_seal = seal_of(row, patient_uid)


def intact(row: Any, patient_uid: str) -> bool:
    """The row is as Secretum sealed it: its seal, and its content's hash where the content was
    read (a row loaded without it, as a list loads it, is checked on all but the content)."""
    stored, digest = row.row_seal, row.content_sha256
    if stored is None or digest is None:
        return False
    if not hmac.compare_digest(bytes(stored), seal_of(row, patient_uid)):
        return False
    return "content" in row.get_deferred_fields() or hmac.compare_digest(
        bytes(digest), content_sha256(row)
    )


def register() -> None:
    """Count the documents in the set the record seal covers (DocumentsConfig.ready)."""
    records.register_entries(
        KIND, records.EntryKind(Document, stamp, intact, ("content_sha256", "row_seal"))
    )
