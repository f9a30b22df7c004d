"""E2's live evidence: the age of clamd's signature database, asked over its socket."""

from __future__ import annotations

import datetime as dt
from typing import Any

from secretum.documents import evidence
from secretum.lib import clamav

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def test_a_real_clamd_with_only_its_own_signatures_is_not_enough(scanner: str) -> None:
    found = evidence.antivirus_signatures()
    assert not found.met
    assert "no official signature database" in found.summary and "freshclam" in found.action


def test_no_clamd_is_not_met(settings: Any, tmp_path: Any) -> None:
    settings.SECRETUM_CLAMD_SOCKET = str(tmp_path / "none.sock")
    found = evidence.antivirus_signatures()
    assert not found.met and "does not answer" in found.summary


def test_the_database_age_decides(settings: Any) -> None:
    settings.SECRETUM_SIGNATURES_MAX_AGE_DAYS = 3
    fresh = clamav.Version("1.4.6", 27478, NOW - dt.timedelta(days=2, hours=23))
    stale = clamav.Version("1.4.6", 27400, NOW - dt.timedelta(days=3, hours=1))
    found = evidence.assess(fresh, NOW)
    assert found.met and "27478" in found.summary and "2026-11-27" in found.summary
    found = evidence.assess(stale, NOW)
    assert not found.met and "older than 3 days" in found.summary
