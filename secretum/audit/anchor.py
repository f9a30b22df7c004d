"""Re-anchoring the audit log after a restore of an older database (D2).

Restoring a backup takes the log back to fewer events than the witness saw: every checkpoint is
then refused ("the log was truncated or rolled back"), rightly, since that is exactly what an
attacker's truncation looks like. A manager who restored a backup on purpose says so, after
proving who they are again (`secretum audit reanchor`): an audited event names the backup, then
a signed re-anchoring ("restored from backup X", its own note header, so that no checkpoint can
pass for one) goes into the witness before a new checkpoint. What the witness held before it is
superseded; `secretum audit verify` names every re-anchoring in its report.
"""

from __future__ import annotations

from secretum.access.actor import Actor
from secretum.audit import entries
from secretum.audit.checkpoints import Checkpoint, create_checkpoint
from secretum.audit.log import record_event
from secretum.audit.models import Action

LABEL_MAX = 100


def reanchor(actor: Actor, backup: str) -> Checkpoint:
    """Record the restore, then sign the re-anchoring and a checkpoint of the log as it is.
    ValueError for an empty or overlong label; CheckpointError when the log does not hold
    (an event altered, a database checkpoint that no longer matches)."""
    label = entries.clean(backup.strip())
    if not label or len(label) > LABEL_MAX:
        raise ValueError(
            f"name the backup the database was restored from (1 to {LABEL_MAX} characters)"
        )
    record_event(actor, Action.MAINTENANCE, "audit.Log", detail={"restored_from": label})
    checkpoint, _ = create_checkpoint(force=True, restored_from=label)
    return checkpoint
