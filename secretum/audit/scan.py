"""Reading the audit log fast (D2): each event's entry put together by the database, hashed
and checked against its leaf hash and MAC in bulk, in one or two processes.

Used by verification (``audit.verify``) and by the checkpoint signer (``audit.checkpoints``),
which both need the Merkle tree of the log and the first event that fails its checks. A million
events are to take under two seconds on two idle cores (issue 17; ``bench/audit_bench.py``): the
database puts each event's entry together and joins 5,000 of them into one value; Python hashes
them in C-level loops and compares them in bulk; two processes share the log, each building the
lower levels of the tree over its part (cut on a multiple of a power of two, so that its
subtrees are the whole tree's) and writing them, packed, into memory shared with the parent,
which only hashes the few nodes above.
"""

from __future__ import annotations

import hashlib
import itertools
import mmap
import multiprocessing
import os
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, connections

from secretum.audit import entries, merkle

CHUNK = 50_000
PARALLEL_FROM = 200_000  # events; below that one process is faster than two


# The canonical entry of each event (audit/entries.py), put together by the database engine in
# one call per row (SQLite's printf, PostgreSQL's concat_ws, schema-qualified so no function of
# the same name elsewhere on the search path can stand in).
_TEXT_COLUMNS = ", ".join(entries.TEXT_FIELDS)
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


def entry_select(vendor: str) -> tuple[str, str]:
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
    """Check a chunk of (seq, entry, leaf_hash) rows and append their leaf hashes to ``out``
    (packed, one bytes object): ("", next expected seq), or (what is wrong, seq of the first
    bad event).

    The hot path of verification, a chunk at a time: numbering, separators and leaf hashes are
    compared in bulk (C-level joins and comparisons); rows are looked at one by one only to
    name the first one that fails."""
    # Each bulk comparison that fails has a first row that differs: next() names it (it cannot
    # run out of rows, so it takes no default).
    n = len(rows)
    seqs, texts, stored = zip(*rows, strict=True)
    if seqs != tuple(range(expected, expected + n)):
        return MISSING, next(expected + i for i, seq in enumerate(seqs) if seq != expected + i)
    sep, separators = entries.SEP.encode(), entries.SEPARATORS
    if b"".join(texts).count(sep) != n * separators:
        return SEPARATOR, next(
            seq for seq, text in zip(seqs, texts, strict=True) if text.count(sep) != separators
        )
    leaves = merkle.leaf_hashes(texts)
    try:
        same = leaves == bytes.fromhex("".join(stored))
    except (TypeError, ValueError):  # a stored hash emptied to NULL or not hex at all
        same = False
    if not same:
        return CHANGED, next(
            seq
            for i, (seq, leaf_hex) in enumerate(zip(seqs, stored, strict=True))
            if leaves[32 * i : 32 * i + 32].hex() != leaf_hex
        )
    out.append(leaves)
    return "", expected + n


# (Constant fragments of this module only; every value is a query parameter.)
# The window of GROUP numbers bounds each read (seq is unique), with no LIMIT: a duplicate
# slipped in since the count makes its group's count wrong, so that it is read again row by row.
# PostgreSQL orders each aggregate's rows itself (ORDER BY seq in string_agg): a sorted
# subquery as well would sort every group twice. SQLite's group_concat takes its rows in the
# order of the subquery.
_BULK_POSTGRESQL = (
    "SELECT COUNT(*), MIN(seq), MAX(seq), "  # noqa: S608
    "pg_catalog.string_agg(e, pg_catalog.chr(30) ORDER BY seq), "
    "pg_catalog.string_agg(leaf_hash, '' ORDER BY seq) "
    "FROM (SELECT seq, " + _POSTGRESQL_ENTRY + " AS e, leaf_hash FROM audit_auditevent "
    "WHERE seq > %s AND seq <= %s) AS chunk"
)
_BULK_SQLITE = (
    "SELECT COUNT(*), MIN(seq), MAX(seq), CAST(group_concat(e, X'1E') AS BLOB), "  # noqa: S608
    "group_concat(leaf_hash, '') "
    "FROM (SELECT seq, " + _SQLITE_TEXT + " AS e, leaf_hash FROM audit_auditevent "
    "WHERE seq > %s AND seq <= %s ORDER BY seq)"
)


def _bulk_select(vendor: str) -> tuple[str, str]:
    """One row per GROUP events: their count, first and last seq, their entries joined by the
    record separator 0x1E (which no entry holds), and their stored leaf hashes joined."""
    if vendor == "postgresql":
        return _BULK_POSTGRESQL, entries.VERSION
    return _BULK_SQLITE, _SQLITE_FORMAT


GROUP = 5_000


def as_bytes(value: Any) -> bytes:
    """Entries come back as text (PostgreSQL) or as a blob (SQLite): bytes, to be hashed."""
    return value.encode() if isinstance(value, str) else bytes(value)


def _scan(after: int, upto: int, out: list[bytes]) -> tuple[str, int]:
    """Leaf hashes of events after..upto, each recomputed from its entry, into ``out`` (packed:
    one bytes object per group of events).

    GROUP events come back as one row (entries joined by the database), so Python makes one
    object per event (its entry) and one per group (their hashes, end to end); a group that
    does not check out is read again row by row, to name its first bad event."""
    bulk, first = _bulk_select(connection.vendor)
    sep = entries.SEP.encode()
    per_entry = entries.SEPARATORS
    expected = after + 1
    with connection.cursor() as cur:
        while expected <= upto:
            # A window of GROUP numbers, never an open range: each query reads GROUP rows,
            # whatever plan the database picks (even on a table it has no statistics of).
            cur.execute(bulk, [first, expected - 1, min(upto, expected - 1 + GROUP)])
            count, low, high, joined, stored = cur.fetchone()
            if not count:
                return MISSING, expected
            joined = as_bytes(joined)
            texts = joined.split(b"\x1e")
            ok = low == expected and high == expected + count - 1 and len(texts) == count
            ok = ok and joined.count(sep) == per_entry * count
            if ok:
                leaves = merkle.leaf_hashes(texts)
                try:
                    ok = leaves == bytes.fromhex(stored)
                except (TypeError, ValueError):
                    ok = False
            if ok:
                out.append(leaves)
                expected += count
                continue
            problem, expected = _scan_rows_of(cur, expected, min(upto, expected + GROUP - 1), out)
            if problem:
                return problem, expected
    return "", 0


