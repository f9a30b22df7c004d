"""The tree head in the witness after every committed audit write (D2: no blind window).

A signed checkpoint comes every few minutes and at the end of every command; between two, an
attacker holding the database could cut the newest events off the end of the log, and the
authentication codes of the events that remain would all still hold. So each process, once the
transaction that appended an event has committed (``transaction.on_commit``), appends the log's
tree head to the witness, the file outside the database that also holds the checkpoints::

    head <tree size> <root hash, hex> <UTC time, ISO 8601>

The head is cheap: the process keeps the RFC 9162 frontier of the tree (``merkle.TreeBuilder``),
appends its own leaf, and reads from the database only the leaves that other processes appended
meanwhile (none, when one process writes). One write(2) in O_APPEND mode per commit puts the line
in the kernel's hands, so that a process killed the next instant still leaves it; the fsync that
makes it survive a power cut is batched: a thread of the process syncs at most every
``SYNC_EVERY`` seconds, and :func:`sync` syncs at once (the command line calls it before its
final checkpoint, and at exit). ``secretum audit verify`` then catches a truncation down to the
last event: the witness saw more events than the database holds.

Heads are not signed (the signing key never reaches the web workers): they bind the log the way
the witness's place does, outside the attacker's reach. Never raises: the request has committed.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection

from secretum.audit import merkle

HEAD_WORD = "head"
SYNC_EVERY = 0.05  # seconds between two fsyncs of the witness by a writing process

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Head:
    tree_size: int
    root_hash: str  # hex
    at: dt.datetime

    def line(self) -> str:
        return f"{HEAD_WORD} {self.tree_size} {self.root_hash} {_time(self.at)}\n"

    @property
    def at_text(self) -> str:
        return _time(self.at)


def _time(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse(line: str) -> Head | None:
    """A head line of the witness, or None when the line is something else."""
    words = line.split()
    if len(words) != 4 or words[0] != HEAD_WORD:
        return None
    try:
        size = int(words[1])
        root = bytes.fromhex(words[2])
        at = dt.datetime.strptime(words[3], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    except ValueError:
        return None
    if size < 0 or len(root) != 32:
        return None
    return Head(size, root.hex(), at)


class _State:
    """What one process knows: its tree, and its open witness file."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid = 0
        self.tree: merkle.TreeBuilder | None = None
        self.path: Path | None = None
        self.fd = -1
        self.unsynced = threading.Event()
        self.syncer: threading.Thread | None = None


_state = _State()


def committed(seq: int, leaf: bytes) -> None:
    """Event ``seq`` (leaf hash ``leaf``) has committed: put the tree head in the witness."""
    try:
        with _state.lock:
            head = _advance(seq, leaf)
            if head is not None:
                _write(head.line().encode())
    except (OSError, DatabaseError, ValueError) as exc:
        # The request has committed; a witness that cannot be written is the D2 evidence's and
        # `secretum check`'s to report (stale witness), not the user's.
        log.warning("audit witness not written: %s", exc)


def _advance(seq: int, leaf: bytes) -> Head | None:
    if _state.pid != os.getpid():  # a forked worker: nothing of the parent's is ours
        _reset()
    if _state.path != Path(settings.SECRETUM_AUDIT_WITNESS):
        _close()  # another witness (a test's own): another log, a tree of its own
        _state.tree = None
    tree = _state.tree
    if tree is not None and seq <= tree.size:
        return None  # already read from the database with a later event of another thread
    if tree is None or seq > tree.size + 1:
        tree = _catch_up(tree, seq - 1)
    tree.append(leaf)
    _state.tree = tree
    return Head(tree.size, tree.root().hex(), dt.datetime.now(dt.UTC))


def _catch_up(tree: merkle.TreeBuilder | None, size: int) -> merkle.TreeBuilder:
    """The tree of the first ``size`` events: from this process's tree, else from the latest
    checkpoint's frontier, plus the leaves appended since (committed: appends are serialised
    by a lock held until commit, so every event below a committed one has committed)."""
    if tree is None:
        tree = _from_checkpoint(size)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT seq, leaf_hash FROM audit_auditevent WHERE seq > %s AND seq <= %s ORDER BY seq",
            [tree.size, size],
        )
        for found, leaf_hex in cur.fetchall():
            if found != tree.size + 1:
                raise ValueError(f"event {tree.size + 1} is missing from the log")
            tree.append(bytes.fromhex(leaf_hex))
    if tree.size != size:
        raise ValueError(f"event {tree.size + 1} is missing from the log")
    return tree


def root_of(size: int) -> str:
    """The root of the first ``size`` events of the log, from the latest checkpoint's frontier
    and the leaves since (the D2 evidence compares it with the witness); "" when an event is
    missing."""
    try:
        return _catch_up(None, size).root().hex()
    except ValueError:
        return ""


def _from_checkpoint(size: int) -> merkle.TreeBuilder:
    from secretum.audit.models import AuditCheckpoint

    row = AuditCheckpoint.objects.filter(tree_size__lte=size).order_by("-tree_size").first()
    if row is not None:
        try:
            tree = merkle.TreeBuilder(
                row.tree_size, [bytes.fromhex(h) for h in json.loads(row.frontier)]
            )
        except (ValueError, TypeError):
            return merkle.TreeBuilder()
        if tree.root().hex() == row.root_hash:
            return tree
    return merkle.TreeBuilder()


def _reset() -> None:
    _state.pid = os.getpid()
    _state.tree = None
    _state.path = None
    _state.fd = -1  # the parent's descriptor is the parent's to close
    _state.unsynced = threading.Event()
    _state.syncer = None


def _write(data: bytes) -> None:
    if _state.fd < 0:
        path = Path(settings.SECRETUM_AUDIT_WITNESS)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _state.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _state.path = path
    os.write(_state.fd, data)
    _state.unsynced.set()
    if _state.syncer is None:
        _state.syncer = threading.Thread(target=_sync_loop, name="audit-witness", daemon=True)
        _state.syncer.start()


def _sync_loop() -> None:
    unsynced = _state.unsynced
    while True:
        unsynced.wait()
        threading.Event().wait(SYNC_EVERY)  # let the heads of a burst share one fsync
        sync()


def sync() -> None:
    """Make every head written so far survive a power cut (one fsync)."""
    with _state.lock:
        if _state.fd < 0 or _state.pid != os.getpid():
            return
        _state.unsynced.clear()
        try:
            os.fsync(_state.fd)
        except OSError as exc:
            log.warning("audit witness not synced: %s", exc)


def _close() -> None:
    if _state.fd >= 0:
        os.fsync(_state.fd)
        os.close(_state.fd)
    _state.fd = -1
    _state.path = None


def forget() -> None:
    """Drop this process's tree and close the witness (a test that starts a new log)."""
    with _state.lock:
        _close()
        _state.tree = None


atexit.register(sync)
