"""Backups inside the running application (I1, I3, I4): on the test database, SQLite or
PostgreSQL (SECRETUM_DATABASE_URL), the restore drill, the schedule (retention, second target,
alerts) and the freshness /healthz reads (G4)."""

from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from secretum.access.policy import Role
from secretum.backup import archive, restore, schedule, service, snapshot
from secretum.backup.archive import BackupError
from secretum.backup.models import BackupRecord
from secretum.compliance import evidence
from secretum.core.management.commands import serve
from secretum.patients import services as patients
from tests.conftest import actor_for, events, identity, make_user


def record_backup(folder: Path, at: dt.datetime | None = None) -> BackupRecord:
    """A small backup file, encrypted and signed as `secretum backup create` writes one (its
    database part a stand-in), recorded as made: for the register's cases."""
    from django.conf import settings

    key, instance = snapshot.keys_of(settings.INSTANCE)
    at = at or timezone.now()
    path = folder / service.backup_name(at)
    with open(path, "wb") as out:
        writer = archive.Writer(out, key, {"instance": instance, "created_at": at.isoformat()})
        writer.add("database.sqlite3", io.BytesIO(b"stand-in"))
        signed = writer.finish({"tables": {}}, snapshot.signing_key(settings.INSTANCE.home))
    return BackupRecord.objects.create(
        kind="create", ok=True, at=at, path=str(path), size=path.stat().st_size, manifest=signed
    )


def _verdict(measure: str) -> evidence.Evidence:
    return evidence.gather([measure])[measure]


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_drill_on_this_database(tmp_path: Path) -> None:
    """I1, I3, I4 on SQLite and on PostgreSQL: made while the application runs, verified,
    restored into a scratch folder (and database), opened and checked, recorded."""
    doctor = make_user(Role.PRACTITIONER)
    for _ in range(3):
        patients.register_patient(actor_for(doctor), identity())
    assert _verdict("I1").verdict == "not-met" and _verdict("I3").verdict == "not-met"
    made = service.create(tmp_path, progress=False)
    assert made.tables["patients_patient"] == 3
    (exported,) = events(action="export", resource="backup.Backup")
    assert made.path.name.startswith(exported.resource_ref)  # D1: the export is audited
    reading = service.verify(made.path, progress=False)
    assert reading.header["engine"] == snapshot.engine()
    opened = restore.drill(made.path, progress=False)
    assert opened.ok, opened.findings
    assert opened.findings["sampled"] == 3
    assert BackupRecord.objects.filter(kind="drill", ok=True).count() == 1
    assert not list(Path(tmp_path).glob(".*"))
    for measure in ("I1", "I3", "I4"):
        assert _verdict(measure).verdict == "met", _verdict(measure).summary


@pytest.mark.django_db(transaction=True)
def test_a_drill_of_a_damaged_backup_fails_and_is_recorded(tmp_path: Path) -> None:
    made = service.create(tmp_path, progress=False)
    data = bytearray(made.path.read_bytes())
    data[-50] ^= 1
    made.path.write_bytes(bytes(data))
    opened = restore.drill(made.path, progress=False)
    assert not opened.ok and "fails authentication" in opened.summary
    found = _verdict("I3")
    assert found.verdict == "not-met" and "failed" in found.summary


def test_grandfather_father_son_keeps_the_newest_of_each_period() -> None:
    """Daily backups from Thursday 1 January 2026 to Thursday 30 April (and an earlier one that
    last day): 7 days, 4 ISO weeks, 3 months kept."""
    start = dt.datetime(2026, 1, 1, 3, tzinfo=dt.UTC)
    days = [(Path(f"b{n}"), start + dt.timedelta(days=n)) for n in range(120)]
    twice = [(Path("b119-early"), start + dt.timedelta(days=119, hours=-2)), *days]
    keep = {p.name for p in schedule.to_keep(twice, daily=7, weekly=4, monthly=3)}
    daily = {f"b{n}" for n in range(113, 120)}  # 24 to 30 April
    weekly = {"b108", "b101"}  # Sundays 19 and 12 April (26 April and this week: daily)
    monthly = {"b89", "b58"}  # 31 March, 28 February (April: b119)
    assert keep == daily | weekly | monthly


