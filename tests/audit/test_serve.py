"""`secretum serve` signs audit checkpoints while it runs and once more at shutdown (D2), and
runs the disabling of unused accounts at start (then once a day, C2) and the closing of
maintenance windows at start (then every minute, K2)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.instances import fresh

ROOT = Path(__file__).resolve().parents[2]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secretum.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _write_events(env: dict[str, str], n: int) -> subprocess.CompletedProcess[str]:
    """Events from another process, as a web worker writes them: no checkpoint at its end (the
    `secretum` command would sign one)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "tests" / "audit" / "_writer.py"), str(n), "0", "worker"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _witnessed(path: Path) -> list[int]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line)["tree_size"] for line in lines if not line.startswith("head ")]


def test_serve_checkpoints_periodically_and_at_shutdown(tmp_path: Path) -> None:
    witness = tmp_path / "elsewhere" / "witness.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env.update(
        SECRETUM_HOME=str(tmp_path / "var"),
        SECRETUM_AUDIT_WITNESS=str(witness),
        SECRETUM_AUDIT_CHECKPOINT_INTERVAL="1",
        PYTHONPATH=str(ROOT),
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    fresh(tmp_path / "var", witness)  # as `secretum init` leaves it (tests/instances.py)
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "secretum.cli",
            "serve",
            "--port",
            str(port),
            "--http-port",
            "0",
            "--workers",
            "1",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not _witnessed(witness) and time.monotonic() < deadline:
            time.sleep(0.2)
        at_start = _witnessed(witness)
        assert at_start, "no checkpoint at start"
        # Events written while serving (another process, as a worker would).
        assert _write_events(env, 3).returncode == 0
        deadline = time.monotonic() + 30
        while _witnessed(witness)[-1:] == at_start[-1:] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _witnessed(witness)[-1] > at_start[-1], "no periodic checkpoint"
        # An event just before shutdown is covered by the checkpoint signed at shutdown.
        assert _write_events(env, 2).returncode == 0
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.stdout is not None
    output = server.stdout.read().decode()
    # C2: the daily run's first pass, at start (a new instance: nobody to disable).
    assert "disable-inactive: 0 disabled, 0 spared (limit 90 days)" in output
    # K2: the closing of maintenance windows, at start then every minute.
    assert "close-expired: 0 closed" in output
    verify = _run(env, "audit", "verify")
    assert verify.returncode == 0, verify.stderr
    size = int(verify.stdout.split("audit log intact: ")[1].split()[0])
    assert _witnessed(witness)[-1] == size, (verify.stdout, _witnessed(witness))
    assert f"the first {size} match the checkpoint" in verify.stdout


@pytest.mark.parametrize("interval", ["0", "301"])
def test_serve_refuses_a_checkpoint_interval_beyond_five_minutes(
    tmp_path: Path, interval: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env.update(SECRETUM_HOME=str(tmp_path / "var"), PYTHONPATH=str(ROOT))
    fresh(tmp_path / "var")
    env["SECRETUM_AUDIT_CHECKPOINT_INTERVAL"] = interval
    result = _run(env, "serve", "--port", "0", "--http-port", "0")
    assert result.returncode != 0 and "at least every 5 minutes" in result.stderr


def test_serve_restarts_a_dead_signer_and_outlives_a_sigterm_to_every_process(
    tmp_path: Path,
) -> None:
    """D2: a signer killed is restarted (and told); a SIGTERM sent to every process at once, as
    systemd does, leaves the signer to sign after the workers: no window is left."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    home = tmp_path / "var"
    env.update(SECRETUM_HOME=str(home), PYTHONPATH=str(ROOT))
    env.pop("DJANGO_SETTINGS_MODULE", None)
    fresh(home)
    heartbeat = home / "run" / "audit-signer.alive"
    command = ["serve", "--port", str(_free_port()), "--http-port", "0", "--workers", "1"]
    server = subprocess.Popen(
        [sys.executable, "-m", "secretum.cli", *command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def signer_pid(other_than: int = 0) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if heartbeat.exists() and (text := heartbeat.read_text().strip()):
                if int(text) != other_than:
                    return int(text)
            time.sleep(0.2)
        raise AssertionError("no signer beats")

    try:
        first = signer_pid()
        os.kill(first, signal.SIGTERM)  # ignored: only serve stops it
        time.sleep(1)
        os.kill(first, 0)  # still there
        os.kill(first, signal.SIGKILL)
        second = signer_pid(other_than=first)
        assert _write_events(env, 3).returncode == 0  # a worker's events
        for pid in (server.pid, second):  # every process at once
            os.kill(pid, signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.stdout is not None
    output = server.stdout.read().decode()
    assert "the audit checkpoint signer stopped (exit code -9); restarting it" in output
    assert not heartbeat.exists()
    verify = _run(env, "audit", "verify")
    assert verify.returncode == 0, verify.stderr
    assert "window: 0 event(s) newer than the latest signed checkpoint" in verify.stdout
