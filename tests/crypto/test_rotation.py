"""KEK rotation (E10, G3, O1, O2; issue 13): `secretum keys rotate` on real data, interrupted
and resumed, retiring only what nothing uses, with old blobs still read and the key file's
binding, backups and recovery material kept in step.

Each test runs on a copy of the session's key file in a folder of its own (``rotated_home``):
the test database is bound to that key file's fingerprint, which a rotation must keep.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyotp
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from secretum import instance
from secretum.access.policy import Role
from secretum.accounts import services as accounts
from secretum.accounts.models import Factor
from secretum.audit.models import AuditEvent
from secretum.backup import restore, service, snapshot
from secretum.breaches import services as breaches
from secretum.compliance import evidence
from secretum.crypto import binding, custody, inventory, keyring, recovery_io, rotation
from secretum.documents import intake, tray
from secretum.documents.models import UnfiledDocument
from secretum.lib.clamav import Verdict
from secretum.maintenance import services as maintenance
from secretum.maintenance.models import MaintenanceEntry
from secretum.patients import integrity
from secretum.patients import services as patients
from secretum.patients.models import Patient
from tests.audit.elsewhere import witness_elsewhere
from tests.conftest import TEST_TOTP_SECRET, actor_for, identity, make_user
from tests.core.test_instance_key import ROOT, SECRETUM, secretum
from tests.crypto.test_custody import FAST, PASSPHRASE
from tests.crypto.test_recovery_cli import Pipe, _backup
from tests.instances import initialised

CLEAN = Verdict(clean=True)


@pytest.fixture
def home(settings: Any, tmp_path: Path) -> Any:
    """The session's instance folder (its key file, its audit keys), copied into a folder of this
    test's own."""
    own = tmp_path / "var"
    shutil.copytree(settings.INSTANCE.home, own, ignore=shutil.ignore_patterns("*.sqlite3*"))
    settings.INSTANCE = instance.Instance(own)
    keyring.reset_cache()
    yield settings.INSTANCE
    keyring.reset_cache()


def environment(home: Path) -> dict[str, str]:
    """The environment of `secretum` on the instance ``home`` (as tests/core/test_instance_key)."""
    found = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SECRETUM_") and k not in ("DJANGO_SETTINGS_MODULE", "PYTEST_VERSION")
    }
    found.update(
        SECRETUM_HOME=str(home),
        SECRETUM_AUDIT_WITNESS=str(witness_elsewhere(str(home))),
        PYTHONUNBUFFERED="1",
    )
    return found


def _key_file(inst: instance.Instance) -> dict[str, Any]:
    return dict(json.loads(inst.key_file.read_text()))


def _rotate(**options: Any) -> str:
    out = io.StringIO()
    call_command("keys_rotate", stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """No grace period: no other process writes here."""
    monkeypatch.setattr(rotation, "GRACE_SECONDS", 0.0)


def _every_patient_opens() -> int:
    opened = 0
    for row in Patient.objects.all():
        key = keyring.unwrap_data_key(row.wrapped_key, patients.key_aad(row))
        assert row.unseal(key, "family_name")
        assert integrity.intact(row), row.uid
        opened += 1
    return opened


def _data(practitioner: Any) -> dict[str, Any]:
    """Patients (the demo's), an authenticator seed, a breach, a maintenance log entry."""
    call_command("demo", patients=5, seed=11, stdout=io.StringIO())
    actor = actor_for(practitioner)
    kept = patients.register_patient(actor, identity(family_name="Vandermeulen"))
    breach = breaches.report_breach(
        actor_for(make_user(Role.MANAGER)),
        aware_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1),
        what_happened="Un ordinateur portable fictif perdu dans le train.",
    )
    entry = maintenance.append_entry(
        actor,
        dt.datetime.now(dt.UTC),
        {"what": "Mise à jour fictive"},
        {"outside": False, "on_workstation": False, "consent": False},
    )
    scan = intake.to_tray("courrier-fictif.pdf", b"%PDF-1.4 fictif", "application/pdf", CLEAN)
    return {"patient": kept, "breach": breach, "entry": entry, "scan": scan}


