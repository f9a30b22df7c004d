"""Reading the audit log fast (D2): each event's entry put together by the database, hashed
and checked against its leaf hash and MAC in bulk, in one or two processes.

Used by verification (``audit.verify``) and by the checkpoint signer (``audit.checkpoints``),
which both need every leaf hash of the log and the first event that fails its checks. A million
events take a few seconds: the database puts each event's entry together and joins 5,000 of them
into one value, Python hashes them with one-shot calls and compares them in bulk, and two
processes share the log.
"""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
from collections.abc import Iterator
from typing import Any

from django.db import connection, connections

from secretum.audit import entries

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
    """Check a chunk of (seq, entry, leaf_hash) rows and append their leaf hashes to ``out``:
    ("", next expected seq), or (what is wrong, seq of the first bad event).

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
    sha256 = hashlib.sha256
    leaves = [sha256(b"\x00" + text).digest() for text in texts]
    try:
        same = b"".join(leaves) == bytes.fromhex("".join(stored))
    except (TypeError, ValueError):  # a stored hash emptied to NULL or not hex at all
        same = False
    if not same:
        return CHANGED, next(
            seq
            for seq, leaf, leaf_hex in zip(seqs, leaves, stored, strict=True)
            if leaf.hex() != leaf_hex
        )
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


def as_bytes(value: Any) -> bytes:
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
            texts = as_bytes(joined).split(b"\x1e")
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
            # The workers end on their own, never by the SIGTERM the pool's exit sends: a handler
            # of the process forked (coverage's, a server's) could wait on a lock held at the fork.
            pool.close()
            pool.join()
        leaves: list[bytes] = []
        for buf, problem, seq in parts:
            leaves.extend([buf[i : i + 32] for i in range(0, len(buf), 32)])
            if problem:
                return leaves, problem, seq
        return leaves, "", 0
    leaves = []
    problem, seq = _scan(0, size, leaves)
    return leaves, problem, seq
