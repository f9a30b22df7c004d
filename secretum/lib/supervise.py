"""A child process kept alive: restarted when it dies, the death told to a callback.

`secretum serve` supervises the audit checkpoint signer with it (D2): a signer that died (a full
disk, a crash, a kill) is restarted, after a delay that doubles up to a minute while it keeps
dying, and each death is recorded as an alert by serve's callback.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable

POLL_SECONDS = 1.0
MAX_DELAY = 60.0


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
