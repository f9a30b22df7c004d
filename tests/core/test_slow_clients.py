"""G4 (availability): slow clients cannot starve `secretum serve` (issue 8, defect 4).

A real `secretum serve` on a throwaway instance, with short deadlines so that the module runs in
about half a minute; its slow clients (tests/serving.py) come each from a loopback address of
its own choosing (127.0.0.0/8 is all local), so that per-client limits can be tested without
leaving 127.0.0.1's machine. Every loop is bounded in time or count.

Before the front (gunicorn's gthread workers reading requests on their own threads), 16 TLS
connections each sending half a request made /healthz time out for everyone: the first test
fails on that code.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import select
import socket
import ssl
import time
import urllib.parse
from collections.abc import Iterator

import pytest

from tests.serving import Served, SlowClients, secretum, serving

HEADER_TIMEOUT = 3.0
BODY_TIMEOUT = 3.0
PER_CLIENT = 12
NORMAL = "127.0.0.1"  # the normal client's address; slow clients use others


def _get(
    served: Served,
    path: str = "/healthz",
    source: str = NORMAL,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, http.client.HTTPResponse, bytes, float]:
    """One request on a new connection (TLS handshake included in the time)."""
    started = time.monotonic()
    conn = served.connect(timeout, source)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    return response.status, response, body, time.monotonic() - started


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = {
        "SECRETUM_SERVE_HEADER_TIMEOUT": str(HEADER_TIMEOUT),
        "SECRETUM_SERVE_BODY_TIMEOUT": str(BODY_TIMEOUT),
        "SECRETUM_SERVE_MAX_PER_CLIENT": str(PER_CLIENT),
    }
    folder = tmp_path_factory.mktemp("slow-clients")
    options = ("--workers", "1", "--threads", "4")
    with serving(folder, *options, redirect=True, settings=settings) as running:
        _get(running, "/accounts/login/")  # warm: templates and translations loaded
        yield running


def _slow(sources: list[str], per_source: int, kind: str) -> list[tuple[str, str]]:
    return [(source, kind) for source in sources for _ in range(per_source)]


def test_healthz_answers_within_a_second_while_50_slow_clients_hold_connections(
    served: Served,
) -> None:
    """G4: 50 TLS connections with half a request head, and 10 trickling a body, from six
    addresses: a normal client still gets /healthz and the login page within a second, every
    time, over several rounds of the slow clients being cut and coming back."""
    heads = [f"127.0.0.{i}" for i in range(21, 26)]  # 10 each: under the per-client limit
    with (
        SlowClients(served.port, served.context, _slow(heads, 10, "head")) as slow_heads,
        SlowClients(served.port, served.context, _slow(["127.0.0.26"], 10, "body")) as slow_bodies,
    ):
        started = time.monotonic()
        times = []
        while time.monotonic() - started < 2 * HEADER_TIMEOUT:  # at least one cut and return
            status, _, body, elapsed = _get(served, timeout=5)
            assert (status, json.loads(body)["status"]) == (200, "ok")
            times.append(elapsed)
            status, _, _, elapsed = _get(served, "/accounts/login/", timeout=5)
            assert status == 200
            times.append(elapsed)
            time.sleep(0.2)
        # The front held them all, and cut and took them back at least once meanwhile.
        assert slow_heads.opened >= 2 * 50 and slow_bodies.opened >= 2 * 10
    assert len(times) >= 10
    assert max(times) < 1.0, times


def test_the_slow_clients_were_held_by_the_front_alone(served: Served) -> None:
    """G4: the slow clients above never reached the workers: each was answered 408 by the
    front (its own access line), none was handed to gunicorn."""
    lines = [
        line for line in served.access_lines() if re.fullmatch(r"127\.0\.0\.2[1-6]", line["client"])
    ]
    assert len(lines) >= 60
    assert all(line["status"] == 408 and line["request_id"] for line in lines), lines


def _raw_tls(served: Served, source: str) -> ssl.SSLSocket:
    sock = socket.create_connection(
        ("127.0.0.1", served.port), timeout=10, source_address=(source, 0)
    )
    return served.context.wrap_socket(sock, server_hostname="127.0.0.1")


def _read_until_closed(sock: ssl.SSLSocket, limit: float) -> tuple[bytes, float]:
    started, data = time.monotonic(), b""
    sock.settimeout(limit)
    with contextlib.suppress(OSError):
        while chunk := sock.recv(4096):
            data += chunk
    return data, time.monotonic() - started


def test_a_stalled_request_head_is_answered_408_and_closed_within_the_header_timeout(
    served: Served,
) -> None:
    """G4: half a request head, then nothing: 408 and the connection closed once the header
    timeout has passed (the penetration test saw one held 150 s)."""
    with _raw_tls(served, "127.0.0.30") as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        data, elapsed = _read_until_closed(sock, HEADER_TIMEOUT + 10)
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert HEADER_TIMEOUT - 0.5 < elapsed < HEADER_TIMEOUT + 1.5, elapsed


def test_a_trickled_body_is_answered_408_within_the_body_timeout(served: Served) -> None:
    """G4: a whole head, then a body at a byte a second: cut by the minimum body rate."""
    with _raw_tls(served, "127.0.0.31") as sock:
        sock.sendall(
            b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 500\r\n\r\n"
        )
        started, data = time.monotonic(), b""
        sock.settimeout(1.0)
        for _ in range(int(BODY_TIMEOUT) + 10):
            with contextlib.suppress(OSError):
                sock.sendall(b"a")
            try:
                data = sock.recv(4096)
                break
            except TimeoutError:
                continue
        elapsed = time.monotonic() - started
    assert data.startswith(b"HTTP/1.1 408 "), data
    assert elapsed < BODY_TIMEOUT + 2.5, elapsed


def _closed(sock: socket.socket) -> bool:
    """True when the server has closed this connection (readable, then EOF or reset)."""
    readable, _, _ = select.select([sock], [], [], 0)
    if not readable:
        return False
    try:
        return sock.recv(1) == b""
    except OSError:
        return True


def test_one_address_cannot_hold_more_than_its_limit(served: Served) -> None:
    """G4: from one address, connections beyond SECRETUM_SERVE_MAX_PER_CLIENT are closed at
    once; the others stay open; another address is served meanwhile; a slot is free again as
    soon as a connection ends."""
    source = "127.0.0.40"
    socks = [
        socket.create_connection(("127.0.0.1", served.port), timeout=5, source_address=(source, 0))
        for _ in range(PER_CLIENT + 6)
    ]
    try:
        time.sleep(1.0)
        closed = [s for s in socks if _closed(s)]
        assert len(closed) == 6
        assert _get(served)[0] == 200  # another address
        for s in closed:
            s.close()
        # At the limit: one more from the same address is refused at once.
        extra = socket.create_connection(("127.0.0.1", served.port), source_address=(source, 0))
        time.sleep(0.5)
        assert _closed(extra)
        extra.close()
        open_ = [s for s in socks if s not in closed]
        open_.pop().close()
        time.sleep(0.3)
        status, _, _, elapsed = _get(served, source=source)  # the freed slot serves again
        assert status == 200 and elapsed < 1.0
    finally:
        for s in socks:
            s.close()


def test_oversized_or_ambiguous_requests_are_refused_by_the_front(served: Served) -> None:
    """G4: a head over 16 KiB gets 431, a body over the limit 413 before any byte of it is
    read, Content-Length with Transfer-Encoding 400 (RFC 9112 §6.1: no smuggling to the
    workers)."""
    cases = [
        (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", b"431"),
        (b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 999999999\r\n\r\n", b"413"),
        (
            b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"400",
        ),
        (b"GET / HTTP/1.1\r\n\r\n", b"400"),  # no Host
    ]
    for request, status in cases:
        with _raw_tls(served, "127.0.0.32") as sock:
            sock.sendall(request)
            data, elapsed = _read_until_closed(sock, 5)
        assert data.startswith(b"HTTP/1.1 " + status), (request[:40], data[:80])
        assert elapsed < 3.5


def test_the_application_sees_the_client_address_and_https(served: Served) -> None:
    """Behind the front, Django still sees the client's own address in REMOTE_ADDR (the login
    throttle, the audit log), never X-Forwarded-For, and the request as HTTPS (HSTS is only
    sent on a secure request); the access log has the path, never the query string (H2); the
    workers' socket is the owner's alone."""
    status, response, _, _ = _get(
        served,
        "/healthz?token=do-not-log",
        source="127.0.0.50",
        headers={"X-Forwarded-For": "10.9.9.9"},
    )
    assert status == 200
    assert response.getheader("Strict-Transport-Security", "").startswith("max-age=")
    # A failed login: the audit event's source is the client's address.
    conn = served.connect(timeout=5, source="127.0.0.51")
    base = f"https://127.0.0.1:{served.port}"
    conn.request("GET", "/accounts/login/")
    page = conn.getresponse()
    html = page.read().decode()
    cookie = "; ".join(c.split(";", 1)[0] for c in page.headers.get_all("Set-Cookie") or [])
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token, html[:500]
    form = {"csrfmiddlewaretoken": token.group(1), "username": "nobody", "password": "wrong-1234"}
    conn.request(
        "POST",
        "/accounts/login/",
        body=urllib.parse.urlencode(form),
        headers={
            "Cookie": cookie,
            "Referer": base + "/accounts/login/",
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Forwarded-For": "10.9.9.9",
        },
    )
    assert conn.getresponse().status in (200, 429)
    conn.close()
    code = (
        "from secretum.audit.models import AuditEvent\n"
        "print(sorted(set(AuditEvent.objects.filter(action='login-failed')"
        ".values_list('source', flat=True))))"
    )
    shell = secretum(served.env, "shell", "-c", code)
    assert shell.returncode == 0, shell.stderr
    assert "['127.0.0.51']" in shell.stdout, shell.stdout
    deadline = time.monotonic() + 5
    seen = {"client": "127.0.0.50", "method": "GET", "path": "/healthz", "status": 200}
    while not any(line.items() >= seen.items() for line in served.access_lines()):
        assert time.monotonic() < deadline, served.access_lines()[-20:]
        time.sleep(0.1)
    text = served.log.read_text() + "".join(p.read_text() for p in served.logs.glob("*.log"))
    assert "10.9.9.9" not in text and "do-not-log" not in text
    assert (served.home / "workers.sock").stat().st_mode & 0o777 == 0o600


def test_the_http_redirect_answers_within_a_second_under_slow_clients(served: Served) -> None:
    """G4 and H1: 50 plain-HTTP connections with half a head do not starve the redirect; a
    stalled one is closed within the header timeout; `Host: evil.example` is sent to the
    practice's own name, never to evil.example."""
    heads = [f"127.0.0.{i}" for i in range(61, 66)]
    with SlowClients(served.http_port, None, _slow(heads, 10, "head")):
        for host in ("evil.example", "localhost", "127.0.0.1"):
            started = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", served.http_port, timeout=5)
            conn.request("GET", "/patients/?q=1", headers={"Host": host})
            response = conn.getresponse()
            conn.close()
            assert time.monotonic() - started < 1.0
            assert response.status == 301
            expected = "localhost" if host == "localhost" else "127.0.0.1"
            assert (
                response.getheader("Location") == f"https://{expected}:{served.port}/patients/?q=1"
            )
        with socket.create_connection(("127.0.0.1", served.http_port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            started = time.monotonic()
            sock.settimeout(HEADER_TIMEOUT + 10)
            with contextlib.suppress(OSError):
                while sock.recv(4096):
                    pass
            assert time.monotonic() - started < HEADER_TIMEOUT + 1.5
