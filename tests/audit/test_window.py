"""No blind window in the audit log (D2): the tree head reaches the witness after every commit,
so that an attacker holding the database cannot cut even the last event off the end of the log.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from secretum.access.actor import Actor
from secretum.audit import checkpoints, heads, merkle
from secretum.audit.checkpoints import create_checkpoint
from secretum.audit.log import record_event
from secretum.audit.models import AuditEvent
from secretum.audit.verify import verify_log
from tests.audit.conftest import as_owner, rehash


def _root(size: int | None = None) -> str:
    leaves = [bytes.fromhex(h) for h in AuditEvent.objects.values_list("leaf_hash", flat=True)]
    return merkle.root(leaves[:size]).hex()


@pytest.fixture
def write(django_capture_on_commit_callbacks: Any) -> Any:
    """Append n events, each committed as a request's would be (its on_commit hooks run)."""

    def _write(n: int) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(n):
                record_event(Actor.system(), "read", "session")
        heads.sync()

    return _write


def test_every_commit_puts_the_tree_head_in_the_witness(db: Any, witness: Path, write: Any) -> None:
    write(3)
    reading = checkpoints.read_witness()
    assert [h.tree_size for h in reading.tree_heads] == [1, 2, 3]
    assert reading.latest_head is not None and reading.latest_head.root_hash == _root()
    assert reading.bad_lines == [] and reading.checkpoints == []
    create_checkpoint()
    write(2)
    # The next heads extend the tree from this process's frontier: the same roots as the log's.
    assert [(h.tree_size, h.root_hash) for h in checkpoints.read_witness().tree_heads[-2:]] == [
        (4, _root(4)),
        (5, _root(5)),
    ]


def test_events_of_other_processes_are_read_from_the_log(
    db: Any, witness: Path, write: Any
) -> None:
    """Another process appended events 2 to 6 (no hook of ours ran for them); the head of our
    event 7 covers them all, read from the database. A new process starts from the latest
    checkpoint's frontier."""
    write(1)
    for _ in range(5):
        record_event(Actor.system(), "read", "session")  # committed by "another process"
    write(1)
    latest = checkpoints.read_witness().latest_head
    assert latest is not None and (latest.tree_size, latest.root_hash) == (7, _root())
    create_checkpoint()
    heads.forget()  # a fresh process
    record_event(Actor.system(), "read", "session")
    write(1)
    assert checkpoints.read_witness().latest_head.tree_size == 9  # type: ignore[union-attr]
    assert checkpoints.read_witness().latest_head.root_hash == _root()  # type: ignore[union-attr]


@pytest.mark.parametrize("cut", [1, 10, 1000])
def test_a_truncation_after_the_last_checkpoint_is_caught(db: Any, write: Any, cut: int) -> None:
    """The attacker holds the database (not the witness): deletes the newest events."""
    write(5)
    create_checkpoint()
    write(cut)
    assert verify_log().ok
    as_owner("DELETE FROM audit_auditevent WHERE seq > %s", [5])
    result = verify_log()
    assert not result.ok
    assert result.problem == (
        f"the log was truncated: the witness saw {5 + cut} events at "
        f"{checkpoints.read_witness().latest_head.at_text} (tree head), the database holds 5; "  # type: ignore[union-attr]
        f"events 6 to {5 + cut} were cut off the end of the log"
    )
    with pytest.raises(CommandError, match="audit log is NOT intact: the log was truncated"):
        call_command("audit_verify")


def test_truncating_and_deleting_the_newer_checkpoints_is_caught(db: Any, write: Any) -> None:
    write(20)
    create_checkpoint()
    write(10)
    create_checkpoint()
    write(3)
    as_owner("DELETE FROM audit_auditcheckpoint WHERE tree_size > 20")
    as_owner("DELETE FROM audit_auditevent WHERE seq > 25")
    result = verify_log()
    assert not result.ok and "event 26 onwards is missing" in result.problem
    assert "(witness)" in result.problem


def test_a_rewrite_inside_the_window_is_caught_by_the_heads(db: Any, write: Any) -> None:
    """Even with the MAC key, an event newer than the last checkpoint cannot be changed: the
    witness holds the tree heads that covered it."""
    write(4)
    create_checkpoint()
    write(3)
    as_owner("UPDATE audit_auditevent SET source = 'elsewhere' WHERE seq = 6")
    rehash(6, with_mac_key=True)
    result = verify_log()
    assert not result.ok
    assert result.problem.startswith("the first 6 events do not match the tree head witnessed")


