"""Every process `secretum serve` starts ends with it, however serve ends (issue 17): a serve
killed alone used to leave its worker pool answering on the instance's socket (the next serve
then refused to start) and its periodic tasks running beside the next ones'. Each test kills
the parent the way a crash or an operator would, and looks for what is left."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from secretum.lib import supervise, workers
from tests.serving import ROOT, serving

CHILD = (
    "from secretum.lib.supervise import end_with_parent; end_with_parent(); "
    "import os, time; print(os.getpid(), os.environ.get('SECRETUM_PARENT_PID', '-'), "
    "flush=True); time.sleep(120)"
)
# A parent that starts CHILD with child_env(), says its pid, then waits to be killed.
PARENT = (
    "import subprocess, sys; from secretum.lib.supervise import child_env; "
    f"p = subprocess.Popen([sys.executable, '-c', {CHILD!r}], env=child_env(), "
    "stdout=subprocess.PIPE, text=True, process_group=0); "
    "print(p.stdout.readline().strip(), flush=True); p.wait()"
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != supervise.PARENT_VARIABLE}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _alive(pid: int) -> bool:
    """Running, not a zombie left for a reaper (a container's first process may never reap)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _gone(pids: set[int], seconds: float = 30.0) -> set[int]:
    """The processes of ``pids`` still running after ``seconds`` (or none, as soon as none is)."""
    deadline = time.monotonic() + seconds
    while (left := {pid for pid in pids if _alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found |= {int(child)} | _descendants(int(child))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_ends_when_its_parent_is_killed_and_is_not_bound_itself() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], env=_env(), cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child, inherited = parent.stdout.readline().split()
    assert inherited == "-"  # the variable is the child's alone, never its own children's
    assert _alive(int(child))
    parent.kill()  # SIGKILL: no handler of the parent's runs
    parent.wait()
    assert _gone({int(child)}, seconds=10) == set()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_whose_parent_ended_before_it_asked_ends_at_once() -> None:
    """The parent may die between the fork and the child's call: the child is then someone
    else's, and ends as soon as it sees it."""
    env = {**_env(), supervise.PARENT_VARIABLE: "1"}  # not this child's parent
    ended = subprocess.run(
        [sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, timeout=60
    )
    assert ended.returncode == -signal.SIGTERM and ended.stdout == b""


def test_a_process_started_by_no_one_is_bound_to_nothing() -> None:
    environ: dict[str, str] = {}
    supervise.end_with_parent(environ)
    assert environ == {}
    assert supervise.child_env()[supervise.PARENT_VARIABLE] == str(os.getpid())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_kernel_that_refuses_the_binding_stops_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that could not be bound to serve does not run on unbound (a seccomp filter, a
    kernel without prctl): it stops, saying why on its standard error."""
    import ctypes

    class Refusing:
        def prctl(self, *_: int) -> int:
            return -1

    monkeypatch.setattr(ctypes, "CDLL", lambda *_, **__: Refusing())
    with pytest.raises(OSError, match="PR_SET_PDEATHSIG"):
        supervise.end_with_parent({supervise.PARENT_VARIABLE: str(os.getppid())})


def test_serve_killed_alone_leaves_nothing_running_nor_its_socket_taken(tmp_path: Path) -> None:
    """serve, SIGKILLed alone (not its process groups): its pool, its redirect, its periodic
    tasks and its signer all end, and the instance's socket answers no more, so that the next
    serve may start (it refuses while the socket answers: "another 'secretum serve'…")."""
    with serving(tmp_path, "--workers", "1", redirect=True) as served:
        children = _descendants(served.process.pid)
        assert len(children) >= 5  # pool (arbiter and a worker), redirect, signer, tasks
        served.process.kill()
        served.process.wait()
        left = _gone(children)
        for pid in left:  # a failure leaves none of them behind to hold the next test's ports
            os.kill(pid, signal.SIGKILL)
        assert left == set()
    with socket.socket(socket.AF_UNIX) as probe, pytest.raises(OSError) as refused:
        probe.connect(str(served.home / workers.SOCKET_NAME))
    assert isinstance(refused.value, (FileNotFoundError, ConnectionRefusedError))  # gone, closed
