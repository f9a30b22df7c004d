"""A command that keeps running: once now, then every so many seconds, until stopped.

`secretum serve` runs its periodic tasks as processes of their own, each a management command
with ``--every SECONDS``: the disabling of unused accounts once a day (C2), the closing of
maintenance windows every minute (K2). A failing run is told on standard error and the next one
still happens; the database connections are closed between runs (a long-running process holds
no idle connection). SIGTERM and SIGINT stop it between two runs: one arriving during a run lets
that run finish.

The signal handler only writes a byte to a pipe that the wait between runs selects on. It must
not set a ``threading.Event``: the handler runs in the main thread, which may be inside
``Event.wait`` holding the event's own (non-reentrant) lock, and ``set`` would wait on it forever.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def add_every(parser: Any, example: str) -> None:
    """The command's ``--every SECONDS`` option (0, the default: run once)."""
    parser.add_argument(
        "--every",
        type=int,
        default=0,
        metavar="SECONDS",
        help=f"keep running: once now, then every SECONDS ({example})",
    )


def run_every(
    every: int, once: Callable[[], None], name: str, stop: threading.Event | None = None
) -> None:
    """``once()`` now, then every ``every`` seconds until ``stop`` is set (by SIGTERM or SIGINT
    when none is given); ``every`` 0 or less: once only, its failure raised."""
    if every <= 0:
        once()
        return
    wait = stop.wait if stop is not None else until_signalled()
    while True:
        try:
            once()
        except Exception as exc:  # any failure: the next run must still happen
            print(f"secretum: {name} failed: {exc}", file=sys.stderr, flush=True)
        finally:
            connections.close_all()
        if wait(every):
            return


def until_signalled() -> Callable[[float], bool]:
    """A wait of so many seconds that SIGTERM or SIGINT ends at once, even one that came before
    it began: True when signalled."""
    readable, writable = os.pipe()
    os.set_blocking(writable, False)

    def handler(*_: Any) -> None:
        with contextlib.suppress(BlockingIOError):  # a full pipe already tells a signal
            os.write(writable, b"\0")

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)

    def wait(seconds: float) -> bool:
        ready, _, _ = select.select([readable], [], [], seconds)
        return bool(ready)

    return wait
