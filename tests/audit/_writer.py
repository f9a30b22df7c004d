"""A server process of its own, appending audit events (run by test_concurrency)."""

from __future__ import annotations

import os
import sys
import time

import django


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "secretum.settings")
    django.setup()
    from django.db import connection

    from secretum.access.actor import Actor
    from secretum.audit.log import record_event

    count, start_at, name = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    actor = Actor(user=None, role=None, source=name, request_id=name)
    connection.ensure_connection()
    time.sleep(max(0.0, start_at - time.time()))  # every writer starts at the same moment
    for n in range(count):
        record_event(actor, "read", "session", detail={"writer": name, "n": n})
    print(f"{name} wrote {count}")


if __name__ == "__main__":
    main()
