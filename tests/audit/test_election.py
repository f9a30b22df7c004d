"""One checkpoint signer at a time, elected through PostgreSQL (D2, issue 17: several nodes
serve one practice, each starts a signer; secretum/audit/election.py).

An attacker's or an accident's ways to get two signers, or none: a second node started beside
the first, the leader killed without a goodbye (SIGKILL, a node powered off), the leader's
database session cut under it. Each is tried on a real PostgreSQL server."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from secretum.audit.election import SIGNER_LOCK, Election
from tests.core.test_instance_key import (
    ROOT,
    SECRETUM,
    Postgres,
    _admin,
    _server,
    environment,
    postgres,
    secretum,
)

__all__ = ["postgres"]  # the module's PostgreSQL practice (tests/core/test_instance_key.py)


def _until(condition: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time given"
        time.sleep(0.1)


def test_one_candidate_leads_until_its_session_ends(db: Any) -> None:
    """On SQLite (one server) the signer always leads. On PostgreSQL the first to ask leads, the
    second stands by however often it asks; the leader asking again keeps it (and stacks
    nothing); its session cut by the server, it leads no more, and the other takes over."""
    first, second = Election(), Election()
    if connection.vendor != "postgresql":
        assert not first.contested and first.holds() and second.holds()
        first.resign()  # nothing to give back: it holds no connection of its own
        assert first.holds()
        return
    try:
        assert first.holds() and not second.holds()
        assert first.holds() and not second.holds()
        with connection.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND objid = %s",
                [SIGNER_LOCK],
            )
        assert not first.holds()  # its connection is gone: it knows it leads no more
        _until(second.holds)
        assert not first.holds()
        second.resign()
        # The lock is freed once the server has ended the resigned session: within moments.
        _until(first.holds)
    finally:
        first.resign()
        second.resign()


def _signer(pg: Postgres, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "secretum.cli", "audit", "checkpoint", "--every", "1"],
            env=environment(pg.home, **pg.env()),
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _cut_the_leaders_session() -> None:
    """The server ends the session that holds the signer's lock (a network cut, a restart)."""
    with _admin(_server()) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
            "AND objid = %s",
            [SIGNER_LOCK],
        )


@pytest.mark.postgresql
def test_two_nodes_one_signer_and_the_other_takes_over(postgres: Postgres, tmp_path: Path) -> None:
    """Two signers of one practice (two nodes sharing its key material and its PostgreSQL): one
    is elected, the other stands by and signs nothing; the leader's session cut by the server,
    it stands by and the other is elected; that one killed with SIGKILL, the first is elected
    again within seconds and signs; the log verifies."""
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    nodes = [_signer(postgres, logs[0])]
    try:
        _until(lambda: "elected" in logs[0].read_text())
        nodes.append(_signer(postgres, logs[1]))
        _until(lambda: "standing by" in logs[1].read_text())
        time.sleep(2.5)  # beats of both: the standby still stands by, and signs nothing
        assert "elected" not in logs[1].read_text()
        assert "audit checkpoint:" not in logs[1].read_text()
        _cut_the_leaders_session()
        _until(lambda: "standing by" in logs[0].read_text())
        _until(lambda: "elected" in logs[1].read_text())
        nodes[1].send_signal(signal.SIGKILL)
        nodes[1].wait(timeout=10)
        _until(lambda: logs[0].read_text().count("elected") == 2)
        # Events for the elected signer to sign: a command signs its own when it ends, so the
        # signer's checkpoint is looked for while the command still writes them (a practice of
        # ten patients made: a few seconds of events, the signer asking every second).
        writer = subprocess.Popen(
            [*SECRETUM, "demo", "--patients", "10", "--seed", "31"],
            env=environment(postgres.home, **postgres.env()),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _until(lambda: "audit checkpoint:" in logs[0].read_text(), 90)
        finally:
            _, said = writer.communicate(timeout=180)
        assert writer.returncode == 0, said
    finally:
        for node in nodes:
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)
                node.wait(timeout=30)
    verified = secretum(postgres.home, "audit", "verify", **postgres.env())
    assert verified.returncode == 0, verified.stderr
