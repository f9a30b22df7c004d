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


def test_a_syslog_host_that_cannot_be_resolved_does_not_stop_the_signer(
    db: Any, settings: Any, witness: Path
) -> None:
    settings.SECRETUM_AUDIT_SYSLOG = "syslog.secretum.invalid:514"
    _events(1)
    checkpoint, new = create_checkpoint()
    assert new and [json.loads(line)["tree_size"] for line in witness.read_text().splitlines()] == [
        checkpoint.tree_size
    ]


@pytest.mark.parametrize("frontier", ["not json", json.dumps(["zz"])])
def test_an_unreadable_frontier_is_not_trusted(db: Any, frontier: str) -> None:
    from tests.audit.conftest import as_owner

    _events(6)
    create_checkpoint()
    as_owner("UPDATE audit_auditcheckpoint SET frontier = %s", [frontier])
    _events(3)
    checkpoint, _ = create_checkpoint()
    assert checkpoint.root_hash == _full_root()


def test_the_signer_signs_on_from_the_last_genuine_checkpoint(db: Any) -> None:
    """A checkpoint row forged without the signing key is never a base to extend."""
    from tests.audit.conftest import as_owner

    _events(3)
    real, _ = create_checkpoint()
    as_owner(
        "INSERT INTO audit_auditcheckpoint (tree_size, root_hash, signed_at, key_id, signature, "
        "frontier) VALUES (%s, %s, %s, %s, %s, %s)",
        [4, "00" * 32, real.signed_at, real.key_id, real.signature, "[]"],
    )
    _events(2)
    checkpoint, new = create_checkpoint()
    assert new and checkpoint.tree_size == 5 and checkpoint.root_hash == _full_root()


@pytest.fixture
def whole_log_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The signer's path for a large log read from its first event (all cores, the tree a level
    at a time), taken here from the first event on."""
    from secretum.audit import scan

    monkeypatch.setattr(scan, "PARALLEL_FROM", 1)


def test_the_whole_log_path_signs_the_same_root(db: Any, whole_log_reads: None) -> None:
    _events(7)
    checkpoint, new = create_checkpoint()
    assert new and checkpoint.root_hash == _full_root()


@pytest.mark.django_db(transaction=True)
def test_the_whole_log_path_in_two_processes_signs_the_same_root(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Out of a transaction the whole log is read by two processes, each building the subtrees
    of its part (here of 4 events: 21 events in parts 1-12 and 13-21)."""
    from secretum.audit import scan

    monkeypatch.setattr(scan, "PARALLEL_FROM", 1)
    monkeypatch.setattr(scan, "SPLIT_BLOCKS", 2)
    _events(21)
    assert scan.split(21, 2) == ([0, 12, 21], 2)
    checkpoint, new = create_checkpoint()
    assert new and checkpoint.tree_size == 21 and checkpoint.root_hash == _full_root()
    frontier = json.loads(AuditCheckpoint.objects.get().frontier)
    assert merkle.TreeBuilder(21, [bytes.fromhex(h) for h in frontier]).root().hex() == (
        checkpoint.root_hash
    )


def test_the_whole_log_path_refuses_a_changed_event(db: Any, whole_log_reads: None) -> None:
    from tests.audit.conftest import as_owner

    _events(5)
    as_owner("UPDATE audit_auditevent SET source = 'elsewhere' WHERE seq = 3")
    with pytest.raises(checkpoints.CheckpointError, match="event 3 was changed"):
        create_checkpoint()


def test_the_whole_log_path_refuses_a_log_rewritten_under_a_witnessed_checkpoint(
    db: Any, whole_log_reads: None
) -> None:
    """The database lost its checkpoints; the witness kept them: the log rewritten with the MAC
    key (hashes and codes recomputed) no longer matches what was signed."""
    from tests.audit.conftest import as_owner, rehash

    _events(2)
    create_checkpoint()
    _events(2)
    create_checkpoint()
    as_owner("DELETE FROM audit_auditcheckpoint")
    as_owner("UPDATE audit_auditevent SET source = 'elsewhere' WHERE seq = 3")
    rehash(3, with_mac_key=True)
    _events(1)
    with pytest.raises(checkpoints.CheckpointError, match="no longer match the checkpoint"):
        create_checkpoint()


@pytest.mark.django_db(transaction=True)
def test_the_running_signer_reports_a_refusal_and_keeps_running() -> None:
    """`secretum audit checkpoint --every N` (run by `secretum serve`): a refusal is printed
    and audited, the signer goes on, and stops cleanly on SIGTERM."""
    import io
    import os
    import signal
    import threading
    from contextlib import redirect_stderr

    from django.core.management import call_command

    from tests.audit.conftest import as_owner

    _events(2)
    as_owner("UPDATE audit_auditevent SET source = 'elsewhere' WHERE seq = 1")
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGTERM))
    err = io.StringIO()
    timer.start()
    try:
        with redirect_stderr(err):
            call_command("audit_checkpoint", "--every", "1", stdout=io.StringIO())
    finally:
        timer.cancel()
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    refusals = err.getvalue().count("secretum: audit checkpoint refused: event 1 was changed")
    assert refusals >= 2  # at the start, and at shutdown at least
    assert not AuditCheckpoint.objects.exists()
    assert AuditEvent.objects.filter(resource="audit.Log", outcome="failure").count() >= 2


def test_the_signer_run_once_prints_what_it_signed(db: Any) -> None:
    """`secretum audit checkpoint`: one checkpoint, printed; run again, the same one."""
    import io

    from django.core.management import call_command

    _events(3)
    out = io.StringIO()
    call_command("audit_checkpoint", stdout=out)
    call_command("audit_checkpoint", stdout=out)
    first, again = out.getvalue().splitlines()
    assert first.startswith("audit checkpoint: 3 events, root ") and not first.endswith(")")
    assert again.endswith("(unchanged)")
