"""Signed checkpoints of the audit log, and the witness outside the database (D2).

A checkpoint says "the first N events of this log have Merkle root R" (RFC 9162 tree head),
signed with the instance's Ed25519 checkpoint key, which lives in a file that the web workers
never read. Each checkpoint is stored in the database (``AuditCheckpoint``) and appended to the
witness: a file on another path, opened in append mode, one JSON line per checkpoint (and, when
``SECRETUM_AUDIT_SYSLOG`` names a host, sent there as a syslog message). An attacker who rolls
the database back, or rewrites it with recomputed hashes, cannot produce a checkpoint that
matches, and cannot reach the witness's copy.

The signed text (a "note"), one item per line::

    secretum-audit-checkpoint-1
    <key id>
    <tree size>
    <root hash, hex>
    <signing time, UTC ISO 8601>

The signer signs only what it has checked: every event since the previous checkpoint must carry
a valid leaf hash and authentication code, and the tree must extend every checkpoint already
signed. Otherwise it refuses, and says why.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.db import IntegrityError, connection, transaction

from secretum.audit import entries, heads, keys, merkle
from secretum.audit.models import AuditCheckpoint, AuditEvent

NOTE_HEADER = "secretum-audit-checkpoint-1"
# A re-anchoring after a restore (D2): the same lines, then "restored from backup <label>".
ANCHOR_HEADER = "secretum-audit-reanchor-1"
_PG_CHECKPOINT_LOCK = 0x5EC7E7A2


class CheckpointError(Exception):
    """The signer refuses to sign: the log does not extend what was signed before."""


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root_hash: str  # hex
    signed_at: dt.datetime
    key_id: str
    signature: str  # base64
    where: str = "database"  # or "witness"
    backup: str = ""  # a re-anchoring: the backup the log was restored from

    def note(self) -> bytes:
        return note_text(self.key_id, self.tree_size, self.root_hash, self.signed_at, self.backup)

    def valid_under(self, public: Ed25519PublicKey) -> bool:
        try:
            public.verify(base64.b64decode(self.signature, validate=True), self.note())
        except (InvalidSignature, ValueError):
            return False
        return self.key_id == keys.key_id(public)

    def as_dict(self) -> dict[str, Any]:
        found = {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash,
            "signed_at": _time(self.signed_at),
            "key_id": self.key_id,
            "signature": self.signature,
        }
        if self.backup:
            found["restored_from"] = self.backup
        return found

    def witness_line(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"), sort_keys=True)

    @property
    def signed_at_text(self) -> str:
        return _time(self.signed_at)


def _time(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def note_text(
    key_id: str, tree_size: int, root_hash: str, signed_at: dt.datetime, backup: str = ""
) -> bytes:
    lines = [key_id, str(tree_size), root_hash, _time(signed_at)]
    if backup:
        return "\n".join([ANCHOR_HEADER, *lines, f"restored from backup {backup}", ""]).encode()
    return "\n".join([NOTE_HEADER, *lines, ""]).encode()


def from_dict(data: dict[str, Any], where: str) -> Checkpoint:
    return Checkpoint(
        tree_size=int(data["tree_size"]),
        root_hash=str(data["root_hash"]),
        signed_at=dt.datetime.strptime(data["signed_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=dt.UTC
        ),
        key_id=str(data["key_id"]),
        signature=str(data["signature"]),
        where=where,
        backup=str(data.get("restored_from", "")),
    )


def from_row(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(
        row.tree_size, row.root_hash, row.signed_at, row.key_id, row.signature, "database"
    )


# --- the witness -----------------------------------------------------------------------------


def witness_path() -> Path:
    return Path(settings.SECRETUM_AUDIT_WITNESS)


def append_to_witness(checkpoint: Checkpoint, path: Path | None = None) -> None:
    """One line, one write(2) in O_APPEND mode, synced: writers never interleave."""
    path = path or witness_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (checkpoint.witness_line() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class WitnessReading:
    checkpoints: list[Checkpoint]
    bad_lines: list[int]  # line numbers that are neither a checkpoint nor a tree head
    exists: bool
    tree_heads: list[heads.Head] = field(default_factory=list)  # unsigned, one per commit
    # Re-anchorings after a restore; read with the public key, what came before the latest valid
    # one is superseded and left out of the lists above (D2).
    anchors: list[Checkpoint] = field(default_factory=list)

    @property
    def latest_head(self) -> heads.Head | None:
        return max(self.tree_heads, key=lambda h: (h.tree_size, h.at), default=None)


def read_witness(
    path: Path | None = None, public: Ed25519PublicKey | None = None
) -> WitnessReading:
    """The witness's lines; with ``public``, only those after its latest valid re-anchoring."""
    path = path or witness_path()
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return WitnessReading([], [], False)
    found: list[tuple[int, Checkpoint]] = []
    seen: list[tuple[int, heads.Head]] = []
    bad: list[int] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith(heads.HEAD_WORD):
            head = heads.parse(line)
            if head is None:
                bad.append(number)
            else:
                seen.append((number, head))
            continue
        try:
            found.append((number, from_dict(json.loads(line), "witness")))
        except (ValueError, KeyError, TypeError):
            bad.append(number)
    anchors = [(n, c) for n, c in found if c.backup and public and c.valid_under(public)]
    since = anchors[-1][0] if anchors else 0
    return WitnessReading(
        [c for n, c in found if n >= since],
        bad,
        True,
        [h for n, h in seen if n > since],
        [c for _, c in anchors],
    )


