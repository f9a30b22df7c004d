"""A progress line on standard error for the backup commands (I1, I3, I4). Imports nothing of
Django: ``secretum restore`` runs before Django is set up (``cli``)."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """A progress line on standard error, only when it is a terminal."""

    def __init__(self, label: str, total: int = 0, stream: Any = None, unit: str = "MB") -> None:
        self.stream = stream or sys.stderr
        self.on = self.stream.isatty()
        self.label, self.total, self.done = label, total, 0
        self.unit = unit  # "MB": ``done`` counts bytes; any other word: things, counted as such

    def __call__(self, n: int) -> None:
        self.done += n
        if not self.on:
            return
        done = f"{self.done / 1e6:8.1f} MB" if self.unit == "MB" else f"{self.done:,} {self.unit}"
        if self.total:
            share = min(1.0, self.done / self.total)
            bar = "#" * int(share * 30)
            self.stream.write(f"\r{self.label} [{bar:<30}] {share:4.0%} {done}")
        else:
            self.stream.write(f"\r{self.label} {done}")
        self.stream.flush()

    def end(self) -> None:
        if self.on:
            self.stream.write("\n")
            self.stream.flush()
