"""A child process kept alive: restarted when it dies, the death told to a callback.

`secretum serve` supervises the audit checkpoint signer with it (D2): a signer that died (a full
disk, a crash, a kill) is restarted, after a delay that doubles up to a minute while it keeps
dying, and each death is recorded as an alert by serve's callback.

The other way round, every process serve starts (the worker pool, the plain-HTTP redirect, the
periodic tasks, the signer) ends when serve does, however serve ends. They run in process groups
of their own (a terminal's Ctrl-C reaches serve alone, which stops them in order), so a serve
killed alone (SIGKILL, the out-of-memory killer, a supervisor without control groups) used to
leave them running: the pool still answering on the instance's socket, so that the next serve
refused to start ("another 'secretum serve' is running"), and a second set of periodic tasks
beside the first. Each is now started with ``child_env()`` and calls ``end_with_parent()`` first:
Linux sends it SIGTERM (each one's orderly stop) when serve goes (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, MutableMapping

POLL_SECONDS = 1.0
MAX_DELAY = 60.0

# The process a child of serve must end with (its process id), in the child's environment only.
PARENT_VARIABLE = "SECRETUM_PARENT_PID"
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def child_env() -> dict[str, str]:
    """The environment of a process that must end with this one (``end_with_parent``)."""
    return {**os.environ, PARENT_VARIABLE: str(os.getpid())}


def end_with_parent(environ: MutableMapping[str, str] = os.environ) -> None:
    """In a process started with ``child_env()``: SIGTERM when its parent ends, and at once if
    it has ended already (between the fork and this call). The variable is taken out of the
    environment, so that the process's own children are not bound to it. Elsewhere than on
    Linux, nothing: a supervisor's control group (systemd) stops the whole service there."""
    parent = environ.pop(PARENT_VARIABLE, "")
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes  # here alone: every command of the command line starts through this

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) refused")
    if os.getppid() != int(parent):
        os.kill(os.getpid(), signal.SIGTERM)


class Supervised:
    def __init__(
        self,
        start: Callable[[], subprocess.Popen[bytes]],
        on_death: Callable[[int], None],
        *,
        poll: float = POLL_SECONDS,
    ) -> None:
        self._start = start
        self._on_death = on_death
        self._poll = poll
        self._stopping = threading.Event()
        self.process = start()
        self.restarts = 0
        self._thread = threading.Thread(target=self._watch, name="supervise", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        delay = self._poll
        while not self._stopping.wait(self._poll):
            code = self.process.poll()
            if code is None:
                delay = self._poll
                continue
            self._on_death(code)
            if self._stopping.wait(delay):
                return
            delay = min(MAX_DELAY, delay * 2)
            self.process = self._start()
            self.restarts += 1

    def stop(self, end: Callable[[subprocess.Popen[bytes]], None], timeout: float) -> None:
        """Stop watching, then end the process with ``end`` and wait for it (killed after
        ``timeout`` seconds)."""
        self._stopping.set()
        self._thread.join()
        end(self.process)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
