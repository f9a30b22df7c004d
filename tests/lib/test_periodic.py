"""The periodic tasks of `secretum serve` (C2: unused accounts, daily; K2: maintenance windows,
every minute): once now, then at their interval; a failing run is told and the next one happens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from secretum.lib.periodic import run_every, until_signalled

ROOT = Path(__file__).resolve().parents[2]


def test_once_only_and_its_failure_raised() -> None:
    runs: list[int] = []
    run_every(0, lambda: runs.append(1), "task")
    assert runs == [1]

    def broken() -> None:
        raise RuntimeError("Xylo-broken")

    with pytest.raises(RuntimeError, match="Xylo-broken"):
        run_every(0, broken, "task")


def test_runs_again_after_a_failure_until_stopped(capsys: Any) -> None:
    stop = threading.Event()
    runs: list[int] = []

    def once() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("Xylo-first-run")
        if len(runs) == 3:
            stop.set()

    run_every(1, once, "close-expired", stop)
    assert len(runs) == 3
    assert "secretum: close-expired failed: Xylo-first-run" in capsys.readouterr().err


def _signalled(code: str, first_line: str, *signals: signal.Signals) -> tuple[str, int]:
    """Run ``code`` in a real process; once it printed ``first_line``, send it ``signals``; what
    it printed after, and its exit code."""
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == first_line
        for sig in signals:
            process.send_signal(sig)
        out, _err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return out, process.returncode


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_between_two_runs(sig: signal.Signals) -> None:
    """Without an event of its own, SIGTERM (serve stopping) or SIGINT stops it: a real process."""
    code = (
        "from django.conf import settings; settings.configure()\n"
        "from secretum.lib.periodic import until_signalled, run_every\n"
        "run_every(3600, lambda: print('ran', flush=True), 'task')\n"
        "print('stopped', flush=True)\n"
    )
    out, returncode = _signalled(code, "ran\n", sig)
    assert out == "stopped\n" and returncode == 0


@pytest.fixture
def own_handlers() -> Any:
    """The test process's SIGTERM and SIGINT handlers, put back after the test."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.usefixtures("own_handlers")
def test_a_signal_ends_the_wait_whenever_it_comes() -> None:
    """Before the wait (during a run) or during it, from another thread: the wait ends at once,
    and a signal is never lost nor waited upon by its own handler (the deadlock of an Event)."""
    wait = until_signalled()
    assert wait(0.01) is False
    os.kill(os.getpid(), signal.SIGTERM)  # during a run: the next wait ends at once
    assert wait(60) is True
    assert wait(60) is True  # and stays ended

    wait = until_signalled()
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    assert wait(60) is True
    assert time.monotonic() - started < 10


def test_a_signal_during_a_run_lets_it_finish() -> None:
    code = (
        "import time\n"
        "from django.conf import settings; settings.configure()\n"
        "from secretum.lib.periodic import until_signalled, run_every\n"
        "def once():\n"
        "    print('start', flush=True); time.sleep(1); print('end', flush=True)\n"
        "run_every(3600, once, 'task')\n"
        "print('stopped', flush=True)\n"
    )
    out, returncode = _signalled(code, "start\n", signal.SIGTERM, signal.SIGINT)
    assert out == "end\nstopped\n" and returncode == 0
