"""A patient's record, authenticated as a whole under the key file (E10, G3, O2).

Each ciphertext is bound to its model, field and row by its associated data (crypto.keyring).
What authenticated encryption alone cannot tell is *which* of the valid ciphertexts is the
current one: an older name written back, an allergy deleted, an entry "entered in error" made
current again, a whole record put back from last month's backup. So a patient row carries:

* ``record_version``: counted up by every write through Secretum (the identity, each entry
  recorded, corrected or retracted, each document added), and written into that write's audit event
  (``record_version`` in its detail), where no one can set it back;
* ``entries_digest``: SHA-256 over the set of the record's entries, each named by its kind, uid
  and row seal, in a fixed order: its clinical entries (``clinical/integrity.py``) and its
  documents (``documents/integrity.py``);
* ``record_seal``: HMAC-SHA256 (RFC 2104) under the key file's index key, domain
  ``record:patients.Patient``, over the row's uid, its version, its wrapped data key, the SHA-256
  of each identity ciphertext and the entries digest, and, for an archived record (J1), the
  word "archived" (absent for an active one, so the seals written before archiving existed
  still hold): the archive flag cleared or set in the database breaks the seal.

Checked when a record is opened (the seal: a value written back, a version or digest changed)
and when its chart is opened (the entries hash to the digest; the audit log holds no write of a
later version). A record that fails is shown as altered outside Secretum and its opening is
reported to the auditor (the "tampered" alert); no entry is written into it (nor its identity
changed, if that is what was altered) until the alteration is examined and acknowledged
(``secretum records acknowledge``), so that a new seal never launders it.

Which tables hold a record's entries is told by a registry this module owns (``ENTRY_KINDS``),
filled by the apps that hold them when Django starts (their ``AppConfig.ready``): the digest
belongs to the patient row, which both the clinical entries and the documents (one layer up,
side by side) point to, so it is computed here, below both, and neither app imports the other
to keep the set whole (issue 15).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.translation import gettext as _

from secretum.audit.models import AuditEvent, Outcome
from secretum.crypto import keyring
from secretum.crypto.fields import uid_text
from secretum.patients.models import IDENTITY_FIELDS

DOMAIN = "record:patients.Patient"
# The key of a write's audit detail that names the record version it produced.
VERSION_KEY = "record_version"


# json.dumps(value, separators=(",", ":")), without making an encoder at each call.
_CANONICAL = json.JSONEncoder(separators=(",", ":"))

# The entries digest of a record that has none yet (the digest of no entry).
NO_ENTRIES = hashlib.sha256(b"").digest()


@dataclass(frozen=True)
class EntryKind:
    """A table of a record's sealed entries: its model (a ``patient`` foreign key, ``uid`` and
    ``row_seal`` columns), how one of its rows is sealed before it is saved (``stamp(row,
    patient_uid)``, which writes ``columns``) and whether a row is as Secretum sealed it
    (``intact(row, patient_uid)``)."""

    model: Any
    stamp: Callable[[Any, str], None]
    intact: Callable[[Any, str], bool]
    columns: tuple[str, ...] = ("row_seal",)


# kind -> its table: filled at start-up by each app that holds entries (AppConfig.ready).
ENTRY_KINDS: dict[str, EntryKind] = {}


def register_entries(kind: str, entries: EntryKind) -> None:
    """Count a table of sealed entries in the set the record seal covers (once per kind)."""
    ENTRY_KINDS[kind] = entries


def digest_of(entries: Iterable[tuple[str, Any, bytes | memoryview | None]]) -> bytes:
    """SHA-256 of a set of entries, each (kind, uid, seal), in a fixed order. A uid may come as a
    UUID or as the database's text of one (a union query leaves it unconverted on SQLite)."""
    lines = sorted(
        f"{kind}:{uuid.UUID(str(uid))}:{'' if seal is None else bytes(seal).hex()}"
        for kind, uid, seal in entries
    )
    return hashlib.sha256("\n".join(lines).encode()).digest()


@cache
def _entries_sql(kinds: tuple[str, ...]) -> str:
    # One query over the tables (their own names; the patient is a parameter): the ORM's union
    # of six querysets costs more to build than to run.
    return " UNION ALL ".join(
        f"SELECT '{kind}', uid, row_seal FROM {ENTRY_KINDS[kind].model._meta.db_table} "  # noqa: S608
        "WHERE patient_id = %s"
        for kind in kinds
    )