def test_verify_reports_the_remaining_window(db: Any, write: Any, capsys: Any) -> None:
    write(4)
    create_checkpoint()
    write(2)
    record_event(Actor.system(), "read", "session")  # committed, its head not written (yet)
    result = verify_log()
    assert result.ok and (result.unsigned, result.unwitnessed) == (3, 1)
    call_command("audit_verify")
    assert (
        "window: 3 event(s) newer than the latest signed checkpoint, 1 newer than the witness's "
        "latest tree head." in capsys.readouterr().out
    )


def test_a_damaged_head_line_is_a_bad_witness_line(db: Any, witness: Path, write: Any) -> None:
    write(1)
    with witness.open("a") as f:
        f.write("head 2 nothex 2026-01-01T00:00:00.000000Z\n")
    assert checkpoints.read_witness().bad_lines == [2]
    for line in (
        "head 2",
        "head -1 " + "00" * 32 + " 2026-01-01T00:00:00.000000Z",
        "head 2 " + "00" * 31 + " 2026-01-01T00:00:00.000000Z",
        "head 2 " + "00" * 32 + " yesterday",
        "tail 2 " + "00" * 32 + " 2026-01-01T00:00:00.000000Z",
    ):
        assert heads.parse(line) is None


def test_an_unwritable_witness_never_fails_the_request(
    db: Any, tmp_path: Path, settings: Any, write: Any, caplog: Any
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    settings.SECRETUM_AUDIT_WITNESS = blocker / "audit-checkpoints.log"
    write(2)  # committed all the same
    assert AuditEvent.objects.count() == 2
    assert "audit witness not written" in caplog.text


def test_a_gap_in_the_log_leaves_no_head(db: Any, witness: Path, caplog: Any) -> None:
    """A head is written only for a log without holes."""
    for _ in range(3):
        record_event(Actor.system(), "read", "session")
    as_owner("DELETE FROM audit_auditevent WHERE seq = 2")
    heads.forget()
    heads.committed(4, b"\x00" * 32)  # reads 1 and 3
    as_owner("DELETE FROM audit_auditevent WHERE seq = 3")
    heads.forget()
    heads.committed(4, b"\x00" * 32)  # reads 1 alone
    assert caplog.text.count("event 2 is missing from the log") == 2
    assert checkpoints.read_witness().tree_heads == []


def test_a_damaged_checkpoint_frontier_starts_the_tree_from_the_first_event(
    db: Any, witness: Path, write: Any
) -> None:
    write(3)
    create_checkpoint()
    for frontier in ("not json", '["00"]', '["' + "00" * 32 + '", "' + "11" * 32 + '"]'):
        as_owner("UPDATE audit_auditcheckpoint SET frontier = %s", [frontier])
        heads.forget()
        write(1)
        assert checkpoints.read_witness().latest_head.root_hash == _root()  # type: ignore[union-attr]


def test_a_forked_process_starts_afresh_and_syncs_in_the_background(
    db: Any, witness: Path, write: Any, monkeypatch: Any
) -> None:
    write(1)
    monkeypatch.setattr(heads._state, "pid", -1)  # as seen from a child after fork
    heads.sync()  # not ours: nothing to sync
    write(1)
    assert heads._state.pid == os.getpid()
    deadline = time.monotonic() + 5
    while heads._state.unsynced.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not heads._state.unsynced.is_set()  # the thread synced it


def test_a_failed_sync_is_logged(db: Any, witness: Path, write: Any, caplog: Any) -> None:
    write(1)
    os.close(heads._state.fd)  # the descriptor goes bad under the process
    heads.sync()
    assert "audit witness not synced" in caplog.text
    heads._state.fd = -1
    heads.forget()


def test_hooks_that_run_out_of_order_write_each_head_once(db: Any, witness: Path) -> None:
    """Two threads commit events 1 and 2; the second's hook runs first and reads event 1 from
    the log; the first's hook then has nothing left to say."""
    first = record_event(Actor.system(), "read", "session")
    second = record_event(Actor.system(), "read", "session")
    assert first is not None and second is not None
    heads.committed(2, bytes.fromhex(second.leaf_hash))
    heads.committed(1, bytes.fromhex(first.leaf_hash))
    assert [h.tree_size for h in checkpoints.read_witness().tree_heads] == [2]


def test_init_and_demo_end_with_a_checkpoint_and_the_last_event_cannot_be_cut(
    tmp_path: Path,
) -> None:
    """Before: right after `init` and `demo` no checkpoint existed and any event could be cut.
    Now each command that wrote events ends with a signed checkpoint; an event written by a web
    worker afterwards is covered by its tree head alone, and cutting it is caught."""
    import sqlite3
    import subprocess
    import sys

    from tests.audit.elsewhere import witness_elsewhere
    from tests.core.test_cli import run

    home = tmp_path / "var"
    init = run(home, "init")
    assert init.returncode == 0
    # The fingerprint the practice keeps elsewhere (`audit verify --expect-key`).
    kept = init.stdout.split("audit key    ")[1].split()[0]
    assert kept.startswith("SHA256:") and len(kept) == 7 + 64
    assert run(home, "demo", "--patients", "2", "--seed", "3").returncode == 0
    verify = run(home, "audit", "verify", "--expect-key", kept)
    assert verify.returncode == 0, verify.stderr
    assert f"checkpoint key: {kept} (the expected key)." in verify.stdout
    size = int(verify.stdout.split("audit log intact: ")[1].split()[0])
    assert f"the first {size} match the checkpoint" in verify.stdout
    assert "window: 0 event(s) newer than the latest signed checkpoint, 0 newer" in verify.stdout
    # A web worker's event: no command ends after it, only its tree head reaches the witness.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env.update(
        SECRETUM_HOME=str(home),
        SECRETUM_AUDIT_WITNESS=str(witness_elsewhere(str(home))),  # as `run` sets it
        DJANGO_SETTINGS_MODULE="secretum.settings",
    )
    writer = Path(__file__).with_name("_writer.py")
    subprocess.run([sys.executable, str(writer), "1", "0", "w"], env=env, check=True)
    verify = run(home, "audit", "verify")
    assert "window: 1 event(s) newer than the latest signed checkpoint, 0 newer" in verify.stdout
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as database:
        database.execute("DROP TRIGGER audit_auditevent_no_delete")
        database.execute("DELETE FROM audit_auditevent WHERE seq = ?", [size + 1])
    verify = run(home, "audit", "verify")
    assert verify.returncode == 1 and "Traceback" not in verify.stderr
    assert f"events {size + 1} to {size + 1} were cut off the end of the log" in verify.stderr


