"""``secretum keys separate``: the database of an instance made before moved out of the key
file's folder, into ``data/`` (E10, G3, O2; docs/keys.md, "Key providers").

Instances made before kept ``secretum.sqlite3`` beside ``secretum.key``: whoever copied the folder
for the database took the key with it. Every command but ``check``, ``upgrade`` and ``backup
verify`` (``cli.LAYOUT_MENDING``) now refuses such an instance, naming ``secretum upgrade``,
which ends with this move once it went through (``cli``). ``keys separate`` does the move alone,
before Django (it opens no connection of its own to keep), with the server stopped: SQLite's
write-ahead log is folded into the file, then the file is moved by one rename, atomic on the
same file system, and both folders are synced. Interrupted, it leaves the database in one place
or the other, whole.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from pathlib import Path

from secretum.instance import LEGACY_DATABASE, Instance, InstanceError


def separate(inst: Instance) -> Path:
    """Move the instance's database from beside its key file into ``data/``; where it is now."""
    legacy = inst.home / LEGACY_DATABASE
    target = inst.home / "data" / LEGACY_DATABASE
    if not legacy.exists():
        if target.exists():
            raise InstanceError(
                f"The database is already in {target.parent}, apart from the key file: nothing "
                "to move."
            )
        raise InstanceError(f"No database at {legacy}: nothing to move.")
    if target.exists():
        raise InstanceError(
            f"Both {legacy} and {target} exist: find out which one the instance uses; nothing "
            "was moved."
        )
    with contextlib.closing(sqlite3.connect(legacy, timeout=0, isolation_level=None)) as db:
        try:
            busy = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.OperationalError:
            busy = 1
    wal = legacy.with_name(legacy.name + "-wal")
    if busy or (wal.exists() and wal.stat().st_size):
        raise InstanceError(
            f"The database {legacy} is in use: stop 'secretum serve' and every other Secretum "
            "command first; nothing was moved."
        )
    for suffix in ("-shm", "-writers"):  # -writers: the writers' queue (lib/sqlite3), empty
        legacy.with_name(legacy.name + suffix).unlink(missing_ok=True)
    wal.unlink(missing_ok=True)  # empty, with no connection open: SQLite makes them again
    target.parent.mkdir(mode=0o700, exist_ok=True)
    os.rename(legacy, target)
    for folder in (inst.home, target.parent):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return target


def main(args: list[str]) -> int:
    """The command: one line of what was done, or one sentence of why not (exit 1)."""
    if args:
        print("usage: secretum keys separate", file=sys.stderr)
        return 2
    inst = Instance.from_env()
    try:
        moved = separate(inst)
    except InstanceError as exc:
        print(f"secretum: {exc}", file=sys.stderr)
        return 1
    print(
        f"Moved the database to {moved}: the key file {inst.key_file} is no longer in its folder."
    )
    return 0
