"""A Unix socket that answers clamd's VERSION command with a fixed reply, for the register's E2
passing case: an official, dated signature database cannot be built here (freshclam downloads
it, signed by Cisco-Talos; clamd refuses an unsigned one), so this stands in for a daemon that
loaded one. Every other E2 test talks to a real clamd (conftest.py)."""

from __future__ import annotations

import socket
import tempfile
import threading
from pathlib import Path


def answering(reply: str) -> str:
    """The path of a socket that answers every connection with ``reply`` (NUL-terminated)."""
    path = str(Path(tempfile.mkdtemp(prefix="clamd-version-")) / "clamd.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()

    def serve() -> None:
        while True:
            conn, _ = server.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(reply.encode() + b"\0")

    threading.Thread(target=serve, daemon=True).start()
    return path