def test_a_rotation_rewraps_everything_keeps_it_readable_and_retires_version_1(
    home: Any, practitioner: Any, quick: None
) -> None:
    """E10, O2: after a full rotation every record still opens and verifies, a TOTP code still
    logs in, a search by name still finds its patient, the breach and the maintenance log
    still read; no blob names version 1 and the key file no longer holds it; the fingerprint
    binding the key file to the database did not change."""
    data = _data(practitioner)
    before = keyring.key_fingerprint()
    first = _key_file(home)["kek"]
    out = _rotate()
    assert "retired: 1" in out and "make new recovery material" in out
    found = _key_file(home)
    assert found["kek_version"] == 2 and "older_keks" not in found and found["kek"] != first
    assert found["retired_keks"] == {"1": first}  # kept one rotation longer, for opening only
    assert found["fingerprint"] == before and keyring.key_fingerprint() == before
    assert found["rotated_at"].startswith(dt.date.today().isoformat()[:4])
    assert home.key_file.stat().st_mode & 0o777 == 0o600
    binding.require_key_belongs()  # the database still accepts the key file
    # Every blob names version 2 now.
    for use in rotation.uses():
        assert set(rotation.in_use(use)) <= {2}, use.name
    assert bytes(Patient.objects.first().wrapped_key)[:3] == b"\x02\x00\x02"  # type: ignore[union-attr]
    assert _every_patient_opens() == 6
    call_command("records_verify", stdout=io.StringIO())
    user = practitioner
    assert accounts.verify_totp(user, pyotp.TOTP(TEST_TOTP_SECRET).now()) is not None
    found_patients = patients.search_patients(actor_for(practitioner), "Vandermeulen").patients
    assert [p.uid for p in found_patients] == [data["patient"].uid]
    assert "portable fictif" in json.dumps(
        breaches.access_breach(actor_for(make_user(Role.MANAGER)), data["breach"]).narrative
    )
    entry = MaintenanceEntry.objects.get(pk=data["entry"].pk)
    assert maintenance._open(entry.sealed, entry.uid) == {"what": "Mise à jour fictive"}
    scan = UnfiledDocument.objects.get(uid=data["scan"])
    assert tray._content(scan) == ("courrier-fictif.pdf", b"%PDF-1.4 fictif")
    # The append-only guard of the maintenance log is back.
    with pytest.raises(Exception, match="append-only"):
        with connection.cursor() as cursor:
            cursor.execute("UPDATE maintenance_maintenanceentry SET sealed = sealed")


def test_a_second_rotation_goes_to_version_3(home: Any, practitioner: Any, quick: None) -> None:
    patients.register_patient(actor_for(practitioner), identity())
    _rotate()
    out = _rotate()
    assert "retired: 2 (kept in the key file until the next rotation); removed: 1" in out
    assert _key_file(home)["kek_version"] == 3 and "older_keks" not in _key_file(home)
    assert list(_key_file(home)["retired_keks"]) == ["2"]
    assert home.read_key_versions().older == [] and home.read_key_versions().retired == {2}
    assert _every_patient_opens() == 1


def test_a_write_committed_after_the_final_scan_still_opens_until_the_next_rotation(
    home: Any, practitioner: Any, quick: None
) -> None:
    """E10, O2: the race docs/keys.md named. A request sealed under version 1 before the key
    file was replaced and commits only after the rotation's final scan: version 1 is retired
    but kept, so its value opens; the next rotation re-wraps it, then removes version 1."""
    old_factor = Factor.objects.filter(user=practitioner).get()
    v1_seed = bytes(old_factor.totp_secret)  # type: ignore[arg-type]
    v1_seal = bytes(old_factor.row_seal)  # type: ignore[arg-type]
    summary = rotation.run(grace=0)
    assert summary.retired == [1] and summary.removed == []
    # The late commit: the seed and its row seal, as the request wrote them.
    Factor.objects.filter(pk=old_factor.pk).update(totp_secret=v1_seed, row_seal=v1_seal)
    keyring.reset_cache()  # another process: the key file read afresh
    assert keyring.current_kek_version() == 2
    assert accounts.verify_totp(practitioner, pyotp.TOTP(TEST_TOTP_SECRET).now()) is not None
    assert rotation.in_use(rotation.named("accounts.Factor.totp_secret"))[1] == 1
    again = rotation.run(grace=0)
    assert again.removed == [1] and again.retired == [2] and again.in_use[1] == 0
    assert bytes(Factor.objects.get(pk=old_factor.pk).totp_secret)[:3] == b"\x02\x00\x03"  # type: ignore[arg-type]
    assert 1 not in home.read_key_versions().keks
    later = pyotp.TOTP(TEST_TOTP_SECRET).at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    assert accounts.verify_totp(practitioner, later) is not None


