"""`secretum audit verify` against every attack of issue 4 (D2), on SQLite and PostgreSQL.

The attacker holds the database owner's rights: they drop the append-only triggers first. They
may recompute leaf hashes (the algorithm is public); only where a test says so do they also
hold the audit MAC key; they never hold the checkpoint signing key, nor reach the witness.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from secretum.access.actor import Actor
from secretum.audit.checkpoints import create_checkpoint
from secretum.audit.log import record_event
from secretum.audit.models import AuditCheckpoint, AuditEvent
from secretum.audit.verify import verify_log
from secretum.clinical import services as clinical
from secretum.patients import services as patients
from tests.audit.conftest import as_owner, rehash
from tests.conftest import actor_for, identity


@pytest.fixture
def log(practitioner: Any) -> int:
    """A log of 8 events; returns its size."""
    actor = actor_for(practitioner)
    created = patients.register_patient(actor, identity())
    for _ in range(5):
        patients.access_patient(actor, created.uid)
    clinical.record_entry(actor, created.uid, "observation", {"code": "weight", "value": "70"})
    patients.search_patients(actor, "zorb")
    return AuditEvent.objects.count()


def _more(n: int) -> None:
    for _ in range(n):
        record_event(Actor.system(), "read", "session")


def _fails(seq: int | None, *words: str) -> str:
    result = verify_log()
    assert not result.ok, "verification passed on a tampered log"
    assert result.bad_seq == seq, result.problem
    for word in words:
        assert word in result.problem, result.problem
    return result.problem


def test_an_untouched_log_verifies_against_its_checkpoint(log: int, witness: Path) -> None:
    checkpoint, new = create_checkpoint()
    assert new and checkpoint is not None and checkpoint.tree_size == log
    _more(2)
    result = verify_log()
    assert result.ok and result.checked == log + 2, result.problem
    assert result.covered is not None and result.covered.tree_size == log
    assert any("newer than the latest checkpoint" in n for n in result.notes)


def test_changed_event_is_named(log: int) -> None:
    as_owner("UPDATE audit_auditevent SET actor_name = %s WHERE seq = %s", ["someone-else", 3])
    _fails(3, "event 3 was changed after it was written")


def test_changed_event_with_recomputed_hash_is_named_without_the_key(log: int) -> None:
    as_owner("UPDATE audit_auditevent SET outcome = %s WHERE seq = %s", ["denied", 2])
    rehash(2)
    _fails(2, "event 2 is not authentic", "without the audit key")


def test_changed_event_with_recomputed_hash_and_code_breaks_the_signed_checkpoint(
    log: int,
) -> None:
    """Even someone holding the MAC key (the web process's) cannot rewrite signed history."""
    create_checkpoint()
    _more(2)
    create_checkpoint()
    as_owner("UPDATE audit_auditevent SET patient_ref = %s WHERE seq = %s", ["", 4])
    rehash(4, with_mac_key=True)
    _fails(1, f"events 1 to {log} do not match the checkpoint", "recomputed")


def test_removed_event_is_named(log: int) -> None:
    as_owner("DELETE FROM audit_auditevent WHERE seq = %s", [2])
    _fails(2, "event 2 is missing (removed)")


def test_removed_event_with_renumbering_is_named(log: int) -> None:
    as_owner("DELETE FROM audit_auditevent WHERE seq = %s", [5])
    for seq in range(6, log + 1):
        as_owner("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [seq - 1, seq])
        rehash(seq - 1)
    _fails(5, "event 5 is not authentic")


def test_inserted_event_is_named(log: int) -> None:
    """A forged event slipped in at position 3, the later ones renumbered and rehashed."""
    for seq in range(log, 2, -1):
        as_owner("UPDATE audit_auditevent SET seq = %s WHERE seq = %s", [seq + 1, seq])
        rehash(seq + 1)
    as_owner(
        "INSERT INTO audit_auditevent (seq, at, actor_name, role, on_behalf_of, patient_ref, "
        "action, resource, resource_ref, purpose, outcome, source, request_id, detail, "
        "leaf_hash, mac) SELECT 3, at, actor_name, role, on_behalf_of, patient_ref, action, "
        "resource, resource_ref, purpose, outcome, source, request_id, detail, leaf_hash, mac "
        "FROM audit_auditevent WHERE seq = 2",
        [],
    )
    rehash(3)
    _fails(3, "event 3 is not authentic")


def test_forged_event_appended_at_the_end_is_named(log: int) -> None:
    as_owner(
        "INSERT INTO audit_auditevent (seq, at, actor_name, role, on_behalf_of, patient_ref, "
        "action, resource, resource_ref, purpose, outcome, source, request_id, detail, "
        "leaf_hash, mac) SELECT seq + 1, at, 'dr.alibi', role, on_behalf_of, patient_ref, "
        "action, resource, resource_ref, purpose, outcome, source, request_id, detail, "
        "leaf_hash, mac FROM audit_auditevent WHERE seq = %s",
        [log],
    )
    rehash(log + 1)
    _fails(log + 1, f"event {log + 1} is not authentic")


def test_reordered_events_are_named(log: int) -> None:
    as_owner("UPDATE audit_auditevent SET seq = -1 WHERE seq = 2", [])
    as_owner("UPDATE audit_auditevent SET seq = 2 WHERE seq = 3", [])
    as_owner("UPDATE audit_auditevent SET seq = 3 WHERE seq = -1", [])
    rehash(2)
    rehash(3)
    _fails(2, "event 2 is not authentic")


def test_truncated_log_is_detected_by_the_checkpoint(log: int) -> None:
    create_checkpoint()
    as_owner("DELETE FROM audit_auditevent WHERE seq > %s", [log - 3])
    _fails(log - 2, "truncated or rolled back", f"covers {log} events")


def test_truncation_with_the_checkpoints_removed_is_caught_by_the_witness(
    log: int, witness: Path
) -> None:
    create_checkpoint()
    as_owner("DELETE FROM audit_auditevent WHERE seq > %s", [log - 3])
    as_owner("DELETE FROM audit_auditcheckpoint", [])
    _fails(log - 2, "truncated or rolled back", "(witness)")


def test_rollback_then_new_events_is_detected_by_the_witness(log: int) -> None:
    """The database restored to an earlier state (checkpoints and all), then used again: its
    history forks from what the witness saw."""
    create_checkpoint()
    as_owner("DELETE FROM audit_auditevent WHERE seq > %s", [log - 3])
    as_owner("DELETE FROM audit_auditcheckpoint", [])
    _more(5)  # the application goes on writing, with valid codes
    _fails(1, f"events 1 to {log} do not match the checkpoint", "(witness)")


def test_the_signer_refuses_a_log_that_was_rolled_back(log: int) -> None:
    from secretum.audit.checkpoints import CheckpointError

    create_checkpoint()
    as_owner("DELETE FROM audit_auditevent WHERE seq > %s", [log - 3])
    as_owner("DELETE FROM audit_auditcheckpoint", [])
    with pytest.raises(CheckpointError, match="truncated or rolled back"):
        create_checkpoint()
    _more(5)
    with pytest.raises(CheckpointError, match="no longer match the checkpoint"):
        create_checkpoint()


def test_the_signer_refuses_to_sign_over_a_tampered_event(log: int) -> None:
    from secretum.audit.checkpoints import CheckpointError

    as_owner("UPDATE audit_auditevent SET action = %s WHERE seq = %s", ["search", 6])
    with pytest.raises(CheckpointError, match="event 6 was changed"):
        create_checkpoint()
    assert not AuditCheckpoint.objects.exists()


def test_forged_checkpoint_is_detected(log: int) -> None:
    """Someone without the signing key adds a checkpoint that matches their rewritten log."""
    real, _ = create_checkpoint()
    assert real is not None
    as_owner(
        "INSERT INTO audit_auditcheckpoint (tree_size, root_hash, signed_at, key_id, signature, "
        "frontier) VALUES (%s, %s, %s, %s, %s, %s)",
        [log + 100, "00" * 32, real.signed_at, real.key_id, real.signature, "[]"],
    )
    result = verify_log()
    assert not result.ok and "no valid signature" in result.problem


def test_altered_witness_is_detected(log: int, witness: Path) -> None:
    create_checkpoint()
    line = json.loads(witness.read_text().splitlines()[0])
    line["tree_size"] = 3  # a checkpoint rewritten by hand
    with witness.open("a") as f:
        f.write(json.dumps(line) + "\n" + "not a checkpoint\n")
    result = verify_log()
    assert not result.ok and "no valid signature" in result.problem


def test_cli_verify_exits_non_zero_naming_the_event(log: int) -> None:
    create_checkpoint()
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    assert f"audit log intact: {log} events verified" in out.getvalue()
    as_owner("UPDATE audit_auditevent SET resource = %s WHERE seq = %s", ["x", 4])
    with pytest.raises(CommandError, match="event 4 was changed"):
        call_command("audit_verify")
    # A security event for the auditor (an "integrity" alert), appended after the bad one.
    alarm = AuditEvent.objects.order_by("-seq").first()
    assert alarm is not None and (alarm.resource, alarm.outcome) == ("audit.Log", "failure")
    assert json.loads(alarm.detail)["check"] == "verify"
    from secretum.audit.alerts import detect

    assert "integrity" in [a.kind for a in detect(alarm.at - dt.timedelta(minutes=1))]


def test_inside_a_transaction_one_process_reads_the_log(log: int) -> None:
    """The parallel reader gives the same answer as the single one (it needs committed rows,
    so here it falls back to one process inside the test's transaction)."""
    assert verify_log(workers=2).ok


@pytest.mark.django_db(transaction=True)
def test_two_processes_give_the_same_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parallel reader (a forked process per half of the log) on committed rows."""
    from secretum.audit import scan

    monkeypatch.setattr(scan, "PARALLEL_FROM", 10)
    _more(40)
    create_checkpoint()
    _more(3)
    assert verify_log(workers=2).ok
    as_owner("UPDATE audit_auditevent SET role = %s WHERE seq = %s", ["auditor", 31])
    _fails(31, "event 31 was changed")
    rehash(31)
    rehash(12)  # an untouched event rehashed: still authentic
    as_owner("UPDATE audit_auditevent SET role = %s WHERE seq = %s", ["x", 25])
    rehash(25)
    _fails(25, "event 25 is not authentic")


@pytest.mark.django_db(transaction=True)
def test_two_processes_joining_their_subtrees_name_the_same_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each worker builds the subtrees of its part of the log and the parent joins them: here
    37 events in parts 1-16 and 17-37 of subtrees of 8 events, checkpoints of 13 and 27 events
    ending inside one. What one process finds, two find: an event changed in the second part,
    rehashed without the key, rewritten with the key past the checkpoints (the tree heads) and
    under one."""
    from secretum.audit import scan

    monkeypatch.setattr(scan, "PARALLEL_FROM", 10)
    monkeypatch.setattr(scan, "SPLIT_BLOCKS", 2)
    _more(13)
    create_checkpoint()
    _more(14)
    create_checkpoint()
    _more(10)
    assert scan.split(37, 2) == ([0, 16, 37], 3)

    def both(seq: int | None, words: str) -> None:
        one, two = verify_log(workers=1), verify_log(workers=2)
        assert (two.ok, two.bad_seq, two.problem) == (one.ok, one.bad_seq, one.problem)
        assert two.bad_seq == seq and words in two.problem, two.problem

    one, two = verify_log(workers=1), verify_log(workers=2)
    assert two.ok and two.checked == 37 and two.covered == one.covered
    assert two.covered is not None and two.covered.tree_size == 27 and two.unsigned == 10
    as_owner("UPDATE audit_auditevent SET role = %s WHERE seq = %s", ["auditor", 30])
    both(30, "event 30 was changed")
    rehash(30)
    both(30, "event 30 is not authentic")
    rehash(30, with_mac_key=True)  # past every checkpoint: the witness's tree heads see it
    both(None, "the first 30 events do not match the tree head witnessed")
    as_owner("UPDATE audit_auditevent SET role = %s WHERE seq = %s", ["auditor", 20])
    rehash(20, with_mac_key=True)
    both(14, "events 14 to 27 do not match the checkpoint")


@pytest.mark.django_db(transaction=True)
def test_a_worker_places_its_part_and_names_its_first_bad_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker's whole job, run here in this process (the pool runs it forked): the levels of
    its part written where the whole tree's lie, its connection closed after; or the first bad
    event of its part."""
    import itertools

    from secretum.audit import merkle, scan

    monkeypatch.setattr(scan, "_shared", [])
    monkeypatch.setattr(scan, "SPLIT_BLOCKS", 2)
    _more(21)
    bounds, height = scan.split(21, 2)
    offsets = [0, *itertools.accumulate(32 * n for n in merkle.level_sizes(21, height))]
    shared = bytearray(offsets[-1])
    scan._adopt(shared)  # a bytearray stands in for the shared mapping
    for low, high in itertools.pairwise(bounds):
        assert scan._scan_range(low, high, height, offsets) == ("", 0)
    whole, problem, _ = scan.read_tree(21, 1)
    assert not problem
    placed = [bytes(shared[offsets[h] : offsets[h + 1]]) for h in range(height + 1)]
    assert placed == [level.data for level in whole[: height + 1]]
    as_owner("UPDATE audit_auditevent SET role = %s WHERE seq = %s", ["auditor", 15])
    assert scan._scan_range(bounds[1], 21, height, offsets) == (scan.CHANGED, 15)


# --- more of what an owner of the database may do, and what verification says ---------------


def test_an_event_numbered_zero_is_named(log: int) -> None:
    as_owner(
        "INSERT INTO audit_auditevent (seq, at, actor_name, role, on_behalf_of, patient_ref, "
        "action, resource, resource_ref, purpose, outcome, source, request_id, detail, "
        "leaf_hash, mac) SELECT 0, at, actor_name, role, on_behalf_of, patient_ref, action, "
        "resource, resource_ref, purpose, outcome, source, request_id, detail, leaf_hash, mac "
        "FROM audit_auditevent WHERE seq = 1",
        [],
    )
    _fails(0, "event 0 was inserted")


def test_a_duplicated_event_is_named(log: int) -> None:
    """The owner rebuilds the table without its unique constraint, then copies an event."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the table is rebuilt the SQLite way")
    as_owner("CREATE TABLE audit_rebuilt AS SELECT * FROM audit_auditevent", [])
    as_owner("DROP TABLE audit_auditevent", [])
    as_owner("ALTER TABLE audit_rebuilt RENAME TO audit_auditevent", [])
    as_owner("INSERT INTO audit_auditevent SELECT * FROM audit_auditevent WHERE seq = 3", [])
    _fails(3, "event 3 appears twice")


def test_a_field_holding_the_entry_separator_is_named(log: int) -> None:
    as_owner("UPDATE audit_auditevent SET actor_name = %s WHERE seq = %s", ["dr\x1falibi", 3])
    _fails(3, "event 3 was changed", "separator")


def test_a_leaf_hash_that_is_not_a_hash_is_named(log: int) -> None:
    as_owner("UPDATE audit_auditevent SET leaf_hash = %s WHERE seq = %s", ["not-hex", 4])
    _fails(4, "event 4 was changed")


def test_an_entry_holding_the_record_separator_is_named_by_its_code(log: int) -> None:
    """0x1E joins entries in the bulk read: an event rewritten to hold one, its hash
    recomputed, is read again on its own, and its missing code names it."""
    as_owner("UPDATE audit_auditevent SET actor_name = %s WHERE seq = %s", ["dr\x1ealibi", 5])
    rehash(5)
    _fails(5, "event 5 is not authentic")


def test_a_gap_as_wide_as_a_read_is_named(log: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from secretum.audit import scan

    monkeypatch.setattr(scan, "GROUP", 2)
    as_owner("DELETE FROM audit_auditevent WHERE seq IN (3, 4)", [])
    _fails(3, "event 3 is missing")


def test_events_removed_while_verification_reads_are_named(log: int) -> None:
    """Verification reads a group, finds it wrong, reads its rows again: the owner removed them
    in between. The gap is named; nothing breaks."""
    from django.db import connection

    as_owner("UPDATE audit_auditevent SET resource = %s WHERE seq = %s", ["x", 2])
    removed = [False]

    def remove_after_the_group(execute: Any, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        result = execute(sql, params, many, ctx)
        if "group_concat" in sql and not removed[0]:
            removed[0] = True
            as_owner("DELETE FROM audit_auditevent", [])
        return result

    if connection.vendor != "sqlite":
        pytest.skip("the SQLite bulk read is the one watched here")
    with connection.execute_wrapper(remove_after_the_group):
        _fails(1, "event 1 is missing")


def test_the_code_check_names_a_gap_itself(log: int) -> None:
    """mac_scan, run by the signer and by verification after the entries were read, does not
    take their numbering on trust."""
    from secretum.audit import entries
    from secretum.audit.scan import CHANGED, MISSING, mac_scan

    as_owner("DELETE FROM audit_auditevent WHERE seq = %s", [3])
    assert mac_scan(0, log, entries.mac_key()) == (MISSING, 3)
    assert mac_scan(3, log + 2, entries.mac_key()) == (MISSING, log + 1)
    assert mac_scan(3, log, entries.mac_key()) == ("", 0)
    as_owner("UPDATE audit_auditevent SET leaf_hash = %s WHERE seq = %s", ["not-hex", 5])
    assert mac_scan(3, log, entries.mac_key()) == (CHANGED, 5)


def test_a_line_of_the_witness_that_is_no_checkpoint_fails_verification(
    log: int, witness: Path
) -> None:
    create_checkpoint()
    with witness.open("a") as f:
        f.write("\n{not a checkpoint\n")
    result = verify_log()
    assert not result.ok and result.problem.startswith("line 3 of the witness")


def test_checkpoints_missing_from_the_witness_are_noted(log: int, witness: Path) -> None:
    create_checkpoint()
    first = witness.read_text().splitlines()[0]
    _more(1)
    create_checkpoint()
    witness.write_text(first + "\n")
    result = verify_log()
    assert result.ok, result.problem
    assert any("1 checkpoint(s) of the database are not in the witness" in n for n in result.notes)


# --- inclusion proofs of a log that no longer matches ----------------------------------------


def _prove(seq: int) -> str:
    out = io.StringIO()
    call_command("audit_prove", str(seq), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_no_proof_for_an_event_changed_in_place(log: int) -> None:
    create_checkpoint()
    as_owner("UPDATE audit_auditevent SET actor_name = %s WHERE seq = %s", ["dr.alibi", 3])
    with pytest.raises(CommandError, match="event 3 does not match its leaf hash"):
        _prove(3)


def test_no_proof_over_a_log_rewritten_with_the_mac_key(log: int) -> None:
    create_checkpoint()
    as_owner("UPDATE audit_auditevent SET actor_name = %s WHERE seq = %s", ["dr.alibi", 3])
    rehash(3, with_mac_key=True)
    with pytest.raises(CommandError, match="does not match its signed checkpoint"):
        _prove(3)


@pytest.mark.parametrize("removed", ["middle", "end"])
def test_no_proof_over_a_log_with_events_removed(log: int, removed: str) -> None:
    create_checkpoint()
    if removed == "middle":
        as_owner("DELETE FROM audit_auditevent WHERE seq = %s", [3])
        message = "event 3 is missing"
    else:
        as_owner("DELETE FROM audit_auditevent WHERE seq >= %s", [log - 1])
        message = f"event {log - 1} is missing"
    with pytest.raises(CommandError, match=message):
        _prove(2)


def test_no_proof_of_event_zero(log: int) -> None:
    create_checkpoint()
    with pytest.raises(CommandError, match="event 0 is not covered"):
        _prove(0)


def test_no_proof_when_no_checkpoint_can_be_signed(log: int) -> None:
    as_owner("UPDATE audit_auditevent SET actor_name = %s WHERE seq = %s", ["dr.alibi", 3])
    with pytest.raises(CommandError, match="no checkpoint can be signed: event 3 was changed"):
        _prove(3)


def test_an_event_removed_while_its_proof_is_built_is_named(log: int) -> None:
    """The owner removes the event between the read of the leaf hashes and the read of its
    entry: the proof is refused in one sentence."""
    from django.db import connection

    from secretum.audit.scan import entry_select

    create_checkpoint()
    removed = [False]

    def remove_before_the_entry(execute: Any, sql: str, params: Any, many: bool, ctx: Any) -> Any:
        # The entry's own read (the query of scan.entry_select): the event goes just before it.
        if sql == entry_select(connection.vendor)[0] and not removed[0]:
            removed[0] = True
            as_owner("DELETE FROM audit_auditevent WHERE seq = %s", [4])
        return execute(sql, params, many, ctx)

    with connection.execute_wrapper(remove_before_the_entry):
        with pytest.raises(CommandError, match="there is no event 4"):
            _prove(4)


def test_the_first_bad_event_is_named_even_when_a_later_one_fails_first(log: int) -> None:
    """Event 2 rewritten and rehashed without the key, event 6 changed in place: the leaf
    hashes fail at 6, the codes name 2, the first."""
    as_owner("UPDATE audit_auditevent SET outcome = %s WHERE seq = %s", ["denied", 2])
    rehash(2)
    as_owner("UPDATE audit_auditevent SET resource = %s WHERE seq = %s", ["x", 6])
    _fails(2, "event 2 is not authentic")


def test_the_postgresql_entry_is_put_together_by_pg_catalog_alone() -> None:
    """D2: on PostgreSQL the entry each leaf hash is recomputed from is put together by
    schema-qualified functions only, so that a function of the same name that a database role
    planted earlier on the search path cannot stand in for them and forge what is hashed. (The
    aggregates that only count, and coalesce, a keyword, are not looked up that way; FROM opens
    a subquery.)"""
    import re

    from secretum.audit.scan import _bulk_select, entry_select

    for sql, first in (entry_select("postgresql"), _bulk_select("postgresql")):
        called = re.findall(r"([\w.]+)\s*\(", sql)
        assert {"pg_catalog.concat_ws", "pg_catalog.to_char", "pg_catalog.chr"} <= set(called)
        unqualified = {name for name in called if not name.startswith("pg_catalog.")}
        assert unqualified <= {"COUNT", "MIN", "MAX", "coalesce", "FROM"}, unqualified
        assert first == entry_select("postgresql")[1]
    assert "printf(" in entry_select("sqlite")[0]
