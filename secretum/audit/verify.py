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
6. every checkpoint's signature, and every line of the witness;
7. the log's length and root against the witness's tree heads, one per commit (D2: no blind
   window), and, given a fingerprint kept outside the instance, the checkpoint key against it.

A million events are to take under two seconds on two idle cores (D2, issue 17;
``bench/audit_bench.py``): the database puts each event's entry together and joins 5,000 of them
into one value, Python hashes them in C-level loops and compares them in bulk, and two processes
share the log, each building the lower levels of the tree over its part (``scan.read_tree``),
while the parent counts the events (for duplicated numbers); the parent then hashes the few
nodes above and reads the root of every checkpoint's and tree head's size off the levels, each
size once.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from secretum.audit import checkpoints, entries, merkle
from secretum.audit.checkpoints import Checkpoint
from secretum.audit.models import AuditCheckpoint
from secretum.audit.scan import (
    CHUNK,
    as_bytes,
    earliest,
    entry_select,
    mac_scan,
    read_tree,
)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    problem: str = ""
    bad_seq: int | None = None
    covered: Checkpoint | None = None  # the longest signed checkpoint that matches
    notes: list[str] = field(default_factory=list)
    # The remaining windows (D2): events newer than the latest matching signed checkpoint, and
    # newer than the latest tree head or checkpoint in the witness.
    unsigned: int = 0
    unwitnessed: int = 0
    key_checked: str = ""  # the expected fingerprint the checkpoint key matched, if one was given


def _last_seq() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT COALESCE(MAX(seq), 0) FROM audit_auditevent")
        return int(cur.fetchone()[0])


