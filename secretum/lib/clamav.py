"""A client of the ClamAV daemon over its local socket (E2), with the standard library only.

clamd's protocol is documented in clamd(8): a command is sent as ``z<COMMAND>\\0`` (the ``z``
prefix asks for NUL-terminated replies). ``INSTREAM`` is followed by the data in chunks, each
preceded by its length as a 4-byte unsigned integer in network byte order, and a zero-length
chunk ends the stream; the reply is ``stream: OK``, ``stream: <signature> FOUND`` or
``<message> ERROR``. ``VERSION`` answers ``ClamAV <engine>/<database version>/<database date>``
(the date as ``Sun Nov 29 09:35:28 2026``); a daemon that loaded only unofficial signatures
answers ``ClamAV <engine>`` alone. ``PING`` answers ``PONG``.

Nothing is written to disk here: the data goes from memory to the socket.
"""

from __future__ import annotations

import datetime as dt
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass

CHUNK = 64 * 1024  # bytes per INSTREAM chunk (clamd's StreamMaxLength bounds the whole stream)
REPLY_LIMIT = 4096  # a reply longer than this is not clamd's


class ScannerUnavailable(Exception):
    """No answer from clamd: not running, the socket missing, a timeout, a broken reply."""


@dataclass(frozen=True)
class Verdict:
    clean: bool
    signature: str = ""  # the name of what was found; empty when clean


@dataclass(frozen=True)
class Version:
    engine: str
    database: int | None  # the signature database's version; None without an official one
    database_date: dt.datetime | None  # when that database was built (UTC)

    def age(self, now: dt.datetime) -> dt.timedelta | None:
        return None if self.database_date is None else now - self.database_date


def _connect(path: str, timeout: float) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise ScannerUnavailable(f"cannot reach clamd at {path}: {exc.strerror or exc}") from None
    return sock


def _reply(sock: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\0"):
        try:
            part = sock.recv(REPLY_LIMIT)
        except OSError as exc:
            raise ScannerUnavailable(f"clamd did not answer: {exc}") from None
        if not part:
            break
        data += part
        if len(data) > REPLY_LIMIT:
            raise ScannerUnavailable("clamd's reply is too long")
    if not data.endswith(b"\0"):
        raise ScannerUnavailable("clamd closed the connection without a complete reply")
    return data[:-1].decode("utf-8", "replace")


def _command(path: str, command: bytes, timeout: float) -> str:
    with _connect(path, timeout) as sock:
        try:
            sock.sendall(b"z" + command + b"\0")
        except OSError as exc:
            raise ScannerUnavailable(f"clamd did not take the command: {exc}") from None
        return _reply(sock)


def ping(path: str, timeout: float = 5.0) -> bool:
    """True when clamd answers PONG."""
    try:
        return _command(path, b"PING", timeout) == "PONG"
    except ScannerUnavailable:
        return False


def parse_version(reply: str) -> Version:
    """``ClamAV 1.4.6/27478/Sun Nov 29 09:35:28 2026`` (or ``ClamAV 1.4.6`` alone)."""
    if not reply.startswith("ClamAV "):
        raise ScannerUnavailable(f"not a clamd VERSION reply: {reply[:80]!r}")
    parts = reply[len("ClamAV ") :].split("/", 2)
    if len(parts) < 3:
        return Version(parts[0], None, None)
    try:
        built = dt.datetime.strptime(parts[2].strip(), "%a %b %d %H:%M:%S %Y")
        return Version(parts[0], int(parts[1]), built.replace(tzinfo=dt.UTC))
    except ValueError:
        return Version(parts[0], None, None)


def version(path: str, timeout: float = 5.0) -> Version:
    """The engine's version and its signature database's version and date."""
    return parse_version(_command(path, b"VERSION", timeout))


def scan(path: str, data: bytes | Iterable[bytes], timeout: float = 60.0) -> Verdict:
    """Scan ``data`` (bytes, or chunks of them) with INSTREAM; ScannerUnavailable when clamd
    cannot give a verdict (never a "clean" by default)."""
    chunks = [data] if isinstance(data, bytes | bytearray | memoryview) else data
    with _connect(path, timeout) as sock:
        try:
            sock.sendall(b"zINSTREAM\0")
            for chunk in chunks:
                view = memoryview(chunk)
                for start in range(0, len(view), CHUNK):
                    part = view[start : start + CHUNK]
                    sock.sendall(struct.pack(">I", len(part)))
                    sock.sendall(part)
            sock.sendall(struct.pack(">I", 0))
        except OSError as exc:  # clamd closes the socket past its StreamMaxLength
            raise ScannerUnavailable(f"clamd did not take the data: {exc}") from None
        reply = _reply(sock)
    if reply == "stream: OK":
        return Verdict(clean=True)
    if reply.startswith("stream: ") and reply.endswith(" FOUND"):
        return Verdict(clean=False, signature=reply[len("stream: ") : -len(" FOUND")])
    raise ScannerUnavailable(f"clamd gave no verdict: {reply[:120]}")


def scan_waiting(path: str, data: bytes, wait: float, timeout: float = 60.0) -> Verdict:
    """``scan``, trying again once a second for up to ``wait`` seconds while clamd is
    unavailable (a daemon restarting after an update); then ScannerUnavailable."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return scan(path, data, timeout)
        except ScannerUnavailable:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1)
