"""`secretum keys test-recovery` (O2, I2): recovery material proven to rebuild this key file,
nothing written, the date recorded; the register's O2 and I2 evidence follows it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from secretum.audit.models import AuditEvent
from secretum.compliance import evidence
from secretum.crypto import custody, custody_records, recovery_io
from secretum.crypto.models import RecoveryMaterial
from secretum.init import create
from tests.crypto.test_custody import FAST, PASSPHRASE
from tests.crypto.test_recovery_cli import Pipe, _backup

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(custody, "STRONG", FAST)
    monkeypatch.delenv(recovery_io.PASSPHRASE_FILE_ENV, raising=False)
    monkeypatch.setenv(recovery_io.PASSPHRASE_ENV, PASSPHRASE)
    monkeypatch.setattr(sys, "stdin", Pipe(""))


def _test(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command("keys_test_recovery", *args, stdout=out, **options)
    return out.getvalue()


def _verdicts() -> dict[str, evidence.Evidence]:
    return evidence.gather(["O2", "I2"])


def test_a_fresh_instance_has_no_recovery_material_then_backup_and_test_meet_o2_and_i2(
    settings: Any, tmp_path: Path
) -> None:
    found = _verdicts()
    assert not found["O2"].met and not found["I2"].met
    assert "No recovery material of the key file" in found["I2"].summary
    key_before = settings.INSTANCE.key_file.read_bytes()
    (written,) = _backup(tmp_path, passphrase=True)
    made = RecoveryMaterial.objects.get()
    assert made.scheme == "passphrase" and made.tested_at is None and made.made_by
    found = _verdicts()
    assert "never tested" in found["I2"].summary and not found["O2"].met
    said = _test(str(written))
    assert "rebuilds this instance's key file (nothing written)" in said
    assert settings.INSTANCE.key_file.read_bytes() == key_before
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".pdf", ".txt"]
    found = _verdicts()
    assert found["O2"].met and found["I2"].met, (found["O2"].summary, found["I2"].summary)
    # D1: each step left its audit event, naming the set and who ran it, never a key.
    events = AuditEvent.objects.filter(resource=custody_records.RESOURCE).order_by("seq")
    assert [(e.action, e.resource_ref) for e in events] == [
        ("export", made.material),
        ("review", made.material),
    ]
    details = [json.loads(e.detail) for e in events]
    assert [d["scheme"] for d in details] == ["passphrase", "passphrase"]
    assert details[1]["phase"] == "test-recovery" and details[0]["os_user"]
    today = timezone.localdate().isoformat()
    assert found["I2"].summary == (
        f"Recovery material of the key file last made on {today}, last proven to rebuild it on "
        f"{today}."
    )
    assert found["I2"].summary in found["O2"].details


def test_a_test_older_than_the_limit_is_not_met(settings: Any, tmp_path: Path) -> None:
    first, second, _third = _backup(tmp_path, shares="2-of-3")
    _test(share=[str(first), str(second)])
    RecoveryMaterial.objects.update(tested_at=timezone.now() - dt.timedelta(days=366))
    assert "more than 365 days ago" in _verdicts()["I2"].summary
    settings.SECRETUM_RECOVERY_TEST_DAYS = 400
    assert _verdicts()["I2"].met
    _test(share=[str(second), str(first)])  # tested again: today
    settings.SECRETUM_RECOVERY_TEST_DAYS = 1
    assert _verdicts()["I2"].met


def test_material_of_another_instance_is_refused_before_any_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = create(tmp_path / "other").key_file.read_text()
    piece = custody.seal_with_shares(other, 2, 2)
    names = []
    for p in piece:
        path = tmp_path / f"share-{p.index}.txt"
        path.write_text(custody.to_text(p, []))
        names.append(str(path))
    with pytest.raises(CommandError, match=r"share 1 of 2 .* is not of this instance"):
        _test(share=names)
    assert RecoveryMaterial.objects.count() == 0


def test_material_of_an_earlier_key_file_is_refused(settings: Any, tmp_path: Path) -> None:
    """Same keys, another Django secret (the key file since edited): not the present one."""
    fields = json.loads(settings.INSTANCE.key_file.read_text())
    fields["django_secret_key"] = "an-earlier-secret-" + "x" * 40
    piece = custody.seal_with_passphrase(json.dumps(fields, indent=2), PASSPHRASE, FAST)
    path = tmp_path / "earlier.txt"
    path.write_text(custody.to_text(piece, []))
    with pytest.raises(CommandError, match="rebuilds an earlier version of this key file"):
        _test(str(path))
    assert _verdicts()["I2"].summary.startswith("No recovery material")


def test_a_wrong_passphrase_records_no_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (written,) = _backup(tmp_path, passphrase=True)
    monkeypatch.setenv(recovery_io.PASSPHRASE_ENV, "lamp orbit cellar tulips")
    with pytest.raises(custody.RecoveryError, match="wrong passphrase"):
        _test(str(written))
    assert RecoveryMaterial.objects.get().tested_at is None


def test_material_made_before_this_database_is_recorded_when_tested(
    settings: Any, tmp_path: Path
) -> None:
    piece = custody.seal_with_passphrase(
        settings.INSTANCE.key_file.read_text(), PASSPHRASE, FAST,
        now=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    )  # fmt: skip
    path = tmp_path / "old.txt"
    path.write_text(custody.to_text(piece, []))
    _test(str(path))
    row = RecoveryMaterial.objects.get()
    assert row.made_by == "" and row.made_at.date() == dt.date(2026, 1, 5) and row.tested_at
    assert "last made on 2026-01-05" in _verdicts()["I2"].summary


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not both"):
        _test()
    with pytest.raises(CommandError, match="not both"):
        _test(str(tmp_path), share=[str(tmp_path)])


def test_the_records_name_no_key(settings: Any, tmp_path: Path) -> None:
    """What the database holds of recovery material: ids, scheme and dates, never a key."""
    _backup(tmp_path, shares="3-of-3")
    row = RecoveryMaterial.objects.get()
    stored = " ".join(str(v) for v in vars(row).values())
    for field in ("kek", "blind_index_key", "django_secret_key"):
        assert json.loads(settings.INSTANCE.key_file.read_text())[field] not in stored
    assert str(row) == f"RecoveryMaterial {row.material} (3-of-3)"
    assert custody_records.instance_id().hex() == row.instance


def test_the_shape_of_a_record_follows_the_material() -> None:
    piece = custody.Material(custody.Kind.SHARE, bytes(16), bytes(8), 0, bytes([2, 3]), b"", b"")
    assert custody_records._scheme(dataclasses.replace(piece, index=1)) == "2-of-3"