def _log_shape(high: int) -> tuple[int, int]:
    """How many events are numbered up to ``high``, and the lowest number: a full count, which
    the parent process takes while the workers read the log."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT COUNT(*), COALESCE(MIN(seq), 1) FROM audit_auditevent WHERE seq <= %s", [high]
        )
        count, low = cur.fetchone()
    return int(count), int(low)


def _duplicate() -> int | None:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT seq FROM audit_auditevent GROUP BY seq HAVING COUNT(*) > 1 ORDER BY seq LIMIT 1"
        )
        row = cur.fetchone()
    return int(row[0]) if row else None


def verify_log(*, workers: int | None = None, expect_key: str | None = None) -> VerifyResult:
    """Check every event against its hashes, the signed checkpoints and the witness; with
    ``expect_key`` (or SECRETUM_AUDIT_KEY_FINGERPRINT), the checkpoint key against that
    fingerprint first. ValueError when the fingerprint given is not one."""
    workers = workers or min(2, os.cpu_count() or 1)
    public = checkpoints.public_key()
    expected = checkpoints.expected_fingerprint(expect_key)
    wrong_key = checkpoints.key_problem(public, expected)
    if wrong_key:
        return VerifyResult(False, 0, wrong_key, None)
    notes: list[str] = []

    in_db = [checkpoints.from_row(r) for r in AuditCheckpoint.objects.all()]
    witness = checkpoints.read_witness(public=public)
    forged = [c for c in in_db + witness.checkpoints if not c.valid_under(public)]
    signed = [c for c in in_db + witness.checkpoints if c.valid_under(public)]

    high = _last_seq()
    shape: list[tuple[int, int]] = []
    tree, problem, bad = read_tree(high, workers, meanwhile=lambda: shape.append(_log_shape(high)))
    count, low = shape[0]
    if low < 1:
        return VerifyResult(
            False, 0, f"event {low} was inserted (sequence numbers start at 1)", low
        )
    if count > high:
        dup = _duplicate()
        return VerifyResult(False, 0, f"event {dup} appears twice (an event was inserted)", dup)

    key = entries.mac_key()
    if problem:
        problem, bad = earliest(0, problem, bad, key)
        return VerifyResult(False, bad - 1, f"event {bad} {problem}", bad)
    size = len(tree[0])

    @functools.cache
    def root_of(n: int) -> str:
        """The root of the first n events (the database's and the witness's copy of a
        checkpoint, and tree heads of the same size, share one)."""
        return merkle.prefix_root(tree, n).hex()

    # Events covered by a matching signed checkpoint need no MAC check: the signed root already
    # binds them. Where a checkpoint does not match, the MACs name the event; where none covers
    # them (the newest events), the MACs are all there is.
    good: Checkpoint | None = None
    for c in sorted(signed, key=lambda c: (c.tree_size, c.where)):
        if c.tree_size > size:
            break
        if root_of(c.tree_size) != c.root_hash:
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
    head = witness.latest_head
    if head is not None and head.tree_size > size:
        return VerifyResult(
            False,
            size,
            f"the log was truncated: the witness saw {head.tree_size} events at {head.at_text} "
            f"(tree head), the database holds {size}; events {size + 1} to {head.tree_size} "
            "were cut off the end of the log",
            size + 1,
        )
    tail_heads = [h for h in witness.tree_heads if h.tree_size > tail]
    if head is not None:
        tail_heads.append(head)
    for h in tail_heads:
        if h.tree_size and root_of(h.tree_size) != h.root_hash:
            return VerifyResult(
                False,
                tail,
                f"the first {h.tree_size} events do not match the tree head witnessed at "
                f"{h.at_text}: the log was rewritten",
                None,
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
    for anchor in witness.anchors:
        notes.append(
            f"the log was restored from backup {anchor.backup!r} and re-anchored at "
            f"{anchor.signed_at_text} ({anchor.tree_size} events, signed); what the witness "
            "holds before it is superseded"
        )
    if good is None:
        notes.append("no signed checkpoint yet: run 'secretum audit checkpoint'")
    elif good.tree_size < size:
        notes.append(
            f"events {good.tree_size + 1} to {size} are newer than the latest checkpoint: "
            "checked by their authentication codes"
        )
    witnessed_size = max(
        [h.tree_size for h in witness.tree_heads] + [c.tree_size for c in witness.checkpoints],
        default=0,
    )
    return VerifyResult(
        True,
        size,
        covered=good,
        notes=notes,
        unsigned=size - tail,
        unwitnessed=size - witnessed_size,
        key_checked=expected or "",
    )


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
    sql, first = entry_select(connection.vendor)
    with connection.cursor() as cur:
        cur.execute(sql, [first, seq - 1, seq, 1])
        row = cur.fetchone()
    if row is None:
        raise ValueError(f"there is no event {seq}")
    return as_bytes(row[1]).decode()


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


CONSISTENCY_FORMAT = "secretum-audit-consistency-proof-1"


def build_consistency(first: Checkpoint, second: Checkpoint) -> dict[str, Any]:
    """An RFC 9162 consistency proof (2.1.4) that the tree of signed checkpoint ``first`` is a
    prefix of the tree of signed checkpoint ``second``: what an outside witness checks, with
    ``audit/merkle.py`` alone, before it co-signs the newer one. ValueError when the sizes are
    not in order or the log no longer matches either checkpoint."""
    if not 0 < first.tree_size <= second.tree_size:
        raise ValueError(
            "the first checkpoint must cover at least one event, and no more than the second"
        )
    leaves = _leaf_hashes(second.tree_size)
    tree = merkle.levels(leaves)
    for c in (first, second):
        if merkle.prefix_root(tree, c.tree_size).hex() != c.root_hash:
            raise ValueError(
                f"the log does not match its checkpoint of {c.tree_size} events; run "
                "'secretum audit verify'"
            )
    return {
        "format": CONSISTENCY_FORMAT,
        "first": {"tree_size": first.tree_size, "root_hash": first.root_hash},
        "second": {"tree_size": second.tree_size, "root_hash": second.root_hash},
        "consistency_path": [h.hex() for h in merkle.consistency_path(first.tree_size, leaves)],
        "checkpoints": [
            {"note": c.note().decode(), "signature": c.signature, "key_id": c.key_id}
            for c in (first, second)
        ],
        "public_key": entries.key_paths().public_key.read_text(),
    }