def send_to_syslog(checkpoint: Checkpoint) -> None:
    """RFC 5424 over UDP (RFC 5426) to SECRETUM_AUDIT_SYSLOG=host:port, when set."""
    target = settings.SECRETUM_AUDIT_SYSLOG
    if not target:
        return
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    # PRI 110 = facility 13 (log audit) * 8 + severity 6 (informational).
    message = (
        f"<110>1 {checkpoint.signed_at_text} {socket.gethostname()} secretum - "
        f"audit-checkpoint - {checkpoint.witness_line()}"
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), (host, int(port)))


# --- signing ---------------------------------------------------------------------------------


def expected_fingerprint(given: str | None = None) -> str | None:
    """The checkpoint key recorded outside the instance (D2): ``given`` (``audit verify
    --expect-key``), else SECRETUM_AUDIT_KEY_FINGERPRINT; None when neither is set. ValueError
    when it is not a fingerprint."""
    text = given or settings.SECRETUM_AUDIT_KEY_FINGERPRINT
    return keys.normalise_fingerprint(text) if text else None


def key_problem(public: Ed25519PublicKey, expected: str | None) -> str:
    """Why checkpoints under ``public`` prove nothing: it is not the expected key ("" if it is,
    or if no key is expected). Whoever holds the instance folder can make a new key pair, rewrite
    the log and sign it again; the fingerprint the practice kept elsewhere cannot be rewritten."""
    found = keys.fingerprint(public)
    if expected is None or found == expected:
        return ""
    return (
        f"the checkpoint key beside the log ({found}) is not the expected key ({expected}): the "
        "log may have been rewritten and signed again with a new key pair"
    )


def public_key() -> Ed25519PublicKey:
    return keys.load_public_key(entries.key_paths())


def signing_key() -> Ed25519PrivateKey:
    """The checkpoint signing key: only the signer and the command line ever read it."""
    return keys.load_signing_key(entries.key_paths())


def sign(
    key: Ed25519PrivateKey, tree_size: int, root: bytes, at: dt.datetime, backup: str = ""
) -> Checkpoint:
    kid = keys.key_id(key.public_key())
    signature = key.sign(note_text(kid, tree_size, root.hex(), at, backup))
    return Checkpoint(
        tree_size, root.hex(), at, kid, base64.b64encode(signature).decode(), backup=backup
    )


def _trusted_base(public: Ed25519PublicKey) -> tuple[int, list[bytes]]:
    """The latest database checkpoint whose signature and frontier hold, as (size, frontier)."""
    for row in AuditCheckpoint.objects.order_by("-tree_size")[:20]:
        if not from_row(row).valid_under(public):
            continue
        try:
            frontier = [bytes.fromhex(h) for h in json.loads(row.frontier)]
            builder = merkle.TreeBuilder(row.tree_size, frontier)
        except (ValueError, TypeError):
            continue
        if builder.root().hex() == row.root_hash:
            return row.tree_size, frontier
    return 0, []


def known_checkpoints(public: Ed25519PublicKey, *, witness: bool = True) -> list[Checkpoint]:
    """Every validly signed checkpoint, from the database and (unless told not to) the witness."""
    found = [from_row(r) for r in AuditCheckpoint.objects.all()]
    if witness:
        found += read_witness(public=public).checkpoints
    return [c for c in found if c.valid_under(public)]


