"""The mark of a continuity copy (I5): ``continuity.json`` in the copy's instance folder.

``secretum serve --read-only --from-backup FILE`` (``secretum.backup.continuity``) writes it
once the backup is restored: which backup (its file name, the SHA-256 of its header, its
date), which instance, the copy's own id, and the head of the audit log at the restore. The
banner of every page of the copy reads its date; ``secretum audit merge-continuity`` reads the
rest. Plain JSON, no model: the copy's database is the backup's, as it was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MARKER = "continuity.json"
KIND = "secretum-continuity-copy"


def read_marker(home: Path) -> dict[str, Any] | None:
    """The mark of the continuity copy in ``home``, or None when ``home`` is not one."""
    try:
        found = json.loads((home / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and found.get("kind") == KIND else None
