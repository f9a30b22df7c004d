"""Secretum's own export format (``practice.py`` writes it, ``practice_import.py`` reads it):
its names and how a row is written. Imports nothing of Django: ``secretum import --home`` reads
it before Django is set up."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid
from typing import Any

FORMAT = "secretum"
VERSION = 1
MANIFEST, SIGNATURE = "manifest.json", "manifest.sig"
RECORDS, AUDIT, INSTANCE = "records.age", "audit.age", "instance.age"
AUDIT_SIGNATURE = "audit.sig"
FILES = (RECORDS, AUDIT, INSTANCE)
AUDIT_APP = "audit"
# What the signatures sign, apart from anything else the key signs (checkpoints).
MANIFEST_DOMAIN = b"secretum-practice-manifest-v1\n"
AUDIT_DOMAIN = b"secretum-practice-audit-v1\n"
BATCH = 2000


def encode(value: Any) -> Any:
    """A column's value as JSON: bytes as base64, moments in full ISO 8601 (every microsecond:
    seals and hashes cover them), decimals and UUIDs as text. The field's own ``to_python``
    reads each back (practice_import.py)."""
    if isinstance(value, bytes | memoryview | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not exported")


def line(data: Any) -> bytes:
    return json.dumps(data, default=encode, ensure_ascii=False, separators=(",", ":")).encode()


def audit_statement(sha256: str, counts: dict[str, int]) -> bytes:
    """What ``audit.sig`` signs: the audit file's content (its SHA-256 before encryption) and
    the number of rows of each audit table."""
    return line({"sha256": sha256, "rows": counts})