def create_checkpoint(*, force: bool = False, restored_from: str = "") -> tuple[Checkpoint, bool]:
    """Sign a checkpoint of the whole log as it is now: (checkpoint, whether it is new).

    Without ``force``, nothing is signed when no event was added since the last checkpoint
    (the last one is returned). Raises CheckpointError when the log does not extend what was
    signed before, or an event since then fails its checks.

    ``restored_from`` (``secretum audit reanchor``, after a restore of an older database): what
    the witness holds is superseded, the log is checked against the database's own checkpoints
    only, and a re-anchoring naming the backup is signed into the witness before the checkpoint.
    """
    from secretum.audit.scan import PARALLEL_FROM, earliest, mac_scan, read_tree, scan_rows

    key = signing_key()
    public = key.public_key()
    try:
        wrong_key = key_problem(public, expected_fingerprint())
    except ValueError as exc:
        raise CheckpointError(f"SECRETUM_AUDIT_KEY_FINGERPRINT: {exc}") from None
    if wrong_key:
        raise CheckpointError(wrong_key)
    size = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    base_size, frontier = _trusted_base(public)
    # Only the checkpoints from the trusted base on matter here (signatures are checked for
    # those alone: a year of checkpoints is not re-verified every five minutes).
    witnessed = [] if restored_from else read_witness(public=public).checkpoints
    candidates = [from_row(r) for r in AuditCheckpoint.objects.filter(tree_size__gt=base_size)] + [
        c for c in witnessed if c.tree_size >= base_size
    ]
    signed = [c for c in candidates if c.valid_under(public)]
    if base_size:
        signed += [from_row(AuditCheckpoint.objects.get(tree_size=base_size))]
    longest = max(signed, key=lambda c: (c.tree_size, c.where == "database"), default=None)
    if longest is not None and longest.tree_size > size:
        raise CheckpointError(
            f"the log holds {size} events but the checkpoint signed at {longest.signed_at_text} "
            f"({longest.where}) covers {longest.tree_size}: the log was truncated or rolled back"
        )
    if any(c.tree_size > base_size for c in signed):
        # The database lost checkpoints that the witness keeps: start again from the first leaf,
        # comparing the tree with every checkpoint on the way.
        base_size, frontier = 0, []
        signed = known_checkpoints(public, witness=not restored_from)
    if size == base_size and not force and longest is not None:
        return longest, False
    builder = merkle.TreeBuilder(base_size, frontier)
    expected = {c.tree_size: c for c in signed if c.tree_size >= base_size}
    if base_size == 0 and size >= PARALLEL_FROM:
        # A whole log to read (first checkpoint, or the frontier was lost): all cores, and the
        # tree a level at a time.
        tree, problem, seq = read_tree(size, 0)
        problem, seq = earliest(0, problem, seq, entries.mac_key())
        if not problem:
            problem, seq = mac_scan(0, size, entries.mac_key())
        if problem:
            raise CheckpointError(f"event {seq} {problem}")
        for c in sorted(expected.values(), key=lambda c: c.tree_size):
            if c.tree_size and merkle.prefix_root(tree, c.tree_size).hex() != c.root_hash:
                _compare_failed(c)
        builder = merkle.TreeBuilder(size, merkle.frontier_of(tree, size))
    else:
        _compare(builder, expected)
        for leaf, problem, seq in scan_rows(base_size, size, entries.mac_key()):
            if problem:
                raise CheckpointError(f"event {seq} {problem}")
            builder.append(leaf)
            if builder.size in expected:
                _compare(builder, expected)
    at = dt.datetime.now(dt.UTC)
    checkpoint = sign(key, size, builder.root(), at)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cur:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", [_PG_CHECKPOINT_LOCK])
            if AuditCheckpoint.objects.filter(tree_size=size).exists():
                raise IntegrityError("signed by another process meanwhile")
            AuditCheckpoint.objects.create(
                tree_size=size,
                root_hash=checkpoint.root_hash,
                signed_at=checkpoint.signed_at,
                key_id=checkpoint.key_id,
                signature=checkpoint.signature,
                frontier=json.dumps([h.hex() for h in builder.frontier]),
            )
            if restored_from:
                append_to_witness(sign(key, size, builder.root(), at, restored_from))
            append_to_witness(checkpoint)
    except IntegrityError:
        row = AuditCheckpoint.objects.get(tree_size=size)
        return from_row(row), False
    try:
        send_to_syslog(checkpoint)
    except OSError:
        pass  # the witness file holds it; a remote syslog that is down must not stop the signer
    return checkpoint, True


def _compare(builder: merkle.TreeBuilder, expected: dict[int, Checkpoint]) -> None:
    c = expected.get(builder.size)
    if c is not None and builder.size and builder.root().hex() != c.root_hash:
        _compare_failed(c)


def _compare_failed(c: Checkpoint) -> None:
    raise CheckpointError(
        f"the first {c.tree_size} events no longer match the checkpoint signed at "
        f"{c.signed_at_text} ({c.where}): the log was rewritten"
    )


def latest(checkpoints: Iterable[Checkpoint]) -> Checkpoint | None:
    return max(checkpoints, key=lambda c: (c.tree_size, c.signed_at), default=None)
