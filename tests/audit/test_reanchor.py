"""After a restore of an older database, a manager re-anchors the audit log (D2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyotp
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from secretum.access.actor import Actor
from secretum.access.policy import Role
from secretum.audit import checkpoints
from secretum.audit.checkpoints import CheckpointError, create_checkpoint
from secretum.audit.log import record_event
from secretum.audit.models import AuditCheckpoint, AuditEvent
from secretum.audit.verify import verify_log
from tests.audit.conftest import as_owner
from tests.conftest import TEST_TOTP_SECRET, make_user

PASSWORD = "fictitious-manager-password-2026"


def _restore_an_older_backup() -> None:
    """8 events and 2 checkpoints, then the database of when there were 5 is put back."""
    for _ in range(5):
        record_event(Actor.system(), "read", "session")
    create_checkpoint()
    for _ in range(3):
        record_event(Actor.system(), "read", "session")
    create_checkpoint()
    as_owner("DELETE FROM audit_auditcheckpoint WHERE tree_size > 5")
    as_owner("DELETE FROM audit_auditevent WHERE seq > 5")


def _answers(monkeypatch: Any, *answers: str) -> None:
    given = iter(answers)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(given))


def test_a_manager_re_anchors_the_log_after_a_restore(
    db: Any, witness: Path, monkeypatch: Any, capsys: Any
) -> None:
    manager = make_user(Role.MANAGER, password=PASSWORD)
    _restore_an_older_backup()
    with pytest.raises(CheckpointError, match="truncated or rolled back"):
        create_checkpoint()  # refused forever, until someone says what happened
    _answers(monkeypatch, PASSWORD, pyotp.TOTP(TEST_TOTP_SECRET).now())
    call_command("audit_reanchor", backup="nightly 2026-11-29", user=manager.username)
    assert "audit log re-anchored: restored from backup 'nightly 2026-11-29'" in (
        capsys.readouterr().out
    )
    restored = AuditEvent.objects.get(seq=6)
    assert (restored.action, restored.actor_id) == ("maintenance", manager.pk)
    assert json.loads(restored.detail) == {"restored_from": "nightly 2026-11-29"}
    lines = [json.loads(line) for line in witness.read_text().splitlines() if line[0] == "{"]
    assert lines[-2]["restored_from"] == "nightly 2026-11-29" and lines[-2]["tree_size"] == 6
    assert "restored_from" not in lines[-1] and lines[-1]["tree_size"] == 6
    # Checkpoints resume; verify passes and names the restore.
    record_event(Actor.system(), "read", "session")
    assert create_checkpoint()[0].tree_size == 7
    result = verify_log()
    assert result.ok, result.problem
    assert any(
        "restored from backup 'nightly 2026-11-29' and re-anchored" in n for n in result.notes
    )
    assert list(AuditCheckpoint.objects.values_list("tree_size", flat=True)) == [5, 6, 7]


def test_a_re_anchoring_cannot_pass_for_a_checkpoint_nor_the_reverse(db: Any) -> None:
    record_event(Actor.system(), "read", "session")
    checkpoint, _ = create_checkpoint()
    public = checkpoints.public_key()
    forged = checkpoints.Checkpoint(**{**checkpoint.__dict__, "backup": "x"})
    assert checkpoint.valid_under(public) and not forged.valid_under(public)


@pytest.mark.parametrize("who", ["wrong-password", "wrong-code", "not-a-manager", "no-such-user"])
def test_only_a_re_authenticated_manager_may_re_anchor(db: Any, monkeypatch: Any, who: str) -> None:
    manager = make_user(Role.MANAGER, password=PASSWORD)
    auditor = make_user(Role.AUDITOR, password=PASSWORD)
    code = pyotp.TOTP(TEST_TOTP_SECRET).now()
    user, password, given = {
        "wrong-password": (manager.username, "not-it-at-all-2026", code),
        "wrong-code": (manager.username, PASSWORD, "000000" if code != "000000" else "111111"),
        "not-a-manager": (auditor.username, PASSWORD, code),
        "no-such-user": ("nobody", PASSWORD, code),
    }[who]
    _answers(monkeypatch, password, given)
    _restore_an_older_backup()
    with pytest.raises(CommandError, match="refused: the user name, password or code is wrong"):
        call_command("audit_reanchor", backup="nightly", user=user)
    assert not AuditEvent.objects.filter(action="maintenance").exists()


def test_a_re_anchoring_needs_a_label_and_an_intact_log(db: Any, monkeypatch: Any) -> None:
    from secretum.audit.anchor import reanchor

    manager = make_user(Role.MANAGER, password=PASSWORD)
    with pytest.raises(CommandError, match="--backup: name the backup"):
        call_command("audit_reanchor", backup="  ", user=manager.username)  # asks nothing
    with pytest.raises(ValueError, match="name the backup"):
        reanchor(Actor.system(), "x" * 101)
    record_event(Actor.system(), "read", "session")
    as_owner("UPDATE audit_auditevent SET source = 'elsewhere' WHERE seq = 1")
    _answers(monkeypatch, PASSWORD, pyotp.TOTP(TEST_TOTP_SECRET).now())
    with pytest.raises(CommandError, match="re-anchoring refused: event 1 was changed"):
        call_command("audit_reanchor", backup="nightly", user=manager.username)


def test_a_re_anchoring_reads_the_whole_log_when_no_frontier_holds(db: Any, witness: Path) -> None:
    """The database's checkpoint frontier damaged too: the log is read from its first event and
    compared with the database's own checkpoints, never with the superseded witness."""
    from secretum.audit.anchor import reanchor

    _restore_an_older_backup()
    as_owner("UPDATE audit_auditcheckpoint SET frontier = %s", [json.dumps(["00" * 32] * 2)])
    anchor = reanchor(Actor.system(), "weekly")
    assert anchor.tree_size == 6
    assert verify_log().ok
