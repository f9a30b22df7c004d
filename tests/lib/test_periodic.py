"""The periodic tasks of `secretum serve` (C2: unused accounts, daily; K2: maintenance windows,
every minute): once now, then at their interval; a failing run is told and the next one happens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from secretum.lib.periodic import run_every

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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_between_two_runs(sig: signal.Signals) -> None:
    """Without an event of its own, SIGTERM (serve stopping) or SIGINT stops it: a real process."""
    code = (
        "from django.conf import settings; settings.configure()\n"
        "from secretum.lib.periodic import run_every\n"
        "run_every(3600, lambda: print('ran', flush=True), 'task')\n"
        "print('stopped', flush=True)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "ran\n"
        process.send_signal(sig)
        out, _err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert out == "stopped\n" and process.returncode == 0