def stored_digest(patient: Any) -> bytes:
    """The digest of the entries the database holds for this patient (one query)."""
    kinds = tuple(ENTRY_KINDS)
    with connection.cursor() as cursor:
        cursor.execute(_entries_sql(kinds), [patient.pk] * len(kinds))
        return digest_of(cursor.fetchall())


def entries_intact(patient: Any) -> bool:
    """The entries in the database are the set the record seal covers."""
    stored = patient.entries_digest
    return stored is not None and hmac.compare_digest(bytes(stored), stored_digest(patient))


def _hash(value: bytes | memoryview | None) -> str | None:
    return None if value is None else hashlib.sha256(value).hexdigest()


def seal_of(patient: Any, archived: bool | None = None) -> bytes:
    """The seal a patient row must carry, from its current values; ``archived``: as if the
    record were (True) or were not (False) in the archive, whatever its column says."""
    digest = patient.entries_digest
    sha256 = hashlib.sha256
    if archived is None:  # a migration's historical row from before the archive has no column
        archived = getattr(patient, "archived_at", None) is not None
    canonical = _CANONICAL.encode(
        [
            uid_text(patient),
            patient.record_version,
            _hash(patient.wrapped_key),
            [
                None if (v := getattr(patient, n)) is None else sha256(v).hexdigest()
                for n in IDENTITY_FIELDS
            ],
            None if digest is None else bytes(digest).hex(),
            *(["archived"] if archived else []),
        ]
    )
    return keyring.secret_digest(DOMAIN, canonical)


def intact(patient: Any) -> bool:
    """The row is as Secretum last wrote it."""
    stored = patient.record_seal
    return stored is not None and hmac.compare_digest(bytes(stored), seal_of(patient))


def sealed_as_archived(patient: Any) -> bool:
    """J1: the row's seal is that of an archived record whose archive column was cleared in the
    database (checked only of a row that failed ``intact``): it stays in the archive."""
    stored = patient.record_seal
    return (
        patient.archived_at is None
        and stored is not None
        and hmac.compare_digest(bytes(stored), seal_of(patient, archived=True))
    )


def stamp(patient: Any, entries_digest: bytes | None = None) -> int:
    """Count a write: the next version, the entries' digest when it changed, a new seal. The
    caller saves the row, and records the version returned in its audit event."""
    patient.record_version = (patient.record_version or 0) + 1
    if entries_digest is not None:
        patient.entries_digest = entries_digest
    patient.record_seal = seal_of(patient)
    return int(patient.record_version)


def count_entries_write(patient: Any) -> int:
    """A write of the record's entries (one recorded, corrected, retracted, a document added):
    the record sealed over its entries as they now are, one version on, and saved. The caller
    holds the row locked (``writable_patient``) and records the version returned in its audit
    event."""
    version = stamp(patient, stored_digest(patient))
    patient.save(update_fields=["record_version", "entries_digest", "record_seal"])
    return version


# The events that wrote a record: the condition of the partial index audit_record_writes
# (patients migration 0006), which the query repeats word for word so that both engines read
# that index, whose size grows with the record's writes, never with its reads (issue 17).
RECORD_WRITES = f"outcome = '{Outcome.SUCCESS.value}' AND detail LIKE '%\"{VERSION_KEY}\":%'"
# The latest write of a record the audit log holds (the audit table's own name and columns; the
# patient is a parameter). Raw SQL: the ORM takes longer to build this query than to run it.
_AUDITED_SQL = (
    f"SELECT detail FROM {AuditEvent._meta.db_table} "  # noqa: S608
    f"WHERE patient_ref = %s AND {RECORD_WRITES.replace('%', '%%')} ORDER BY seq DESC LIMIT 1"
)


def audited_version(patient_uid: str) -> int:
    """The latest record version the audit log holds a write of (0 if none): a record whose own
    version is lower was put back from an older copy."""
    with connection.cursor() as cursor:
        cursor.execute(_AUDITED_SQL, [patient_uid])
        row = cursor.fetchone()
    return int(json.loads(row[0]).get(VERSION_KEY, 0)) if row else 0


def altered_error() -> ValidationError:
    return ValidationError(
        _(
            "This record was altered outside Secretum: it cannot be changed until the "
            "alteration has been examined and acknowledged (secretum records acknowledge)."
        ),
        code="record-altered",
    )
