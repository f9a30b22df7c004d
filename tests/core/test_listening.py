"""H3, live: the host's listening sockets, read from the kernel (/proc/net/tcp, tcp6), and
nothing listening where passwords would travel in clear (FTP, Telnet, a configured port, plain
HTTP other than Secretum's own redirect). Real sockets, opened by the tests; the forbidden
lists take free high ports, so no test needs root to bind port 21."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from secretum.compliance import evidence
from secretum.core.evidence import PORT_NAMES, listening_problems
from secretum.lib import listening
from tests.compliance.test_evidence import free_port
from tests.lib.test_redirect import _redirect_process

# Two lines of /proc/net/tcp and one of tcp6, as the kernel writes them (0A: LISTEN, 01:
# ESTABLISHED).
HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  inode"
TAIL = " 00000000:00000000 00:00000000 00000000     0        0"
TCP = "\n".join(
    (
        HEADER,
        "   0: 0100007F:0015 00000000:0000 0A" + TAIL + " 4242 1 0 100 0 0 10 0",
        "   1: 0100007F:1F90 0100007F:C350 01" + TAIL + " 4243 1 0 20 4 30 10 -1",
    )
)
TCP6 = "\n".join(
    (
        HEADER,
        "   0: 00000000000000000000000001000000:0017 00000000000000000000000000000000:0000 0A"
        + TAIL
        + " 4244 1 0 100 0 0 10 0",
    )
)


@contextlib.contextmanager
def listening_on(port: int = 0, host: str = "127.0.0.1") -> Iterator[socket.socket]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen()
        yield sock


def _h3() -> evidence.Evidence:
    return evidence.gather(["H3"])["H3"]


@pytest.fixture
def quiet_host(settings: Any, db: Any) -> Any:
    """Forbidden lists naming ports nothing listens on now (and the database file private,
    H3's other half)."""
    from django.db import connection

    name = Path(str(connection.settings_dict["NAME"]))
    if connection.vendor == "sqlite" and name.is_file():
        name.chmod(0o600)
    settings.SECRETUM_FORBIDDEN_PORTS = [free_port()]
    settings.SECRETUM_PLAIN_HTTP_PORTS = [free_port()]
    return settings


def test_the_kernels_tables_are_read_listening_sockets_only() -> None:
    found = listening.parse(TCP) + listening.parse(TCP6)
    assert [(s.address, s.port, s.inode) for s in found] == [
        ("127.0.0.1", 21, 4242),
        ("::1", 23, 4244),
    ]
    assert [s.where for s in found] == ["127.0.0.1:21", "[::1]:23"]


def test_a_real_listening_socket_is_found_with_its_owner_and_gone_once_closed() -> None:
    with listening_on() as sock:
        port = sock.getsockname()[1]
        (found,) = [s for s in listening.listeners() if s.port == port]
        assert found.address == "127.0.0.1"
        owners = listening.owners({found.inode})
        assert owners[found.inode] == tuple(
            Path("/proc/self/cmdline").read_bytes().rstrip(b"\0").decode().split("\0")
        )
    assert port not in {s.port for s in listening.listeners()}


def test_an_ipv6_listener_is_found() -> None:
    if not socket.has_ipv6 or not Path("/proc/net/tcp6").exists():
        pytest.skip("no IPv6 on this host")
    try:
        with listening_on(host="::1") as sock:
            port = sock.getsockname()[1]
            assert ("::1", port) in {(s.address, s.port) for s in listening.listeners()}
    except OSError:
        pytest.skip("::1 cannot be bound on this host")


def test_without_the_kernels_tables_nothing_is_claimed(tmp_path: Path) -> None:
    with pytest.raises(listening.Unavailable):
        listening.listeners(tmp_path)
    assert listening.owners(set(), tmp_path) == {}
    # A process that ended while being read, a name that is no process: skipped, not guessed.
    (tmp_path / "4711").mkdir()
    (tmp_path / "self").mkdir()
    assert listening.owners({1}, tmp_path) == {}
    with listening_on() as sock:
        (found,) = [s for s in listening.listeners() if s.port == sock.getsockname()[1]]
        assert listening.owners({found.inode, 1}) == listening.owners({found.inode})


def test_h3_is_not_met_when_the_listening_ports_cannot_be_read(
    quiet_host: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listening, "PROC", tmp_path)  # a host without /proc/net/tcp
    found = _h3()
    assert not found.met
    assert found.summary.startswith("The host's listening ports cannot be read (no /proc/net")
    assert found.action == "Run Secretum on Linux, where the register reads them."


def test_h3_fails_while_a_service_listens_on_a_forbidden_port(quiet_host: Any) -> None:
    assert _h3().met  # nothing listens there yet
    with listening_on() as sock:
        port = sock.getsockname()[1]
        quiet_host.SECRETUM_FORBIDDEN_PORTS = [21, 23, port]
        found = _h3()
        assert not found.met
        assert found.summary.startswith("A service listens on this host where passwords would")
        assert f"127.0.0.1:{port}: a forbidden port" in found.details
    assert _h3().met  # closed: met again


def test_h3_names_ftp_and_telnet() -> None:
    assert PORT_NAMES == {21: "FTP", 23: "Telnet"}


def test_plain_http_fails_h3_and_shows_the_program_never_its_arguments(quiet_host: Any) -> None:
    with listening_on() as sock:
        port = sock.getsockname()[1]
        quiet_host.SECRETUM_PLAIN_HTTP_PORTS = [port]
        wrong, redirects = listening_problems()
        program = Path(Path("/proc/self/cmdline").read_bytes().split(b"\0")[0].decode()).name
        assert redirects == []
        assert wrong == [f"127.0.0.1:{port}: plain HTTP ({program})"]  # never its arguments
        assert not _h3().met


def test_secretums_own_redirect_may_listen_on_a_plain_http_port(quiet_host: Any) -> None:
    redirect = contextlib.contextmanager(_redirect_process)(None)
    with redirect as port:
        quiet_host.SECRETUM_PLAIN_HTTP_PORTS = [port]
        found = _h3()
        assert found.met, (found.summary, found.details)
        assert f"127.0.0.1:{port}: Secretum's redirect to HTTPS" in found.details
        # The same port listed as forbidden outright: not even Secretum's redirect.
        quiet_host.SECRETUM_FORBIDDEN_PORTS = [port]
        assert not _h3().met


def test_a_site_adds_ports_and_cannot_remove_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from django.conf import settings

    from secretum.settings import env_ports

    assert {21, 23} <= set(settings.SECRETUM_FORBIDDEN_PORTS)
    assert {80, 8000, 8080} <= set(settings.SECRETUM_PLAIN_HTTP_PORTS)
    monkeypatch.setenv("SECRETUM_FORBIDDEN_PORTS", "2121, 110,")
    assert env_ports("SECRETUM_FORBIDDEN_PORTS") == {110, 2121}
    monkeypatch.setenv("SECRETUM_FORBIDDEN_PORTS", "70000")
    with pytest.raises(ValueError, match="70000 is not a TCP port"):
        env_ports("SECRETUM_FORBIDDEN_PORTS")
    monkeypatch.delenv("SECRETUM_FORBIDDEN_PORTS")
    assert env_ports("SECRETUM_FORBIDDEN_PORTS") == set()
