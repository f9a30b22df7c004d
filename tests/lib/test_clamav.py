"""The clamd client (E2) against a real clamd (tests/documents/conftest.py) and, for the broken
answers clamd does not give, a socket of our own that answers badly."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secretum.lib import clamav
from tests.documents.conftest import EICAR, SIGNATURE, clamd_socket  # noqa: F401 (fixture)


def test_scan_finds_the_eicar_file_and_passes_a_clean_one(clamd_socket: str) -> None:  # noqa: F811
    assert clamav.scan(clamd_socket, b"%PDF-1.4 fictitious letter") == clamav.Verdict(True)
    found = clamav.scan(clamd_socket, [EICAR[:10], EICAR[10:]])  # in chunks
    assert not found.clean and found.signature.startswith(SIGNATURE)
    big = b"\x00" * (3 * clamav.CHUNK + 17)
    assert clamav.scan(clamd_socket, big).clean
    assert clamav.ping(clamd_socket)


def test_version_of_a_daemon_without_official_signatures(clamd_socket: str) -> None:  # noqa: F811
    found = clamav.version(clamd_socket)
    assert found.engine.startswith("1.") and found.database is None
    assert found.age(dt.datetime.now(dt.UTC)) is None


def test_the_version_reply_gives_the_database_date() -> None:
    found = clamav.parse_version("ClamAV 1.4.6/27478/Sun Nov 29 09:35:28 2026")
    assert found == clamav.Version(
        "1.4.6", 27478, dt.datetime(2026, 11, 29, 9, 35, 28, tzinfo=dt.UTC)
    )
    now = dt.datetime(2026, 11, 30, 9, 35, 28, tzinfo=dt.UTC)
    assert found.age(now) == dt.timedelta(days=1)
    assert clamav.parse_version("ClamAV 1.4.6/x/yesterday").database_date is None
    with pytest.raises(clamav.ScannerUnavailable, match="not a clamd"):
        clamav.parse_version("HTTP/1.1 400 Bad Request")


def test_no_daemon_is_unavailable_never_clean(tmp_path: Path) -> None:
    missing = str(tmp_path / "none.sock")
    with pytest.raises(clamav.ScannerUnavailable, match="cannot reach clamd"):
        clamav.scan(missing, b"data")
    with pytest.raises(clamav.ScannerUnavailable):
        clamav.version(missing)
    assert not clamav.ping(missing)
    with pytest.raises(clamav.ScannerUnavailable):
        clamav.scan_waiting(missing, b"data", wait=0)


@pytest.fixture
def bad_daemon(tmp_path: Path) -> Iterator[tuple[str, list[bytes]]]:
    """A Unix socket that reads a request and answers with the next of ``replies``."""
    path = str(tmp_path / "bad.sock")
    replies: list[bytes] = []
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                received = b""
                try:  # the whole request: INSTREAM ends with a zero-length chunk
                    while not received.endswith(b"\0\0\0\0"):
                        part = conn.recv(65536)
                        if not part:
                            break
                        received += part
                except OSError:
                    pass
                reply = replies.pop(0) if replies else b""
                if reply == b"SLOW":
                    stop.wait(3)
                    continue
                conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, replies
    stop.set()
    server.close()
    thread.join(timeout=5)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"INSTREAM size limit exceeded. ERROR\0", "no verdict"),
        (b"", "without a complete reply"),
        (b"stream: OK", "without a complete reply"),  # no NUL: cut short
        (b"x" * (clamav.REPLY_LIMIT + 10), "too long"),
        (b"SLOW", "did not answer"),
    ],
)
def test_a_broken_answer_is_unavailable(
    bad_daemon: tuple[str, list[bytes]], reply: bytes, message: str
) -> None:
    path, replies = bad_daemon
    replies.append(reply)
    with pytest.raises(clamav.ScannerUnavailable, match=message):
        clamav.scan(path, b"data", timeout=1)


def test_a_daemon_that_closes_at_once_did_not_take_the_data(tmp_path: Path) -> None:
    path = str(tmp_path / "closing.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()

    def close_at_once() -> None:
        conn, _ = server.accept()
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()

    thread = threading.Thread(target=close_at_once, daemon=True)
    thread.start()
    with pytest.raises(clamav.ScannerUnavailable):
        clamav.scan(path, b"x" * (8 * 1024 * 1024), timeout=5)
    thread.join(timeout=5)
    server.close()


def test_waiting_tries_again_until_the_deadline(tmp_path: Path, monkeypatch: Any) -> None:
    calls: list[float] = []
    monkeypatch.setattr(clamav.time, "sleep", lambda s: calls.append(s))
    with pytest.raises(clamav.ScannerUnavailable):
        clamav.scan_waiting(str(tmp_path / "none.sock"), b"x", wait=0.05)
    assert calls and all(s == 1 for s in calls)
