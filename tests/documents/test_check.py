"""`secretum check` says whether the antivirus that scans every document answers (E2)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.core.management.base import CommandError

from secretum.core import host_checks
from tests.documents import version_reply


def test_check_names_a_real_clamd_without_official_signatures(scanner: str) -> None:
    line = host_checks.antivirus_line(scanner)
    assert line.startswith("Antivirus (E2): ClamAV ")
    assert f"answers at {scanner}, without an official signature database" in line


def test_check_says_uploads_are_refused_when_clamd_is_silent(tmp_path: Path) -> None:
    line = host_checks.antivirus_line(str(tmp_path / "none.sock"))
    assert "cannot reach clamd at" in line
    assert "document uploads and the scan intake are refused" in line


def test_check_gives_the_signatures_date() -> None:
    socket = version_reply.answering("ClamAV 1.4.6/27478/Sun Nov 29 09:35:28 2026")
    line = host_checks.antivirus_line(socket)
    assert line.endswith("signatures version 27478 of 2026-11-29.")


def test_the_check_command_prints_it(scanner: str, capsys: Any, db: Any) -> None:
    # A test instance may have warnings (the check then fails): the status lines come first.
    with contextlib.suppress(CommandError):
        call_command("secretum_check")
    assert "Antivirus (E2): ClamAV" in capsys.readouterr().out
