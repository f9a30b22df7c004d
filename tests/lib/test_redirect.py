"""H1: the plain-HTTP redirect sends a browser only to a host name the practice configured.

Issue 8, defect 10: ``Host: evil.example`` on port 8080 was redirected to https://evil.example.
The first test runs the redirect process as `secretum serve` starts it (same arguments as before
the fix) and fails on that code.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from secretum.lib import http1
from secretum.lib.redirect import host_name, location, redirect_host

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redirect_process(allowed: str | None, *extra: str) -> Iterator[int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env["PYTHONPATH"] = str(ROOT)
    if allowed is not None:
        env["SECRETUM_ALLOWED_HOSTS"] = allowed
    port = _free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "secretum.lib.redirect", "--host", "127.0.0.1"),
            *("--port", str(port), "--https-port", "8443", *extra),
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def default_hosts() -> Iterator[int]:
    yield from _redirect_process(None)


@pytest.fixture
def practice_host() -> Iterator[int]:
    yield from _redirect_process("dossier.cabinet.example,localhost")


def _location(port: int, host: str, path: str = "/patients/?q=1") -> tuple[int, str | None]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", path, headers={"Host": host})
    response = conn.getresponse()
    conn.close()
    return response.status, response.getheader("Location")


def test_a_forged_host_is_never_redirected_to(default_hosts: int) -> None:
    """H1: with the default SECRETUM_ALLOWED_HOSTS (127.0.0.1, localhost)."""
    assert _location(default_hosts, "evil.example") == (
        301,
        "https://127.0.0.1:8443/patients/?q=1",
    )
    assert (
        _location(default_hosts, "evil.example:8080")[1] == "https://127.0.0.1:8443/patients/?q=1"
    )
    # An allowed name is kept: the user stays where the certificate and the cookies are.
    assert _location(default_hosts, "LOCALHOST:8080")[1] == "https://localhost:8443/patients/?q=1"


def test_the_redirect_uses_the_practice_s_own_name(practice_host: int) -> None:
    """H1: a forged Host, or none, goes to the first configured name."""
    for host in ("evil.example", "dossier.cabinet.example.evil.example", "127.0.0.1"):
        status, target = _location(practice_host, host, "/")
        assert (status, target) == (301, "https://dossier.cabinet.example:8443/")
    # An absolute-form target cannot name another host either (RFC 9112 §3.2.2).
    status, target = _location(practice_host, "localhost", "http://evil.example/x")
    assert target == "https://dossier.cabinet.example:8443/x"


def test_a_stalled_request_is_closed_within_the_header_timeout() -> None:
    """G4: the redirect reads a head within its deadline, and keeps answering others."""
    for port in _redirect_process(None, "--header-timeout", "1.5"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
            stalled.sendall(b"GET / HTTP/1.1\r\nHost: local")
            started = time.monotonic()
            assert _location(port, "localhost")[0] == 301  # others are answered meanwhile
            stalled.settimeout(10)
            data = b""
            while chunk := stalled.recv(4096):
                data += chunk
            assert data.startswith(b"HTTP/1.1 408 ")
            assert time.monotonic() - started < 3.0


@pytest.mark.parametrize(
    ("field", "allowed", "expected"),
    [
        ("localhost:8080", ["127.0.0.1", "localhost"], "localhost"),
        ("evil.example", ["127.0.0.1", "localhost"], "127.0.0.1"),
        (None, ["practice.example"], "practice.example"),
        ("Practice.Example.:80", ["practice.example"], "practice.example"),
        ("[::1]:8080", ["[::1]", "localhost"], "[::1]"),
        ("[::1", ["localhost"], "localhost"),
        ("localhost:80x", ["127.0.0.1", "localhost"], "127.0.0.1"),
        # Patterns never vouch for a Host field: a subdomain is not kept, "*" is no name.
        ("evil.example.com", [".example.com"], "example.com"),
        ("evil.example", ["*", "practice.example"], "practice.example"),
        ("evil.example", ["*"], None),
    ],
)
def test_redirect_host(field: str | None, allowed: list[str], expected: str | None) -> None:
    assert redirect_host(field, allowed) == expected


def test_host_name_strips_the_port_and_refuses_garbage() -> None:
    assert host_name("Example.BE:8080") == "example.be"
    assert host_name("example.be:x") is None
    assert host_name("[2001:db8::1]:443") == "[2001:db8::1]"


def test_no_location_without_a_configured_name() -> None:
    request = http1.parse_request_head(b"GET / HTTP/1.1\r\nHost: evil.example\r\n")
    assert location(request, ["*"], 8443) is None
    assert location(request, ["a.example"], 443) == "https://a.example/"