def test_the_root_of_a_log_with_a_hole_is_none(db: Any) -> None:
    for _ in range(3):
        record_event(Actor.system(), "read", "session")
    assert heads.root_of(3) == _root()
    as_owner("DELETE FROM audit_auditevent WHERE seq = 2")
    assert heads.root_of(3) == ""


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_at_once_leaves_the_head_of_its_last_event(tmp_path: Path) -> None:
    """kill -9 right after a commit (no atexit, no fsync): the head is already in the kernel's
    hands, so the event the worker wrote last cannot be cut unnoticed."""
    import subprocess
    import sys

    from django.conf import settings
    from django.db import connection

    code = (
        "import os, signal, django\n"
        "django.setup()\n"
        "from secretum.access.actor import Actor\n"
        "from secretum.audit.log import record_event\n"
        "for _ in range(5): record_event(Actor.system(), 'read', 'session')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "SECRETUM_AUDIT_WITNESS": str(settings.SECRETUM_AUDIT_WITNESS)}
    env["SECRETUM_DATABASE_URL"] = _url_of(connection.settings_dict)
    env["DJANGO_SETTINGS_MODULE"] = "secretum.settings"
    killed = subprocess.run([sys.executable, "-c", code], env=env, check=False)
    assert killed.returncode == -9
    assert verify_log().ok
    as_owner("DELETE FROM audit_auditevent WHERE seq = 5")
    assert "events 5 to 5 were cut off the end of the log" in verify_log().problem


def _url_of(database: dict[str, Any]) -> str:
    """The test database, for another process (SQLite's is a file)."""
    if "sqlite" in database["ENGINE"]:
        return f"sqlite:///{database['NAME']}"
    host = database["HOST"] or "127.0.0.1"
    return f"postgresql://{database['USER']}@{host}:{database['PORT'] or 5432}/{database['NAME']}"
