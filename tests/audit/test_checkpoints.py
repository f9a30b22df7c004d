"""Signed checkpoints and the witness (D2)."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from secretum.access.actor import Actor
from secretum.audit import checkpoints, merkle
from secretum.audit.checkpoints import create_checkpoint
from secretum.audit.log import record_event
from secretum.audit.models import AuditCheckpoint, AuditEvent


def _events(n: int) -> None:
    for _ in range(n):
        record_event(Actor.system(), "read", "session")


def _full_root() -> str:
    leaves = [bytes.fromhex(h) for h in AuditEvent.objects.values_list("leaf_hash", flat=True)]
    return merkle.root(leaves).hex()


def test_checkpoint_is_signed_stored_and_witnessed(db: Any, witness: Path) -> None:
    _events(5)
    checkpoint, new = create_checkpoint()
    assert new and checkpoint is not None
    assert checkpoint.tree_size == 5 and checkpoint.root_hash == _full_root()
    assert checkpoint.valid_under(checkpoints.public_key())
    row = AuditCheckpoint.objects.get()
    assert (row.tree_size, row.root_hash, row.signature) == (
        5,
        checkpoint.root_hash,
        checkpoint.signature,
    )
    lines = witness.read_text().splitlines()
    assert [json.loads(line)["tree_size"] for line in lines] == [5]
    assert stat.S_IMODE(witness.stat().st_mode) == 0o600
    # Nothing new: nothing signed; --force signs again.
    assert create_checkpoint() == (checkpoints.from_row(row), False)
    _, forced = create_checkpoint(force=True)
    assert not forced  # same size: the database keeps one checkpoint per tree size


def test_next_checkpoint_extends_the_tree_from_the_frontier(db: Any) -> None:
    for n in (1, 3, 4, 9):
        _events(n)
        checkpoint, new = create_checkpoint()
        assert new and checkpoint is not None and checkpoint.root_hash == _full_root()
    assert list(AuditCheckpoint.objects.values_list("tree_size", flat=True)) == [1, 4, 8, 17]


def test_a_tampered_frontier_is_not_trusted(db: Any) -> None:
    from tests.audit.conftest import as_owner

    _events(6)
    create_checkpoint()
    as_owner("UPDATE audit_auditcheckpoint SET frontier = %s", [json.dumps(["00" * 32] * 2)])
    _events(3)
    checkpoint, _ = create_checkpoint()
    assert checkpoint is not None and checkpoint.root_hash == _full_root()


def test_a_refusal_is_an_audit_event_the_auditor_sees(db: Any) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from tests.audit.conftest import as_owner

    _events(4)
    as_owner("UPDATE audit_auditevent SET source = 'elsewhere' WHERE seq = 2")
    with pytest.raises(CommandError, match="checkpoint refused: event 2 was changed"):
        call_command("audit_checkpoint")
    refusal = AuditEvent.objects.order_by("-seq").first()
    assert refusal is not None
    assert (refusal.resource, refusal.outcome) == ("audit.Log", "failure")
    assert "event 2" in refusal.detail


def test_checkpoints_are_sent_to_a_remote_syslog(db: Any, settings: Any) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        server.settimeout(5)
        settings.SECRETUM_AUDIT_SYSLOG = f"127.0.0.1:{server.getsockname()[1]}"
        _events(2)
        checkpoint, _ = create_checkpoint()
        message = server.recv(4096).decode()
    assert checkpoint is not None
    assert message.startswith("<110>1 ") and "secretum - audit-checkpoint -" in message
    assert json.loads(message.split(" - ", 2)[2]) == json.loads(checkpoint.witness_line())


def test_a_syslog_host_that_is_down_does_not_stop_the_signer(db: Any, settings: Any) -> None:
    settings.SECRETUM_AUDIT_SYSLOG = "127.0.0.1:9"  # discard port: nothing listens
    _events(1)
    assert create_checkpoint()[1]
