"""The checkpoint signer's heartbeat (D2): is the process that signs checkpoints alive?

The signer (``secretum audit checkpoint --every N``, started and supervised by ``secretum
serve``) rewrites ``run/audit-signer.alive`` in the instance folder every ``BEAT_EVERY`` seconds
while it runs, and removes it when it stops cleanly. ``/healthz`` reads it: a file older than
three beats means the signer died (``serve`` restarts it and records an alert); no file at all
means no signer was started for this instance (a server run without ``serve``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings

BEAT_EVERY = 5  # seconds
RUNNING, STOPPED, NONE = "running", "stopped", "none"


def heartbeat_path() -> Path:
    return Path(settings.INSTANCE.home) / "run" / "audit-signer.alive"


def beat() -> None:
    path = heartbeat_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.write_text(f"{os.getpid()}\n")


def stop_beating() -> None:
    heartbeat_path().unlink(missing_ok=True)


def state() -> str:
    """``running``, ``stopped`` (its heartbeat is late) or ``none`` (no signer was started)."""
    try:
        age = time.time() - heartbeat_path().stat().st_mtime
    except FileNotFoundError:
        return NONE
    return RUNNING if age <= 3 * BEAT_EVERY else STOPPED