class Killed(Exception):
    """The process dies here (a test's stand-in for SIGKILL)."""


def test_a_rotation_killed_halfway_leaves_everything_readable_and_resumes(
    home: Any, practitioner: Any, quick: None
) -> None:
    """E10: stopped after its second batch, the rotation has re-wrapped some data keys and not
    others; the key file holds both versions, so every record opens; run again, it carries on
    under the same new version (no third key) and retires version 1."""
    actor = actor_for(practitioner)
    for _ in range(7):
        patients.register_patient(actor, identity())
    batches = []

    def die_after_two(use: rotation.KekUse, counts: rotation.Counts) -> None:
        batches.append(use.name)
        if len(batches) == 2:
            raise Killed

    with pytest.raises(Killed):
        rotation.run(die_after_two, batch=2)
    halfway = _key_file(home)
    assert halfway["kek_version"] == 2 and list(halfway["older_keks"]) == ["1"]
    versions = rotation.in_use(rotation.named("patients.Patient.wrapped_key"))
    assert versions[1] and versions[2]  # some re-wrapped, some not
    keyring.reset_cache()  # a new process
    assert _every_patient_opens() == 7
    binding.require_key_belongs()
    patients.register_patient(actor, identity())  # the server writes under the new version
    out = _rotate()
    assert "Key rotation resumed" in out and "retired: 1" in out
    assert _key_file(home)["kek_version"] == 2 and "older_keks" not in _key_file(home)
    assert _key_file(home)["kek"] == halfway["kek"]
    assert _every_patient_opens() == 8


def test_a_version_still_used_is_not_retired(home: Any, practitioner: Any, quick: None) -> None:
    """O2: a data key that does not open (altered outside Secretum) cannot be re-wrapped: the
    rotation says so, and version 1 stays in the key file, so nothing is lost; the altered
    record's seal is not renewed (never laundered)."""
    actor = actor_for(practitioner)
    good = patients.register_patient(actor, identity())
    bad = patients.register_patient(actor, identity())
    other = Patient.objects.get(uid=good.uid)
    original = bytes(Patient.objects.get(uid=bad.uid).wrapped_key)
    # Another patient's wrapped key written over this one's: valid under the KEK, wrong aad.
    Patient.objects.filter(uid=bad.uid).update(wrapped_key=bytes(other.wrapped_key))
    with pytest.raises(CommandError, match=r"1 values did not open.*versions still in use: 1"):
        _rotate()
    found = _key_file(home)
    assert found["kek_version"] == 2 and list(found["older_keks"]) == ["1"]
    assert not integrity.intact(Patient.objects.get(uid=bad.uid))
    assert integrity.intact(Patient.objects.get(uid=good.uid))
    # Put right (the row's own key written back from a backup), a new run retires version 1.
    Patient.objects.filter(uid=bad.uid).update(wrapped_key=original)
    assert "retired: 1" in _rotate()
    assert _every_patient_opens() == 2