@pytest.mark.django_db(transaction=True)
def test_scheduled_backups_are_pruned_copied_and_failures_alerted(
    tmp_path: Path, settings: Any
) -> None:
    """I1: retention in the backup folder, a copy to the second target, and the managers
    e-mailed when the copy fails; the register shows it."""
    manager = make_user(Role.MANAGER)
    manager.email = "manager@example.test"
    manager.save()
    settings.SECRETUM_SMTP_HOST = "smtp.example.test"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SECRETUM_BACKUP_COPY_TO = str(tmp_path / "copies")
    settings.SECRETUM_BACKUP_KEEP_DAILY = 1
    settings.SECRETUM_BACKUP_KEEP_WEEKLY = 0
    settings.SECRETUM_BACKUP_KEEP_MONTHLY = 0
    folder = tmp_path / "backups"
    old = record_backup(tmp_path, timezone.now() - dt.timedelta(days=3))
    folder.mkdir()
    Path(old.path).rename(folder / Path(old.path).name)
    killed, writing = folder / ".killed.scbk.partial", folder / ".writing.scbk.partial"
    killed.write_bytes(b"left by a killed backup")
    writing.write_bytes(b"being written")
    yesterday = (timezone.now() - dt.timedelta(hours=25)).timestamp()
    os.utime(killed, (yesterday, yesterday))
    lines = schedule.run_scheduled(folder)
    assert lines[0].startswith(str(folder)) and any("retention: deleted" in x for x in lines)
    assert [p.name for p in service.listed(folder)] == [Path(lines[0]).name]
    assert not killed.exists() and writing.exists()
    assert [p.name for p in service.listed(tmp_path / "copies")] == [Path(lines[0]).name]
    assert schedule.backup_is_fresh()
    assert _verdict("I1").verdict == "met"
    (tmp_path / "blocked").write_text("a file where the copy folder should be")
    settings.SECRETUM_BACKUP_COPY_TO = str(tmp_path / "blocked")
    with pytest.raises(BackupError, match="failed"):
        schedule.run_scheduled(folder)
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["manager@example.test"]
    assert "copy" in mail.outbox[0].body
    found = _verdict("I1")
    assert found.verdict == "not-met" and "failed" in found.summary


@pytest.mark.django_db
def test_freshness_needs_a_good_backup_younger_than_48_hours(tmp_path: Path) -> None:
    """G4: what /healthz reads."""
    assert not schedule.backup_is_fresh()
    made = record_backup(tmp_path, timezone.now() - dt.timedelta(hours=47))
    assert schedule.backup_is_fresh()
    assert not schedule.backup_is_fresh(timezone.now() + dt.timedelta(hours=2))
    Path(made.path).unlink()
    assert not schedule.backup_is_fresh()
    assert _verdict("I1").verdict == "not-met"


@pytest.mark.django_db
def test_a_failed_backup_is_recorded_and_alerts_nobody_without_mail(
    tmp_path: Path, settings: Any
) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(BackupError, match="cannot be made"):
        schedule.run_scheduled(tmp_path / "file" / "backups")
    failed = BackupRecord.objects.get()
    assert not failed.ok and failed.scheduled
    assert not schedule.alert("test")  # no outgoing mail set up: the register says it
    assert _verdict("I1").verdict == "not-met"


def test_serve_runs_the_daily_backup(settings: Any) -> None:
    assert (("backup", "create"), 86400) in serve.periodic_tasks()
    settings.SECRETUM_BACKUP_EVERY = 0
    assert serve.periodic_tasks() == serve.PERIODIC


def test_a_forged_manifest_fails_i4(tmp_path: Path, db: Any) -> None:
    made = record_backup(tmp_path)
    assert made.manifest is not None
    made.manifest["manifest"]["tables"] = {"patients_patient": 1}
    made.save()
    found = _verdict("I4")
    assert found.verdict == "not-met" and "does not verify" in found.summary


def test_a_copy_never_overwrites_and_a_failed_copy_leaves_no_partial(tmp_path: Path) -> None:
    """I2, I4: the second target may be write-only for the server: a backup already there is
    never overwritten (its name is unique), and a copy that fails leaves no partial file that
    could be taken for a backup."""
    made = tmp_path / "secretum-backup-x.bak"
    made.write_bytes(b"fictitious backup bytes")
    target = tmp_path / "second"
    assert schedule.copy(made, target) == target / made.name
    (target / made.name).write_bytes(b"the copy as it was")
    with pytest.raises(BackupError, match="never overwrites a copy"):
        schedule.copy(made, target)
    assert (target / made.name).read_bytes() == b"the copy as it was"
    folder_not_file = tmp_path / "secretum-backup-y.bak"
    folder_not_file.mkdir()
    with pytest.raises(IsADirectoryError):
        schedule.copy(folder_not_file, target)
    assert sorted(p.name for p in target.iterdir()) == [made.name]


def test_what_is_not_a_backup_has_no_date_and_an_absent_folder_lists_none(
    tmp_path: Path,
) -> None:
    stray = tmp_path / "secretum-backup-z.bak"
    stray.write_bytes(b"not a backup")
    assert schedule.created_at(stray) is None
    assert schedule.created_at(tmp_path / "missing.bak") is None
    assert service.listed(tmp_path / "no-such-folder") == []
    with pytest.raises(BackupError, match="is not a file"):
        service.verify(tmp_path / "no-such-backup.bak", progress=False)