def _scan_rows_of(cur: Any, expected: int, upto: int, out: list[bytes]) -> tuple[str, int]:
    sql, first = entry_select(connection.vendor)
    cur.execute(sql, [first, expected - 1, upto, GROUP])
    rows = [(seq, as_bytes(text), leaf) for seq, text, leaf in cur.fetchall()]
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
    chunks: list[bytes] = []
    problem, seq = _scan(after, upto, chunks)
    problem, seq = earliest(after, problem, seq, key)
    if not problem:
        problem, seq = mac_scan(after, upto, key)
    packed = b"".join(chunks)
    if problem:
        packed = packed[: (seq - after - 1) * merkle.HASH_SIZE]
    leaves = merkle.Packed(packed)
    for n in range(len(leaves)):
        yield leaves[n], "", after + 1 + n
    if problem:
        yield b"", problem, seq


# Each worker builds the subtrees of its part of the log, at least this many of them: the parts
# then differ in length by less than one subtree, 1/SPLIT_BLOCKS of a part.
SPLIT_BLOCKS = 32


def split(size: int, workers: int) -> tuple[list[int], int]:
    """The bounds of each worker's part of events 1..size, and the height h of the subtrees
    each worker builds: every bound but the last is a multiple of 2**h, so that each part's
    perfect subtrees of up to 2**h leaves are those of the whole tree (RFC 9162 pairs leaves
    from the left), and the parts' levels 0..h, put end to end, are the whole tree's."""
    height = max(0, (size // (workers * SPLIT_BLOCKS)).bit_length() - 1)
    half_block = (1 << height) >> 1
    bounds = [(size * i // workers + half_block) >> height << height for i in range(workers)]
    return [*bounds, size], height


def _levels_of(after: int, upto: int, height: int | None = None) -> tuple[list[bytes], str, int]:
    """The packed levels of the tree over events after..upto (up to its root, or levels
    0..height of a worker's part), or ([], what is wrong, seq) for the first bad event."""
    chunks: list[bytes] = []
    problem, seq = _scan(after, upto, chunks)
    if problem:
        return [], problem, seq
    return merkle.packed_levels(b"".join(chunks), height), "", 0


# In a worker process of read_tree: the memory it shares with its parent, where it writes its
# levels (set by the pool's initializer, in the worker only).
_shared: list[mmap.mmap] = []


def _adopt(shared: mmap.mmap) -> None:
    _shared.append(shared)


def _scan_range(after: int, upto: int, height: int, offsets: list[int]) -> tuple[str, int]:
    """In a worker process: the levels 0..height of its part (hashing the lower levels here
    leaves the parent only the top), written into the shared memory where the whole tree's
    lie; its own connection closed at the end."""
    try:
        levels, problem, seq = _levels_of(after, upto, height)
        merkle.place_levels(_shared[0], offsets, after, levels)
        return problem, seq
    finally:
        connections.close_all()


def read_tree(
    size: int, workers: int, meanwhile: Callable[[], object] | None = None
) -> tuple[list[merkle.Packed], str, int]:
    """The levels of the Merkle tree of events 1..size (leaves first, packed), each leaf hash
    recomputed from its entry and compared with the stored one (MACs are not checked here: see
    ``mac_scan``); or ([], what is wrong, seq) for the first event that fails.
    ``workers`` 0: as many processes as cores, at most 2. ``meanwhile`` runs in this process
    while the workers read (before the read, with one process)."""
    workers = workers or min(2, os.cpu_count() or 1)
    if workers > 1 and size >= PARALLEL_FROM and not connection.in_atomic_block:
        bounds, height = split(size, workers)
        sizes = merkle.level_sizes(size, height)
        offsets = [0, *itertools.accumulate(n * merkle.HASH_SIZE for n in sizes)]
        connections.close_all()  # each process opens its own connection
        ctx = multiprocessing.get_context("fork")
        # The workers write their levels into an anonymous shared mapping that they inherit at
        # the fork: tens of megabytes of hashes are neither pickled nor sent through a pipe.
        with mmap.mmap(-1, offsets[-1]) as shared:
            with ctx.Pool(workers, initializer=_adopt, initargs=(shared,)) as pool:
                reading = pool.starmap_async(
                    _scan_range, [(a, b, height, offsets) for a, b in itertools.pairwise(bounds)]
                )
                if meanwhile is not None:
                    meanwhile()
                results = reading.get()
                # The workers end on their own, never by the SIGTERM the pool's exit sends: a
                # handler of the process forked (coverage's, a server's) could wait on a lock
                # held at the fork.
                pool.close()
                pool.join()
            for problem, seq in results:
                if problem:
                    return [], problem, seq
            lower = [shared[offsets[h] : offsets[h + 1]] for h in range(height + 1)]
        levels = lower[:-1] + merkle.packed_levels(lower[-1])
    else:
        if meanwhile is not None:
            meanwhile()
        levels, problem, seq = _levels_of(0, size)
        if problem:
            return [], problem, seq
    return [merkle.Packed(level) for level in levels], "", 0
