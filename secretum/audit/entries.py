"""The canonical entry of an audit event: the bytes that its Merkle leaf hash covers (D2).

    entry = "secretum-audit-1" US seq US at US actor_id US actor_name US role US on_behalf_of
            US patient_ref US action US resource US resource_ref US purpose US outcome US source
            US request_id US detail

US is the ASCII unit separator (0x1F), which no field may hold (``clean`` replaces control
characters when an event is written; an entry with more separators than fields is refused), so
the split is unambiguous. ``at`` is UTC, ``YYYY-MM-DD HH:MM:SS.ffffff``; ``actor_id`` is empty for
the system. Joining strings keeps verification fast: a million events are re-hashed in seconds.

    leaf_hash = SHA-256(0x00 || entry)                 RFC 9162 section 2.1.1
    mac       = BLAKE2s-256(leaf_hash, key=audit MAC key)  RFC 7693 keyed mode (a MAC)

BLAKE2s rather than HMAC-SHA256 for the code: the same strength, in one call instead of two
compressions plus a copy, which is what checking a million events in seconds needs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from secretum.audit import keys

VERSION = "secretum-audit-1"
SEP = "\x1f"
FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "role",
    "on_behalf_of",
    "patient_ref",
    "action",
    "resource",
    "resource_ref",
    "purpose",
    "outcome",
    "source",
    "request_id",
    "detail",
)
SEPARATORS = len(FIELDS)  # one after the version, one between each two fields
# The fields kept as the text they were written with (every one after seq, at and actor_id):
# the canonical entry, the database's own entry query (audit/scan.py), the writer's limits
# (audit/log.py) and the auditor's rows (audit/rows.py) all read them from here.
TEXT_FIELDS = FIELDS[3:]
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_sha256 = hashlib.sha256
_blake2s = hashlib.blake2s


def clean(value: str) -> str:
    """A field as it may be stored: control characters (the separator among them) replaced."""
    return _CONTROL.sub("\ufffd", value)


def time_text(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime(TIME_FORMAT)


def canonical(values: Sequence[str]) -> bytes:
    """The entry of one event from its fields as text, in the order of FIELDS."""
    return (VERSION + SEP + SEP.join(values)).encode()


def event_values(e: Any) -> list[str]:
    """The fields of an AuditEvent (or anything with the same attributes) as entry text."""
    return [
        str(e.seq),
        time_text(e.at),
        "" if e.actor_id is None else str(e.actor_id),
        *(getattr(e, name) for name in TEXT_FIELDS),
    ]


def leaf_of(entry: bytes) -> bytes:
    return _sha256(b"\x00" + entry).digest()


def mac_of(key: bytes, leaf: bytes) -> bytes:
    return _blake2s(leaf, key=key).digest()


@cache
def mac_key() -> bytes:
    from django.conf import settings

    return keys.load_mac_key(keys.AuditKeyPaths(settings.INSTANCE.home))


def key_paths() -> keys.AuditKeyPaths:
    from django.conf import settings

    return keys.AuditKeyPaths(settings.INSTANCE.home)


def seal(e: Any, key: bytes | None = None) -> None:
    """Set ``leaf_hash`` and ``mac`` of an event whose other fields are final."""
    leaf = leaf_of(canonical(event_values(e)))
    e.leaf_hash = leaf.hex()
    e.mac = mac_of(mac_key() if key is None else key, leaf).hex()
