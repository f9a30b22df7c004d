"""H2, live: the access log format in use (the one ``secretum serve`` gives its workers, which a
site may set with SECRETUM_SERVE_ACCESS_LOG_FORMAT) and Django's LOGGING write the path, never a
query string, a header or a user's name. Before issue 11 the register said so as fixed text."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from secretum.compliance import evidence
from secretum.core.evidence import access_log_problems
from secretum.lib import workers

DEFAULT_LOGGING = {"formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(message)s"}}}


def _live_h2() -> evidence.Evidence:
    (proof,) = [p for p in evidence.gather(["H2"])["H2"].proofs if p.live]
    return proof


def test_the_format_the_workers_get_is_the_one_the_register_reads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(workers.ACCESS_LOG_FORMAT_VARIABLE, raising=False)
    assert workers.config(tmp_path, 1, 1, 1)["access_log_format"] == workers.ACCESS_LOG_FORMAT
    monkeypatch.setenv(workers.ACCESS_LOG_FORMAT_VARIABLE, '%(h)s "%(r)s"')
    assert workers.config(tmp_path, 1, 1, 1)["access_log_format"] == '%(h)s "%(r)s"'


def test_a_format_that_logs_query_strings_fails_h2_and_secretums_own_passes(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(workers.ACCESS_LOG_FORMAT_VARIABLE, '%(h)s %(t)s "%(r)s" %(s)s')
    found = _live_h2()
    assert not found.met
    assert found.summary == (
        "The access log writes more than the path: a query string or personal data."
    )
    assert found.details == ("%(r)s: the request line, with its query string",)
    assert "SECRETUM_SERVE_ACCESS_LOG_FORMAT" in found.action
    row_reason = evidence.gather(["H2"])["H2"].summary
    assert row_reason == found.summary  # the measure fails with it
    monkeypatch.delenv(workers.ACCESS_LOG_FORMAT_VARIABLE)
    found = _live_h2()
    assert found.met and found.details == (workers.ACCESS_LOG_FORMAT,)
    assert "the path without its query string" in found.summary


@pytest.mark.parametrize(
    ("log_format", "said"),
    [
        ("%(q)s", "%(q)s: the query string"),
        ("%(f)s", "%(f)s: the referring address, with its query string"),
        ("%(u)s", "%(u)s: the user's name"),
        ("%(a)s", "%(a)s: the browser's description"),
        ("%({cookie}i)s", "%({cookie}i)s: the header cookie"),
        ("%({Location}o)s", "%({Location}o)s: the header location"),
        ("%({QUERY_STRING}e)s", "%({QUERY_STRING}e)s: the variable query_string"),
        ("%(zz)s", "%(zz)s: zz"),
    ],
)
def test_each_atom_beyond_the_path_is_named(log_format: str, said: str) -> None:
    (problem,) = access_log_problems(f"%(h)s {log_format} %(U)s", DEFAULT_LOGGING)
    assert problem.startswith(said)


def test_the_path_the_status_and_the_request_id_are_safe() -> None:
    safe = '%(h)s %(l)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(b)s %(M)s %(D)s %(L)s %(T)s %(p)s'
    assert access_log_problems(safe + " %({X-Request-Id}i)s %({content-type}o)s", {}) == []
    assert access_log_problems(workers.ACCESS_LOG_FORMAT, DEFAULT_LOGGING) == []


def test_a_log_formatter_that_writes_the_request_fails_h2(settings: Any, db: Any) -> None:
    logging = copy.deepcopy(settings.LOGGING)
    logging["formatters"]["plain"] = {"format": "%(asctime)s %(message)s %(request)s"}
    settings.LOGGING = logging
    found = _live_h2()
    assert not found.met
    assert found.details == ("the log formatter plain writes the request",)
