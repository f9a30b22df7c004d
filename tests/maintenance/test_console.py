"""Console access (G1): `secretum shell` and `secretum dbshell` give nobody silent access to
patient data. On an instance with patients they refuse without `--reason "…"`; with one, the
session is an audit event at its start and at its end, and an entry in the maintenance log (K1).

The command line is run as a user runs it: real processes on a throwaway instance
(tests/core/test_cli.py)."""

from __future__ import annotations

import getpass
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from secretum.maintenance import console
from secretum.maintenance.models import MaintenanceEntry
from tests.conftest import events
from tests.core.test_cli import run
from tests.instances import initialised

REASON = "Fictitious: checking the search index after the upgrade"


def _rows(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        return db.execute(sql, params).fetchall()


def _console_events(home: Path) -> list[tuple[str, str, str, dict[str, Any]]]:
    rows = _rows(
        home,
        "SELECT action, actor_name, resource_ref, detail FROM audit_auditevent "
        "WHERE resource = 'maintenance.ConsoleSession' ORDER BY seq",
    )
    return [(a, n, r, json.loads(d)) for a, n, r, d in rows]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An instance that holds (fictitious) patients."""
    return initialised(
        tmp_path_factory.mktemp("console") / "var", ("--patients", "2", "--seed", "5")
    )


@pytest.mark.parametrize("command", ["shell", "dbshell"])
def test_a_console_without_a_reason_is_refused_on_an_instance_with_patients(
    home: Path, command: str
) -> None:
    before = _console_events(home)
    code = ["-c", "print('Xylo-console-ran')"] if command == "shell" else []
    result = run(home, command, *code)
    assert result.returncode != 0
    assert '--reason "…"' in result.stderr and "10 to 200 characters" in result.stderr
    assert "Traceback" not in result.stderr and "Xylo-console-ran" not in result.stdout
    assert _console_events(home) == before


@pytest.mark.parametrize("reason", ["too short", "x" * 201, "\x1b[31ma terminal's escape"])
def test_a_reason_is_ten_to_two_hundred_characters_of_plain_text(home: Path, reason: str) -> None:
    before = _console_events(home)
    result = run(home, "shell", "-c", "print('Xylo-console-ran')", "--reason", reason)
    assert result.returncode != 0 and "Xylo-console-ran" not in result.stdout
    assert "Traceback" not in result.stderr
    assert _console_events(home) == before


@pytest.mark.parametrize("command", ["dumpdata", "loaddata"])
def test_dumping_or_loading_rows_is_a_console_too(home: Path, tmp_path: Path, command: str) -> None:
    """G1: `dumpdata` reads every table, `loaddata` writes rows past every check: on an
    instance with patients, refused without a reason; with one, recorded like a console."""
    fixture = tmp_path / "empty.json"
    fixture.write_text("[]")
    args = ["patients"] if command == "dumpdata" else [str(fixture)]
    before = _console_events(home)
    refused = run(home, command, *args)
    assert refused.returncode != 0 and '--reason "…"' in refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == ""
    assert _console_events(home) == before
    recorded = run(home, command, *args, "--reason", REASON)
    assert recorded.returncode == 0, recorded.stderr
    start, end = _console_events(home)[len(before) :]
    assert start[3]["command"] == end[3]["command"] == command
    assert start[3]["reason"] == REASON


@pytest.mark.parametrize("reason", [[], ["--reason", REASON]])
def test_flush_is_refused_on_an_instance_with_patients(home: Path, reason: list[str]) -> None:
    """J2, D2: deleting every record and the audit log is refused, with a reason or without."""
    patients = _rows(home, "SELECT count(*) FROM patients_patient")
    logged = _rows(home, "SELECT count(*) FROM audit_auditevent")
    result = run(home, "flush", "--no-input", *reason)
    assert result.returncode != 0 and "refused on an instance that holds patients" in result.stderr
    assert "Traceback" not in result.stderr
    assert _rows(home, "SELECT count(*) FROM patients_patient") == patients
    assert _rows(home, "SELECT count(*) FROM audit_auditevent") == logged


def test_a_reason_without_its_text_is_one_sentence(home: Path) -> None:
    result = run(home, "shell", "--reason")
    assert result.returncode != 0 and "--reason needs its text" in result.stderr


def test_a_console_with_a_reason_is_recorded_from_start_to_end(home: Path) -> None:
    """G1: the OS user, the reason, the start and the end in the audit log; an entry in the
    maintenance log; the audit log still verifies."""
    before = len(_console_events(home))
    result = run(home, "shell", "-c", "print('Xylo-console-ran')", "--reason", REASON)
    assert result.returncode == 0, result.stderr
    assert "Xylo-console-ran" in result.stdout
    start, end = _console_events(home)[before:]
    who = f"os:{getpass.getuser()}"
    assert start[:2] == end[:2] == ("maintenance", who)
    assert start[2] == end[2]  # both name the maintenance log's entry
    assert start[3]["phase"] == "start" and start[3]["reason"] == REASON
    assert start[3]["command"] == "shell" and isinstance(start[3]["uid"], int)
    assert end[3]["phase"] == "end" and end[3]["seconds"] >= 0 and end[3]["started_at"]
    entries = _rows(
        home,
        "SELECT origin, on_workstation, recorded_by_id FROM maintenance_maintenanceentry "
        "WHERE uid = ?",
        (start[2].replace("-", ""),),  # Django keeps a UUID on SQLite as 32 hex digits
    )
    assert entries == [("console", 0, None)]
    verify = run(home, "audit", "verify")
    assert verify.returncode == 0, verify.stderr


def test_the_reason_may_be_given_as_one_word_on_lines_of_its_own(home: Path) -> None:
    reason = f"{REASON}\n  on two lines"
    result = run(home, "shell", f"--reason={reason}", "-c", "print('Xylo-console-ran')")
    assert result.returncode == 0 and "Xylo-console-ran" in result.stdout
    start, end = _console_events(home)[-2:]
    assert start[3]["reason"] == f"{REASON} on two lines" and end[3]["phase"] == "end"


@pytest.mark.skipif(not shutil.which("sqlite3"), reason="the sqlite3 client is not installed")
def test_dbshell_with_a_reason_is_recorded_and_passes_on_the_clients_arguments(home: Path) -> None:
    before = len(_console_events(home))
    sql = "SELECT 'Xylo-db-ran', '--reason';"
    result = run(home, "dbshell", "--reason", REASON, "--", sql)
    assert result.returncode == 0, result.stderr
    assert "Xylo-db-ran|--reason" in result.stdout
    start, end = _console_events(home)[before:]
    assert start[3]["command"] == end[3]["command"] == "dbshell"


def test_an_instance_without_patients_opens_its_console_unrecorded(tmp_path: Path) -> None:
    home = initialised(tmp_path / "var")
    result = run(home, "shell", "-c", "print('Xylo-console-ran')")
    assert result.returncode == 0 and "Xylo-console-ran" in result.stdout
    assert _console_events(home) == []


# --- the record itself, in process ------------------------------------------------------------


def test_the_session_record_names_the_os_user(db: Any) -> None:
    session = console.open_console_session("alice", "dbshell", f"  {REASON}  ")
    console.close_console_session(session)
    start, end = events(resource=console.RESOURCE)
    assert start.actor is None and start.actor_name == "os:alice" and start.source == "console"
    assert start.purpose == "maintenance" and start.resource_ref == end.resource_ref
    assert f'"reason":"{REASON}"' in start.detail and '"phase":"end"' in end.detail
    entry = MaintenanceEntry.objects.get(uid=session.entry)
    assert entry.origin == "console" and not entry.on_workstation and entry.recorded_by is None


@pytest.mark.parametrize("reason", ["", "nine char", "y" * 201, "tab\there is fine? no\x00"])
def test_a_bad_reason_records_nothing(db: Any, reason: str) -> None:
    with pytest.raises(ValidationError):
        console.open_console_session("alice", "shell", reason)
    assert not events(resource=console.RESOURCE) and not MaintenanceEntry.objects.exists()


def test_whether_the_instance_holds_patients(patient: Any) -> None:
    assert console.holds_patients()
