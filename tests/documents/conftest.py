"""A real ClamAV daemon for the document tests (E2), started in the foreground with a signature
database of its own: freshclam cannot download here, so the database is one ``.hdb`` line, the
MD5 and the size of the EICAR test file (``md5:size:Name``). The EICAR string is built from two
pieces at run time: the repository holds no EICAR file for a scanner to find."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secretum.lib import clamav

CLAMD = shutil.which("clamd") or "/usr/sbin/clamd"
SIGNATURE = "Secretum.Test.EICAR"
# The EICAR test file (https://www.eicar.org), in two halves so no file here is "infected".
EICAR = ("X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*").encode()


@pytest.fixture(scope="session")
def clamd_socket(tmp_path_factory: Any) -> Iterator[str]:
    if not Path(CLAMD).exists():
        pytest.fail("clamd is missing: `make system-deps` installs clamav-daemon")
    home = tmp_path_factory.mktemp("clamd")
    (home / "secretum-test.hdb").write_text(
        f"{hashlib.md5(EICAR).hexdigest()}:{len(EICAR)}:{SIGNATURE}\n"  # noqa: S324 (ClamAV's format)
    )
    socket = home / "clamd.sock"
    (home / "clamd.conf").write_text(
        f"LocalSocket {socket}\nForeground yes\nDatabaseDirectory {home}\n"
        f"TemporaryDirectory {home}\nLogFile {home / 'clamd.log'}\nStreamMaxLength 30M\n"
    )
    process = subprocess.Popen(
        [CLAMD, "-c", str(home / "clamd.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not clamav.ping(str(socket), timeout=1):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (home / "clamd.log").read_text() if (home / "clamd.log").exists() else ""
                pytest.fail(f"clamd did not start: {log[-2000:]}")
            time.sleep(0.1)
        yield str(socket)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def scanner(clamd_socket: str, settings: Any) -> str:
    settings.SECRETUM_CLAMD_SOCKET = clamd_socket
    settings.SECRETUM_SCANNER_WAIT = 0
    return clamd_socket


@pytest.fixture
def nurse(db: Any) -> Any:
    from secretum.access.policy import Role
    from tests.conftest import make_user

    return make_user(Role.NURSE)


def drop(folder: Path, name: str, data: bytes, age: float = 60) -> Path:
    """A file the scanner left in the intake folder ``age`` seconds ago."""
    path = folder / name
    path.write_bytes(data)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


@pytest.fixture
def folder(tmp_path: Path, settings: Any) -> Path:
    """The scan intake folder (D4)."""
    settings.SECRETUM_INTAKE_DIR = str(tmp_path / "intake")
    (tmp_path / "intake").mkdir()
    return tmp_path / "intake"
