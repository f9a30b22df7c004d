"""What `/healthz` answers a monitoring tool (G4): each thing that matters, one word each.

- ``database``: ``writable``, ``read-only`` (a PostgreSQL standby or a read-only transaction
  default; an SQLite file or folder the server may not write) or ``unreachable``;
- ``key_file``: ``readable`` or ``unreadable`` (without it nothing sealed opens);
- ``audit_signer``: ``running``, ``stopped`` (its heartbeat is late) or ``none`` (no signer was
  started: a server run without `serve`) (D2);
- ``disk``: ``ok``, or ``low`` when the instance folder's file system has less than
  ``SECRETUM_HEALTH_MIN_FREE_MB`` free (a full disk stops the audit log, hence every access);
- ``backup``: ``fresh`` (a good backup younger than ``SECRETUM_BACKUP_MAX_AGE_HOURS``, its file
  there), ``stale``, or ``new-instance`` (none yet, and the instance is younger than that).

Healthy unless one of them is in a bad state. Words only: no path, no size, nothing personal.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

BAD = {
    "database": {"read-only", "unreachable"},
    "key_file": {"unreadable"},
    "audit_signer": {"stopped"},
    "disk": {"low"},
    "backup": {"stale"},
}


def database() -> str:
    try:
        with connection.cursor() as cur:
            if connection.vendor == "postgresql":
                cur.execute(
                    "SELECT NOT pg_is_in_recovery() "
                    "AND current_setting('transaction_read_only') = 'off'"
                )
                return "writable" if cur.fetchone()[0] else "read-only"
            cur.execute("SELECT 1")
    except DatabaseError:
        return "unreachable"
    path = str(connection.settings_dict["NAME"])
    if not os.path.isfile(path):
        return "writable"  # an in-memory database (the tests'): it answered
    folder = os.path.dirname(path) or "."
    writable = os.access(path, os.W_OK) and os.access(folder, os.W_OK)
    return "writable" if writable else "read-only"


def key_file() -> str:
    if settings.INSTANCE.provider == "environment":
        return "readable"  # SECRETUM_KEY, read and checked when the process started
    path = settings.INSTANCE.key_file
    return "readable" if os.access(path, os.R_OK) and path.is_file() else "unreadable"


def disk() -> str:
    free = shutil.disk_usage(settings.INSTANCE.home).free
    return "low" if free < settings.SECRETUM_HEALTH_MIN_FREE_MB * 1024 * 1024 else "ok"


def backup(now: dt.datetime | None = None) -> str:
    from secretum.backup.schedule import backup_is_fresh
    from secretum.core.updates import installed_at

    now = now or timezone.now()
    if backup_is_fresh(now):
        return "fresh"
    made = installed_at()
    young = made is not None and now - made < dt.timedelta(
        hours=settings.SECRETUM_BACKUP_MAX_AGE_HOURS
    )
    return "new-instance" if young else "stale"


def report() -> dict[str, str]:
    """Each check's word, then ``status``: ``ok`` or ``unhealthy``."""
    from secretum.audit import signer

    found = {
        "database": database(),
        "key_file": key_file(),
        "audit_signer": signer.state(),
        "disk": disk(),
        "backup": backup(),
    }
    healthy = not any(found[name] in bad for name, bad in BAD.items())
    return {"status": "ok" if healthy else "unhealthy", **found}
