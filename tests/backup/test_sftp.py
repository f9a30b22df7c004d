"""The second target over SFTP (I1, I4), against a real OpenSSH server that the test starts on
loopback: key authentication, the host key checked (an unknown one refused), the copy complete
under its final name, and a failure recorded and alerted."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from secretum.backup import schedule, sftp
from secretum.backup.archive import BackupError
from secretum.backup.models import BackupRecord
from tests.backup.test_service import record_backup

SSHD = shutil.which("sshd")
SFTP = shutil.which("sftp")


@dataclass(frozen=True)
class Server:
    port: int
    key: Path  # the client's private key
    known_hosts: Path
    root: Path  # where the uploads land

    def url(self, folder: str = "copies") -> str:
        user = os.environ.get("USER") or __import__("getpass").getuser()
        return f"sftp://{user}@127.0.0.1:{self.port}{self.root / folder}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True
    )  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if SSHD is None or SFTP is None:
        pytest.fail("OpenSSH's sshd and sftp are needed: `make system-deps` installs them")
    base = tmp_path_factory.mktemp("sshd")
    _keygen(base / "host")
    _keygen(base / "client")
    (base / "authorized_keys").write_bytes((base / "client.pub").read_bytes())
    port = _free_port()
    (base / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {base / 'host'}\n"
        f"PidFile {base / 'sshd.pid'}\nAuthorizedKeysFile {base / 'authorized_keys'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # its privilege separation folder
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(base / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    host_key = (base / "host.pub").read_text().split()
    (base / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, "sshd did not start"
            time.sleep(0.1)
    (base / "root").mkdir()
    yield Server(port, base / "client", base / "known_hosts", base / "root")
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def sftp_settings(settings: Any, server: Server) -> Any:
    settings.SECRETUM_BACKUP_SFTP_KEY = str(server.key)
    settings.SECRETUM_BACKUP_SFTP_KNOWN_HOSTS = str(server.known_hosts)
    return settings


@pytest.mark.django_db(transaction=True)
def test_a_scheduled_backup_is_copied_over_sftp(
    server: Server, sftp_settings: Any, tmp_path: Path
) -> None:
    sftp_settings.SECRETUM_BACKUP_COPY_TO = server.url("copies")
    lines = schedule.run_scheduled(tmp_path / "backups")
    made = Path(lines[0])
    copied = server.root / "copies" / made.name
    assert copied.read_bytes() == made.read_bytes()
    assert not list((server.root / "copies").glob(".*"))  # no partial left
    assert lines[-1] == f"copied to {server.url('copies')}/{made.name}"
    assert BackupRecord.objects.get(kind="copy").ok


@pytest.mark.django_db
def test_an_unknown_host_key_is_refused(server: Server, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts"
    _keygen(tmp_path / "impostor")
    kind, key = (tmp_path / "impostor.pub").read_text().split()[:2]
    other.write_text(f"[127.0.0.1]:{server.port} {kind} {key}\n")
    made = Path(record_backup(tmp_path).path)
    target = sftp.parse(server.url("refused"))
    assert target is not None
    with pytest.raises(BackupError, match=r"failed: .*Host key verification failed"):
        sftp.upload(made, target, server.key, other)
    assert not (server.root / "refused").exists()


@pytest.mark.django_db
def test_a_key_the_server_does_not_know_is_refused(server: Server, tmp_path: Path) -> None:
    _keygen(tmp_path / "stranger")
    made = Path(record_backup(tmp_path).path)
    target = sftp.parse(server.url("refused"))
    assert target is not None
    with pytest.raises(BackupError, match=r"failed: .*Permission denied"):
        sftp.upload(made, target, tmp_path / "stranger", server.known_hosts)


@pytest.mark.django_db(transaction=True)
def test_a_failed_sftp_copy_is_recorded_and_fails_i1(
    server: Server, sftp_settings: Any, tmp_path: Path
) -> None:
    from secretum.compliance import evidence

    sftp_settings.SECRETUM_BACKUP_COPY_TO = server.url("copies")
    sftp_settings.SECRETUM_BACKUP_SFTP_KEY = str(tmp_path / "missing")
    with pytest.raises(BackupError, match="SECRETUM_BACKUP_SFTP_KEY must name a file"):
        schedule.run_scheduled(tmp_path / "backups")
    assert not BackupRecord.objects.get(kind="copy").ok
    assert evidence.gather(["I1"])["I1"].verdict == "not-met"


@pytest.mark.parametrize(
    "url",
    ["sftp://host/folder", "sftp://user@/folder", "sftp://u@h:notaport/x", 'sftp://u@h/a"b'],
)
def test_a_bad_sftp_url_is_refused(url: str) -> None:
    with pytest.raises(BackupError, match="is not an SFTP target"):
        sftp.parse(url)


def test_sftp_urls_are_read() -> None:
    assert sftp.parse("/mnt/other-disk") is None
    assert str(sftp.parse("sftp://backup@nas.example.test/srv/b/")) == (
        "sftp://backup@nas.example.test:22/srv/b"
    )
