"""A witness path on another file system than the test's instance and database (D2).

The audit witness must not share the database's file system (`secretum check` warns, secretum.W102;
the D2 evidence fails). Tests that expect a clean check put their witness on a file system of its
own: a memory one (/dev/shm) when the temporary folder is on disk.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

_CANDIDATES = ("/dev/shm", f"/run/user/{os.getuid()}", "/var/tmp")  # noqa: S108
# One folder per test session (a temporary path may come again in a later session), removed at
# its end.
_SESSION = f"secretum-test-witness-{uuid.uuid4().hex}"


def witness_elsewhere(name: str) -> Path:
    """A witness file, named after ``name``, on a file system other than the temporary
    folder's (skips the test where the machine has none)."""
    here = os.stat(tempfile.gettempdir()).st_dev
    for candidate in _CANDIDATES:
        folder = Path(candidate)
        if folder.is_dir() and os.access(folder, os.W_OK) and folder.stat().st_dev != here:
            digest = hashlib.sha256(name.encode()).hexdigest()[:16]
            if not (folder / _SESSION).exists():
                atexit.register(shutil.rmtree, folder / _SESSION, ignore_errors=True)
            return folder / _SESSION / digest / "witness.log"
    pytest.skip("no writable file system other than the temporary folder's")
