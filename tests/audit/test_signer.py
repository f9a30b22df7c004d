"""The checkpoint signer under `serve` (D2): it outlives a SIGTERM sent to every process, stops
when serve closes its standard input (after the workers), beats so that /healthz can tell it is
alive, and is restarted when it dies."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from secretum.access.actor import Actor
from secretum.audit import signer
from secretum.audit.log import record_event
from secretum.audit.models import AuditCheckpoint
from secretum.lib.supervise import Supervised
from tests.conftest import SecureClient


@pytest.fixture
def heartbeat(settings: Any, tmp_path: Path) -> Path:
    """The heartbeat of this test's own instance folder (the audit keys copied into it)."""
    import shutil

    from secretum.audit import entries

    shutil.copytree(entries.key_paths().folder, tmp_path / "home" / "audit")
    real = settings.INSTANCE

    class Moved:  # the test's instance, its home elsewhere: the rest is the real one's
        home = tmp_path / "home"

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

    settings.INSTANCE = Moved()
    return signer.heartbeat_path()


def test_healthz_reports_the_signer(db: Any, heartbeat: Path) -> None:
    client = SecureClient()
    answer = client.get("/healthz", REMOTE_ADDR="127.0.0.1")
    assert (answer.status_code, answer.json()["status"]) == (200, "ok")
    assert answer.json()["audit_signer"] == "none"
    signer.beat()
    assert heartbeat.read_text() == f"{os.getpid()}\n"
    answer = client.get("/healthz", REMOTE_ADDR="127.0.0.1")
    assert (answer.json()["status"], answer.json()["audit_signer"]) == ("ok", "running")
    late = time.time() - 3 * signer.BEAT_EVERY - 1
    os.utime(heartbeat, (late, late))  # the signer died a while ago
    answer = client.get("/healthz", REMOTE_ADDR="127.0.0.1")
    assert (answer.status_code, answer.json()["status"], answer.json()["audit_signer"]) == (
        503,
        "unhealthy",
        "stopped",
    )
    signer.stop_beating()
    assert signer.state() == signer.NONE


@pytest.mark.django_db(transaction=True)
def test_under_serve_the_signer_ignores_sigterm_and_stops_when_its_input_closes(
    heartbeat: Path, monkeypatch: Any
) -> None:
    """systemd sends SIGTERM to every process of the service at once: the signer goes on, beats,
    signs when due, and signs its last checkpoint when serve closes the pipe, after the workers'
    last events."""
    monkeypatch.setattr(signer, "BEAT_EVERY", 0.1)
    readable, writable = os.pipe()
    monkeypatch.setattr(sys, "stdin", os.fdopen(readable))
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    beats: list[str] = []

    def serve() -> None:
        time.sleep(0.3)
        os.kill(os.getpid(), signal.SIGTERM)  # ignored
        beats.append(signer.state())
        record_event(Actor.system(), "read", "session")  # a worker's last event
        os.write(writable, b"x")  # anything but the end goes unnoticed
        time.sleep(1.3)  # past the interval: a periodic checkpoint
        time.sleep(1.1)  # and another interval, with nothing new to sign
        record_event(Actor.system(), "read", "session")
        connection.close()  # this thread's own
        os.close(writable)

    worker = threading.Thread(target=serve)
    out = io.StringIO()
    worker.start()
    try:
        call_command("audit_checkpoint", "--every", "1", "--until-closed", stdout=out)
    finally:
        worker.join()
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert beats == [signer.RUNNING]
    assert not heartbeat.exists()  # stopped cleanly
    assert list(AuditCheckpoint.objects.values_list("tree_size", flat=True)) == [0, 1, 2]
    assert out.getvalue().count("audit checkpoint: ") == 3


def test_a_dead_child_is_told_and_restarted(tmp_path: Path) -> None:
    deaths: list[int] = []
    marker = tmp_path / "starts"

    def start() -> subprocess.Popen[bytes]:
        with marker.open("a") as f:
            f.write("x")
        code = (
            "import sys; sys.exit(3)"
            if len(marker.read_text()) == 1
            else "import sys; sys.stdin.read()"
        )
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)

    supervised = Supervised(start, deaths.append, poll=0.05)
    deadline = time.monotonic() + 10
    while supervised.restarts < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # the new one stays up
    assert deaths == [3] and supervised.restarts == 1
    supervised.stop(lambda p: p.stdin.close() if p.stdin else None, timeout=10)
    assert supervised.process.returncode == 0


def test_a_child_that_will_not_stop_is_killed_and_one_that_keeps_dying_waits(
    tmp_path: Path,
) -> None:
    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    supervised = Supervised(start, lambda code: None, poll=0.05)
    supervised.stop(lambda p: None, timeout=0.2)
    assert supervised.process.returncode == -signal.SIGKILL

    dying = Supervised(
        lambda: subprocess.Popen([sys.executable, "-c", "pass"]), lambda code: None, poll=0.05
    )
    deadline = time.monotonic() + 10
    while dying.restarts < 2 and time.monotonic() < deadline:  # dies, waits 0.05 s, dies, ...
        time.sleep(0.05)
    dying.stop(lambda p: None, timeout=5)
    assert dying.restarts >= 2
