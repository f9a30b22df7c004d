"""`secretum audit verify` and `secretum audit prove` (D2).

Verification reads every event once, in sequence order, and checks, naming the first failure:

1. sequence numbers 1, 2, 3… with no gap and no duplicate (an event removed or inserted);
2. each event's content against its leaf hash (an event changed in place);
3. the Merkle root of the first N events against every signed checkpoint of N events, in the
   database and in the witness (the log rewritten with recomputed hashes);
4. each leaf hash against its MAC (keyed BLAKE2s) under the audit key, for the events that no
   matching checkpoint covers yet, and for those under a checkpoint that does not match, to
   name the event (changed, inserted or renumbered by someone who recomputed the hashes but
   lacks the key; if every MAC holds, the key has leaked and the range is named);
5. the log's length against the longest signed checkpoint (truncated or rolled back);
6. every checkpoint's signature, and every line of the witness.

A million events take a few seconds: the database puts each event's entry together and joins
5,000 of them into one value, Python hashes them with one-shot calls and compares them in bulk,
two processes share the log, and the tree is built a level at a time.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, connections

from secretum.audit import checkpoints, entries, merkle
from secretum.audit.checkpoints import Checkpoint
from secretum.audit.models import AuditCheckpoint

CHUNK = 50_000
PARALLEL_FROM = 200_000  # events; below that one process is faster than two


# The canonical entry of each event (audit/entries.py), put together by the database engine in
# one call per row (SQLite's printf, PostgreSQL's concat_ws, schema-qualified so no function of
# the same name elsewhere on the search path can stand in).
_TEXT_COLUMNS = (
    "actor_name, role, on_behalf_of, patient_ref, action, resource, resource_ref, purpose, "
    "outcome, source, request_id, detail"
)
_SQLITE_TEXT = (
    "printf(%s, seq, CASE WHEN length(at) = 19 THEN at || '.000000' ELSE CAST(at AS TEXT) "
    f"END, actor_id, {_TEXT_COLUMNS})"
)
_SQLITE_ENTRY = f"CAST({_SQLITE_TEXT} AS BLOB)"
_SQLITE_FORMAT = entries.VERSION + (entries.SEP + "%s") * len(entries.FIELDS)
_POSTGRESQL_ENTRY = (
    "pg_catalog.concat_ws(pg_catalog.chr(31), %s, seq, "
    "pg_catalog.to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), "
    f"coalesce(actor_id::text, ''), {_TEXT_COLUMNS})"
)


def _select(vendor: str) -> tuple[str, str]:
    """The query of (seq, entry, leaf_hash) for a range of events, and its first parameter."""
    if vendor == "postgresql":
        entry, first = _POSTGRESQL_ENTRY, entries.VERSION
    else:
        entry, first = _SQLITE_ENTRY, _SQLITE_FORMAT
    sql = (
        f"SELECT seq, {entry}, leaf_hash FROM audit_auditevent "  # noqa: S608
        "WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
    )
    return sql, first


_MAC_SQL = (
    "SELECT seq, leaf_hash, mac FROM audit_auditevent "
    "WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s"
)
CHANGED = "was changed after it was written (its content does not match its leaf hash)"
SEPARATOR = "was changed after it was written (a field holds a separator or is NULL)"
NOT_AUTHENTIC = (
    "is not authentic: it was changed, inserted or renumbered and its hash recomputed by "
    "someone without the audit key"
)
MISSING = "is missing (removed)"


def _check_rows(rows: list[Any], expected: int, out: list[bytes]) -> tuple[str, int]:
    """Check a chunk of (seq, entry, leaf_hash) rows and append their leaf hashes to ``out``:
    ("", next expected seq), or (what is wrong, seq of the first bad event).

    The hot path of verification, a chunk at a time: numbering, separators and leaf hashes are
    compared in bulk (C-level joins and comparisons); rows are looked at one by one only to
    name the first one that fails."""
    n = len(rows)
    seqs, texts, stored = zip(*rows, strict=True)
    if seqs != tuple(range(expected, expected + n)):
        for i, seq in enumerate(seqs):
            if seq != expected + i:
                return MISSING, expected + i
    sep, separators = entries.SEP.encode(), entries.SEPARATORS
    if b"".join(texts).count(sep) != n * separators:
        for seq, text in zip(seqs, texts, strict=True):
            if text.count(sep) != separators:
                return SEPARATOR, seq
    sha256 = hashlib.sha256
    leaves = [sha256(b"\x00" + text).digest() for text in texts]
    try:
        same = b"".join(leaves) == bytes.fromhex("".join(stored))
    except (TypeError, ValueError):  # a stored hash emptied to NULL or not hex at all
        same = False
    if not same:
        for seq, leaf, leaf_hex in zip(seqs, leaves, stored, strict=True):
            if leaf.hex() != leaf_hex:
                return CHANGED, seq
    out.extend(leaves)
    return "", expected + n


# (Constant fragments of this module only; every value is a query parameter.)
_BULK_POSTGRESQL = (
    "SELECT COUNT(*), MIN(seq), MAX(seq), "  # noqa: S608
    "pg_catalog.string_agg(e, pg_catalog.chr(30) ORDER BY seq), "
    "pg_catalog.string_agg(leaf_hash, '' ORDER BY seq) "
    "FROM (SELECT seq, " + _POSTGRESQL_ENTRY + " AS e, leaf_hash FROM audit_auditevent "
    "WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s) AS chunk"
)
_BULK_SQLITE = (
    "SELECT COUNT(*), MIN(seq), MAX(seq), CAST(group_concat(e, X'1E') AS BLOB), "  # noqa: S608
    "group_concat(leaf_hash, '') "
    "FROM (SELECT seq, " + _SQLITE_TEXT + " AS e, leaf_hash FROM audit_auditevent "
    "WHERE seq > %s AND seq <= %s ORDER BY seq LIMIT %s)"
)


def _bulk_select(vendor: str) -> tuple[str, str]:
    """One row per GROUP events: their count, first and last seq, their entries joined by the
    record separator 0x1E (which no entry holds), and their stored leaf hashes joined."""
    if vendor == "postgresql":
        return _BULK_POSTGRESQL, entries.VERSION
    return _BULK_SQLITE, _SQLITE_FORMAT


GROUP = 5_000


def _bytes(value: Any) -> bytes:
    """Entries come back as text (PostgreSQL) or as a blob (SQLite): bytes, to be hashed."""
    return value.encode() if isinstance(value, str) else bytes(value)


def _scan(after: int, upto: int, out: list[bytes]) -> tuple[str, int]:
    """Leaf hashes of events after..upto, each recomputed from its entry, into ``out``.

    GROUP events come back as one row (entries joined by the database), so Python makes a few
    objects per group instead of several per event; a group that does not check out is read
    again row by row, to name its first bad event."""
    bulk, first = _bulk_select(connection.vendor)
    sha256, sep = hashlib.sha256, entries.SEP.encode()
    per_entry = entries.SEPARATORS
    expected = after + 1
    with connection.cursor() as cur:
        while expected <= upto:
            # A window of GROUP numbers, never an open range: each query reads GROUP rows,
            # whatever plan the database picks (even on a table it has no statistics of).
            cur.execute(bulk, [first, expected - 1, min(upto, expected - 1 + GROUP), GROUP])
            count, low, high, joined, stored = cur.fetchone()
            if not count:
                return MISSING, expected
            texts = _bytes(joined).split(b"\x1e")
            ok = low == expected and high == expected + count - 1 and len(texts) == count
            ok = ok and b"".join(texts).count(sep) == per_entry * count
            if ok:
                leaves = [sha256(b"\x00" + text).digest() for text in texts]
                try:
                    ok = b"".join(leaves) == bytes.fromhex(stored)
                except (TypeError, ValueError):
                    ok = False
            if ok:
                out.extend(leaves)
                expected += count
                continue
            problem, expected = _scan_rows_of(cur, expected, min(upto, expected + GROUP - 1), out)
            if problem:
                return problem, expected
    return "", 0


def _scan_rows_of(cur: Any, expected: int, upto: int, out: list[bytes]) -> tuple[str, int]:
    sql, first = _select(connection.vendor)
    cur.execute(sql, [first, expected - 1, upto, GROUP])
    rows = [(seq, _bytes(text), leaf) for seq, text, leaf in cur.fetchall()]
    if not rows:
        return MISSING, expected
    return _check_rows(rows, expected, out)


def mac_scan(after: int, upto: int, key: bytes) -> tuple[str, int]:
    """The first event after..upto whose stored leaf hash does not carry a valid MAC."""
    blake2s = hashlib.blake2s
    expected = after + 1
    with connection.cursor() as cur:
        while expected <= upto:
            cur.execute(_MAC_SQL, [expected - 1, min(upto, expected - 1 + CHUNK), CHUNK])
            rows = cur.fetchall()
            if not rows:
                return MISSING, expected
            for seq, leaf_hex, mac_hex in rows:
                if seq != expected:
                    return MISSING, expected
                try:
                    leaf = bytes.fromhex(leaf_hex)
                except (TypeError, ValueError):
                    return CHANGED, seq
                # Not a secret compared here (the verifier computes both sides): no constant time.
                if blake2s(leaf, key=key).hexdigest() != mac_hex:
                    return NOT_AUTHENTIC, seq
                expected += 1
    return "", 0


def earliest(after: int, problem: str, seq: int, key: bytes) -> tuple[str, int]:
    """Given the first event that fails its leaf hash (or none), the first that fails anything:
    an event before it may have had its hash recomputed, which only its MAC shows."""
    upto = seq - 1 if problem else 0
    if problem and upto > after:
        mac_problem, mac_seq = mac_scan(after, upto, key)
        if mac_problem:
            return mac_problem, mac_seq
    return problem, seq


def scan_rows(after: int, upto: int, key: bytes) -> Iterator[tuple[bytes, str, int]]:
    """(leaf hash, "", seq) for each event after ``after`` up to ``upto``, every check done
    (entry, leaf hash, MAC); on the first bad event, (b"", what is wrong, seq) and stop."""
    leaves: list[bytes] = []
    problem, seq = _scan(after, upto, leaves)
    problem, seq = earliest(after, problem, seq, key)
    if not problem:
        problem, seq = mac_scan(after, upto, key)
    if problem:
        leaves = leaves[: seq - after - 1]
    for n, leaf in enumerate(leaves, after + 1):
        yield leaf, "", n
    if problem:
        yield b"", problem, seq


def _scan_range(after: int, upto: int) -> tuple[bytes, str, int]:
    """In a worker process: the concatenated leaves of a range, and the first problem."""
    leaves: list[bytes] = []
    problem, seq = _scan(after, upto, leaves)
    connections.close_all()
    return b"".join(leaves), problem, seq


def read_leaves(size: int, workers: int) -> tuple[list[bytes], str, int]:
    """The leaf hashes of events 1..size, each recomputed from its entry and compared with the
    stored one (MACs are not checked here: see ``mac_scan``); or the first that fails.
    ``workers`` 0: as many processes as cores, at most 2."""
    workers = workers or min(2, os.cpu_count() or 1)
    if workers > 1 and size >= PARALLEL_FROM and not connection.in_atomic_block:
        bounds = [size * i // workers for i in range(workers + 1)]
        connections.close_all()  # each process opens its own connection
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(workers) as pool:
            parts = pool.starmap(_scan_range, itertools.pairwise(bounds))
        leaves: list[bytes] = []
        for buf, problem, seq in parts:
            leaves.extend([buf[i : i + 32] for i in range(0, len(buf), 32)])
            if problem:
                return leaves, problem, seq
        return leaves, "", 0
    leaves = []
    problem, seq = _scan(0, size, leaves)
    return leaves, problem, seq


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problem: str = ""
    bad_seq: int | None = None
    covered: Checkpoint | None = None  # the longest signed checkpoint that matches
    notes: list[str] = field(default_factory=list)


def _log_shape() -> tuple[int, int, int]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*), COALESCE(MIN(seq), 1), COALESCE(MAX(seq), 0) FROM audit_auditevent"
        )
        count, low, high = cur.fetchone()
    return int(count), int(low), int(high)


def _duplicate() -> int | None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT seq FROM audit_auditevent GROUP BY seq HAVING COUNT(*) > 1 ORDER BY seq LIMIT 1"
        )
        row = cur.fetchone()
    return int(row[0]) if row else None


def verify_log(*, workers: int | None = None) -> VerifyResult:
    """Check every event against its hashes, the signed checkpoints and the witness."""
    workers = workers or min(2, os.cpu_count() or 1)
    public = checkpoints.public_key()
    notes: list[str] = []

    in_db = [checkpoints.from_row(r) for r in AuditCheckpoint.objects.all()]
    witness = checkpoints.read_witness()
    forged = [c for c in in_db + witness.checkpoints if not c.valid_under(public)]
    signed = [c for c in in_db + witness.checkpoints if c.valid_under(public)]

    count, low, high = _log_shape()
    if low < 1:
        return VerifyResult(
            False, 0, f"event {low} was inserted (sequence numbers start at 1)", low
        )
    if count > high:
        dup = _duplicate()
        return VerifyResult(False, 0, f"event {dup} appears twice (an event was inserted)", dup)

    key = entries.mac_key()
    leaves, problem, bad = read_leaves(high, workers)
    if problem:
        problem, bad = earliest(0, problem, bad, key)
        return VerifyResult(False, bad - 1, f"event {bad} {problem}", bad)
    size = len(leaves)

    # Events covered by a matching signed checkpoint need no MAC check: the signed root already
    # binds them. Where a checkpoint does not match, the MACs name the event; where none covers
    # them (the newest events), the MACs are all there is.
    tree = merkle.levels(leaves) if leaves else [[]]
    good: Checkpoint | None = None
    for c in sorted(signed, key=lambda c: (c.tree_size, c.where)):
        if c.tree_size > size:
            break
        if merkle.prefix_root(tree, c.tree_size).hex() != c.root_hash:
            first = (good.tree_size if good else 0) + 1
            mac_problem, mac_seq = mac_scan(first - 1, c.tree_size, key)
            if mac_problem:
                return VerifyResult(False, mac_seq - 1, f"event {mac_seq} {mac_problem}", mac_seq)
            return VerifyResult(
                False,
                first - 1,
                f"events {first} to {c.tree_size} do not match the checkpoint signed at "
                f"{c.signed_at_text} ({c.where}): one of them was changed, inserted, removed or "
                "reordered and the hashes and codes recomputed (the audit key has leaked; the "
                "checkpoint signing key has not)",
                first,
            )
        good = c
    tail = good.tree_size if good else 0
    mac_problem, mac_seq = mac_scan(tail, size, key)
    if mac_problem:
        return VerifyResult(False, mac_seq - 1, f"event {mac_seq} {mac_problem}", mac_seq)

    longest = max(signed, key=lambda c: c.tree_size, default=None)
    if longest is not None and longest.tree_size > size:
        return VerifyResult(
            False,
            size,
            f"the log was truncated or rolled back: the checkpoint signed at "
            f"{longest.signed_at_text} ({longest.where}) covers {longest.tree_size} events, the "
            f"database holds {size}; event {size + 1} onwards is missing",
            size + 1,
        )
    if forged:
        c = forged[0]
        return VerifyResult(
            False,
            size,
            f"the checkpoint of {c.tree_size} events in the {c.where}, signed at "
            f"{c.signed_at_text}, has no valid signature under this instance's checkpoint key "
            "(forged or altered)",
            None,
        )
    if witness.bad_lines:
        return VerifyResult(
            False,
            size,
            f"line {witness.bad_lines[0]} of the witness {checkpoints.witness_path()} is not a "
            "checkpoint (the witness was altered)",
            None,
        )

    # What cannot fail the log but limits what was proven.
    if not witness.exists:
        notes.append(
            f"no witness file at {checkpoints.witness_path()}: truncation is checked against "
            "the database's checkpoints only"
        )
    witnessed = {(c.tree_size, c.root_hash) for c in witness.checkpoints}
    missing = [c for c in in_db if (c.tree_size, c.root_hash) not in witnessed]
    if witness.exists and missing:
        notes.append(
            f"{len(missing)} checkpoint(s) of the database are not in the witness "
            f"(first: {missing[0].tree_size} events)"
        )
    if good is None:
        notes.append("no signed checkpoint yet: run 'secretum audit checkpoint'")
    elif good.tree_size < size:
        notes.append(
            f"events {good.tree_size + 1} to {size} are newer than the latest checkpoint: "
            "checked by their authentication codes"
        )
    return VerifyResult(True, size, covered=good, notes=notes)


# --- inclusion proofs ------------------------------------------------------------------------

PROOF_FORMAT = "secretum-audit-inclusion-proof-1"


def _leaf_hashes(size: int) -> list[bytes]:
    out: list[bytes] = []
    with connection.cursor() as cur:
        while len(out) < size:
            cur.execute(
                "SELECT seq, leaf_hash FROM audit_auditevent WHERE seq > %s AND seq <= %s "
                "ORDER BY seq LIMIT %s",
                [len(out), min(size, len(out) + CHUNK), CHUNK],
            )
            rows = cur.fetchall()
            for seq, leaf in rows:
                if seq != len(out) + 1:
                    raise ValueError(f"event {len(out) + 1} is missing")
                out.append(bytes.fromhex(leaf))
            if not rows:
                raise ValueError(f"event {len(out) + 1} is missing")
    return out


def _entry_text(seq: int) -> str:
    sql, first = _select(connection.vendor)
    with connection.cursor() as cur:
        cur.execute(sql, [first, seq - 1, seq, 1])
        row = cur.fetchone()
    if row is None:
        raise ValueError(f"there is no event {seq}")
    return _bytes(row[1]).decode()


def build_proof(seq: int, checkpoint: Checkpoint) -> dict[str, Any]:
    """An inclusion proof of event ``seq`` in the tree of a signed checkpoint (RFC 9162 2.1.3).

    Raises ValueError when the event is outside the checkpoint or the log does not match it.
    """
    if not 1 <= seq <= checkpoint.tree_size:
        raise ValueError(f"event {seq} is not covered by a checkpoint of {checkpoint.tree_size}")
    leaves = _leaf_hashes(checkpoint.tree_size)
    tree = merkle.levels(leaves)
    if tree[-1][0].hex() != checkpoint.root_hash:
        raise ValueError(
            "the log does not match its signed checkpoint; run 'secretum audit verify'"
        )
    entry = _entry_text(seq)
    if entries.leaf_of(entry.encode()) != leaves[seq - 1]:
        raise ValueError(f"event {seq} does not match its leaf hash; run 'secretum audit verify'")
    return {
        "format": PROOF_FORMAT,
        "seq": seq,
        "leaf_index": seq - 1,
        "entry": entry,
        "leaf_hash": leaves[seq - 1].hex(),
        "tree_size": checkpoint.tree_size,
        "root_hash": checkpoint.root_hash,
        "audit_path": [h.hex() for h in merkle.path_from_levels(tree, seq - 1)],
        "checkpoint": {
            "note": checkpoint.note().decode(),
            "signature": checkpoint.signature,
            "key_id": checkpoint.key_id,
        },
        "public_key": entries.key_paths().public_key.read_text(),
    }


def covering_checkpoint(seq: int) -> Checkpoint | None:
    """The latest signed checkpoint that covers event ``seq``."""
    public = checkpoints.public_key()
    found = [c for c in checkpoints.known_checkpoints(public) if c.tree_size >= seq]
    return checkpoints.latest(found)