def test_a_row_rewritten_meanwhile_is_not_overwritten(
    home: Any, practitioner: Any, quick: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server writes a row between the rotation's read and its write: the conditional
    UPDATE leaves the server's value, and the next pass re-wraps it."""
    seeded = patients.register_patient(actor_for(practitioner), identity())
    real = keyring.rewrap_data_key
    raced = []

    def racing(wrapped: Any, aad: str) -> bytes:
        new = real(wrapped, aad)
        if not raced:  # the server writes the row (here: another valid blob, sealed) meanwhile
            raced.append(real(wrapped, aad))
            row = Patient.objects.get(uid=seeded.uid)
            row.wrapped_key = raced[0]
            Patient.objects.filter(pk=row.pk).update(
                wrapped_key=raced[0], record_seal=integrity.seal_of(row)
            )
        return new

    monkeypatch.setattr(keyring, "rewrap_data_key", racing)
    use = rotation.named("patients.Patient.wrapped_key")
    rotation.start()
    counts = rotation.rewrap(use, 2)
    assert counts.changed == 1 and counts.rewrapped == 0
    assert bytes(Patient.objects.get(uid=seeded.uid).wrapped_key) == raced[0]
    assert _every_patient_opens() == 1


def test_blobs_of_version_1_are_still_read_and_new_ones_name_their_version(
    home: Any, practitioner: Any
) -> None:
    """A blob in the format before rotation (0x01) opens under version 1 of a rotated key file;
    a blob sealed after it names version 2 (0x02 0x0002); a blob naming a version the key file
    does not hold is refused by name."""
    old = keyring.seal_secret(b"graine fictive", "test:1")
    assert old[:1] == b"\x01" and keyring.kek_version_of(old) == 1
    rotation.start()
    new = keyring.seal_secret(b"graine fictive", "test:1")
    assert new[:3] == b"\x02\x00\x02" and keyring.kek_version_of(new) == 2
    assert keyring.open_secret(old, "test:1") == keyring.open_secret(new, "test:1")
    assert keyring.reseal_secret(old, "test:1")[:3] == b"\x02\x00\x02"
    unknown = b"\x02\x00\x07" + new[3:]
    with pytest.raises(keyring.DecryptionError, match="no key-encryption key of version 7"):
        keyring.open_secret(unknown, "test:1")
    for cut in (b"\x02\x00", b"\x02\x00\x02" + bytes(27), b"\x03" + bytes(40)):
        with pytest.raises(keyring.DecryptionError, match="unknown sealed-secret format"):
            keyring.open_secret(cut, "test:1")
    assert keyring.kek_version_named(b"\x02\x00") is None
    assert keyring.kek_version_named(b"\x05") is None


def test_a_running_process_reads_the_new_key_file_when_it_meets_its_version(
    home: Any, practitioner: Any
) -> None:
    """The server keeps serving through a rotation started by another process: its cached keys
    are read again when it meets a blob of a version it has not loaded, and before it seals
    anything once the key file was replaced (never a new blob under a retiring version)."""
    before = home.key_file.read_bytes()
    rotation.start()
    rotated = home.key_file.read_bytes()
    v2_blob = keyring.seal_secret(b"x", "t")
    instance.replace_private(home.key_file, before)
    keyring.reset_cache()
    assert keyring.current_kek_version() == 1  # the server's view before the rotation
    instance.replace_private(home.key_file, rotated)  # another process rotates
    assert keyring.open_secret(v2_blob, "t") == b"x"  # read again on meeting version 2
    instance.replace_private(home.key_file, before)
    keyring.reset_cache()
    keyring.key_fingerprint()  # loaded: version 1 only
    instance.replace_private(home.key_file, rotated)
    assert keyring.seal_secret(b"y", "t")[:3] == b"\x02\x00\x02"  # the replaced file noticed
    home.key_file.unlink()
    assert keyring.seal_secret(b"z", "t")[:3] == b"\x02\x00\x02"  # a vanished file: kept keys


def test_one_rotation_at_a_time(home: Any, db: Any) -> None:
    with rotation.exclusive():
        with pytest.raises(rotation.RotationError, match="another key rotation is running"):
            with rotation.exclusive():
                pass


def test_the_command_refuses_nonsense_options(home: Any, db: Any) -> None:
    with pytest.raises(CommandError, match="--batch is at least 1"):
        _rotate(batch=0)


def test_the_command_pauses_between_batches_when_asked(
    home: Any, practitioner: Any, quick: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    patients.register_patient(actor_for(practitioner), identity())
    slept: list[float] = []
    monkeypatch.setattr("secretum.crypto.management.commands.keys_rotate.time.sleep", slept.append)
    assert "re-wrapped" in _rotate(pause=0.01)
    assert slept and set(slept) == {0.01}


def test_a_rotation_waits_its_grace_period_before_it_retires(
    home: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    waited: list[float] = []
    rotation.run(sleep=waited.append)
    assert len(waited) == 1 and 0 < waited[0] <= rotation.GRACE_SECONDS


def test_a_blob_written_under_the_old_version_after_the_first_pass_is_caught(
    home: Any, practitioner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that sealed under version 1 just before the key file was replaced commits after
    the first pass: the scan after the grace period finds it and a second pass re-wraps it."""
    old_factor = Factor.objects.filter(user=practitioner).get()
    v1_seed = bytes(old_factor.totp_secret)  # type: ignore[arg-type]

    def late_commit(seconds: float) -> None:
        Factor.objects.filter(pk=old_factor.pk).update(totp_secret=v1_seed)

    summary = rotation.run(sleep=late_commit)
    assert summary.retired == [1] and summary.in_use[1] == 0
    assert bytes(Factor.objects.get(pk=old_factor.pk).totp_secret)[:3] == b"\x02\x00\x02"  # type: ignore[arg-type]


def test_a_real_rotation_killed_with_sigkill_resumes(tmp_path: Path) -> None:
    """E10 end to end, on a real instance: `secretum keys rotate` killed (SIGKILL) after its
    first batch; every record still verifies; run again, it resumes and retires version 1."""
    home = initialised(tmp_path / "var", ("--patients", "12", "--seed", "5"))
    command = [*SECRETUM, "keys", "rotate", "--batch", "2", "--pause", "0.5"]
    with subprocess.Popen(
        command, env=environment(home), cwd=ROOT, stdout=subprocess.PIPE, text=True
    ) as running:
        assert running.stdout is not None
        for line in running.stdout:
            if "re-wrapped" in line:
                break
        os.kill(running.pid, signal.SIGKILL)
    assert running.wait() == -signal.SIGKILL
    halfway = json.loads((home / "secretum.key").read_text())
    assert halfway["kek_version"] == 2 and list(halfway["older_keks"]) == ["1"]
    verified = secretum(home, "records", "verify")
    assert verified.returncode == 0 and "12 records verified" in verified.stdout, verified.stderr
    again = secretum(home, "keys", "rotate")
    assert again.returncode == 0, again.stderr
    assert "Key rotation resumed" in again.stdout and "retired: 1" in again.stdout
    assert "older_keks" not in json.loads((home / "secretum.key").read_text())
    assert "12 records verified" in secretum(home, "records", "verify").stdout
    checked = secretum(home, "check")
    assert "KEK version 2" in checked.stdout and "older versions still held: none" in checked.stdout


def test_recovery_material_made_before_a_rotation_is_flagged_and_new_material_recovers(
    home: Any, db: Any, quick: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """O2, I2: material made before a rotation rebuilds the key file as it was (version 1 only):
    the register says it is older than the last rotation and must be made again; material made
    after it names the same instance (the pinned fingerprint) and rebuilds the rotated file."""
    monkeypatch.setattr(custody, "STRONG", FAST)
    monkeypatch.setenv(recovery_io.PASSPHRASE_ENV, PASSPHRASE)
    monkeypatch.setattr(sys, "stdin", Pipe(""))
    before = tmp_path / "before"
    before.mkdir()
    (old,) = _backup(before, passphrase=True)
    call_command("keys_test_recovery", str(old), stdout=io.StringIO())
    assert evidence.gather(["O2"])["O2"].met
    _rotate()
    found = evidence.gather(["O2", "I2"])
    assert not found["O2"].met and not found["I2"].met
    assert "older than its last key rotation" in found["O2"].summary
    with pytest.raises(CommandError, match="rebuilds an earlier version of this key file"):
        call_command("keys_test_recovery", str(old), stdout=io.StringIO())
    after = tmp_path / "after"
    after.mkdir()
    time.sleep(1.1)  # material names its second: one of the rotation's counts as older
    (new,) = _backup(after, passphrase=True)
    assert "never tested" in evidence.gather(["O2"])["O2"].summary
    piece = custody.from_text(new.read_text())
    assert piece.instance == custody.from_text(old.read_text()).instance
    assert json.loads(custody.open_material([piece], PASSPHRASE)) == _key_file(home)
    call_command("keys_test_recovery", str(new), stdout=io.StringIO())
    assert evidence.gather(["O2"])["O2"].met


@pytest.mark.django_db(transaction=True)
def test_a_backup_made_before_a_rotation_opens_and_restores_with_the_key_file_of_its_time(
    home: Any, quick: None, tmp_path: Path
) -> None:
    """I3, I4, O2: the backup key and the instance id are pinned, so a backup made before the
    rotation still verifies and opens with the rotated key file. Its data keys are wrapped under
    version 1: once retired, the backup restores with the key file of its time (what the
    previous recovery material rebuilds, kept until those backups expire), not with the new
    one; the rotated restore is refused, never half-read."""
    doctor = make_user(Role.PRACTITIONER)
    for _ in range(2):
        patients.register_patient(actor_for(doctor), identity())
    made = service.create(tmp_path / "backups", progress=False)
    then = tmp_path / "secretum.key.then"
    shutil.copy2(home.key_file, then)
    keys_then = snapshot.keys_of(home)
    _rotate()
    assert snapshot.keys_of(home) == keys_then
    reading = service.verify(made.path, progress=False)  # signature, parts, decryption
    assert reading.header["instance"] == keys_then[1]
    # Version 1 is kept one rotation longer: the rotated key file still restores the backup.
    assert restore.drill(made.path, progress=False).ok
    _rotate()  # the next rotation removes version 1
    assert not restore.drill(made.path, progress=False).ok  # version 1 is gone from this file
    # The key file of its time (as the previous recovery material rebuilds it): the drill
    # restores the backup into a scratch folder (and database) with it, opens and checks it.
    instance.replace_private(home.key_file, then.read_bytes())
    keyring.reset_cache()
    opened = restore.drill(made.path, progress=False)
    assert opened.ok and opened.findings["sampled"] == 2, opened.findings


def _write(tmp_path: Path, **fields: Any) -> instance.Instance:
    base = json.loads(settings_key_text())
    base.update(fields)
    home = tmp_path / "k"
    home.mkdir(exist_ok=True)
    (home / "secretum.key").unlink(missing_ok=True)
    instance.write_private(home / "secretum.key", json.dumps(base).encode())
    return instance.Instance(home)


def settings_key_text() -> str:
    from django.conf import settings

    return str(settings.INSTANCE.key_file.read_text())


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"kek_version": 0}, "'kek_version' of the key file .* is not a version"),
        ({"kek_version": "2"}, "'kek_version' of the key file .* is not a version"),
        ({"kek_version": 2, "older_keks": []}, "'older_keks' .* is not an object"),
        ({"kek_version": 2, "older_keks": {"2": ""}}, "names a version '2' that is not older"),
        ({"kek_version": 2, "older_keks": {"x": ""}}, "names a version 'x' that is not older"),
        ({"kek_version": 2, "older_keks": {"1": "AAAA"}}, "field '1' .* holds a 3-byte key"),
        ({"fingerprint": "ab"}, "'fingerprint' of the key file .* is malformed"),
        ({"fingerprint": "G" * 64}, "'fingerprint' of the key file .* is malformed"),
        ({"backup_key": "!"}, "'backup_key' of the key file .* is not valid base64"),
        ({"rotated_at": "yesterday"}, "'rotated_at' of the key file .* is not a moment"),
        ({"rotated_at": "2026-11-30T10:00:00"}, "'rotated_at' of the key file .* is not a moment"),
    ],
)
def test_a_damaged_versioned_key_file_is_refused_by_field(
    tmp_path: Path, fields: dict[str, Any], said: str
) -> None:
    """O2: each new field of a rotated key file is checked, one sentence naming it."""
    with pytest.raises(instance.InstanceError, match=said):
        _write(tmp_path, **fields).read_key_versions()


def test_a_key_file_without_versions_is_version_1(tmp_path: Path) -> None:
    """The format before rotation: one `kek`, version 1, nothing pinned."""
    found = _write(tmp_path).read_key_versions()
    assert found.current == 1 and found.older == [] and list(found.keks) == [1]
    assert found.fingerprint is None and found.backup_key is None and found.rotated_at is None
    assert keyring.fingerprint_for(found) == keyring.fingerprint_of(found.kek, found.index_key)


def test_the_inventory_names_algorithms_versions_uses_and_the_last_rotation(
    home: Any, db: Any, quick: None
) -> None:
    """O1, O2: what `secretum check` prints, before and after a rotation; a damaged key file
    is left to its own check."""
    before = "\n".join(inventory.lines())
    assert "KEK version 1 (AES-256-GCM" in before and "last rotation: never" in before
    assert "patients.Patient.wrapped_key" in before and "accounts.Factor.totp_secret" in before
    assert "HMAC-SHA256" in before and "Argon2id" in before and "HKDF-SHA256" in before
    _rotate()
    after = "\n".join(inventory.lines())
    assert "KEK version 2" in after and "older versions still held: none" in after
    assert f"last rotation: {dt.date.today().isoformat()[:4]}" in after
    home.key_file.write_text("{}")
    assert inventory.lines() == []


def test_retiring_keeps_the_versions_still_used(home: Any, db: Any) -> None:
    """Only the versions named are removed from the key file; the others stay."""
    versions = home.read_key_versions()
    raw = _key_file(home)
    old = raw["kek"]
    raw.update(kek_version=3, older_keks={"1": old, "2": old})
    instance.replace_private(home.key_file, json.dumps(raw).encode())
    rotation.retire([1])
    assert _key_file(home)["older_keks"] == {"2": old}
    assert _key_file(home)["retired_keks"] == {"1": old}
    assert home.read_key_versions().older == [2] and versions.current == 1
    assert home.read_key_versions().retired == {1}
    rotation.retire([2], [1])
    assert "older_keks" not in _key_file(home) and _key_file(home)["retired_keks"] == {"2": old}
    rotation.retire([], [2])
    assert "older_keks" not in _key_file(home) and "retired_keks" not in _key_file(home)


def test_a_record_changed_meanwhile_keeps_its_new_seal(
    home: Any, practitioner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server changes a record's identity between the rotation's read and its write: the
    wrapped key is the same, but the record seal the rotation computed covers the old name.
    The conditional UPDATE (blob and seal unchanged) leaves the server's write, and the next
    pass re-wraps the row: the record stays intact, the new name stays."""
    actor = actor_for(practitioner)
    seeded = patients.register_patient(actor, identity())
    real = keyring.rewrap_data_key
    raced: list[bool] = []

    def racing(wrapped: Any, aad: str) -> bytes:
        if not raced:
            raced.append(True)
            patients.update_patient(actor, seeded.uid, identity(family_name="Nouveaunom"))
        return real(wrapped, aad)

    monkeypatch.setattr(keyring, "rewrap_data_key", racing)
    rotation.start()
    use = rotation.named("patients.Patient.wrapped_key")
    assert rotation.rewrap(use, 2).changed == 1
    assert rotation.rewrap(use, 2).rewrapped == 1
    row = Patient.objects.get(uid=seeded.uid)
    assert integrity.intact(row) and bytes(row.wrapped_key)[:3] == b"\x02\x00\x02"
    assert patients.access_patient(actor, seeded.uid).family_name == "Nouveaunom"


def test_each_start_and_end_of_a_rotation_is_an_audit_event(
    home: Any, practitioner: Any, quick: None
) -> None:
    """D1, O2: versions, counts and who ran it; never a key."""
    patients.register_patient(actor_for(practitioner), identity())
    _rotate()
    found = [
        (e.action, e.resource_ref, json.loads(e.detail))
        for e in AuditEvent.objects.filter(resource=rotation.RESOURCE).order_by("seq")
    ]
    assert [(a, r, d["phase"]) for a, r, d in found] == [
        ("update", "kek-v2", "started"),
        ("update", "kek-v2", "finished"),
    ]
    finished = found[1][2]
    assert finished["retired"] == "1" and finished["unreadable"] == "0"
    assert int(finished["rewrapped"]) >= 2 and finished["os_user"]  # the seed and the data key
    assert _key_file(home)["kek"] not in json.dumps([d for _a, _r, d in found])
