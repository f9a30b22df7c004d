"""J2: `secretum records due` lists by reference, and names the destructions that wait for a
key rotation."""

from __future__ import annotations

import io
from typing import Any

from django.core.management import call_command

from secretum import cli
from secretum.retention import services
from tests.conftest import actor_for, events


def _due() -> str:
    out = io.StringIO()
    call_command("records_due", stdout=out)
    return out.getvalue()


def test_the_command_lists_the_due_records_by_reference(old_record: str, manager: Any) -> None:
    assert cli._command_name(["records", "due"]) == ("records_due", [])
    assert "records due" in cli.USAGE
    printed = _due()
    assert "30 years after the last contact; 1 records due" in printed
    assert old_record in printed and "retention ended" in printed
    assert "Zyxwvutska" not in printed
    assert events(resource="patients.Patient", action="search")[-1].actor is None
    services.destroy_record(actor_for(manager), old_record)
    printed = _due()
    assert old_record not in printed
    assert "1 destroyed records stay readable in old backups" in printed
    assert "secretum keys rotate" in printed
