"""One key file, one database, in the process (O2, G3, E10, H3): what the database stores, the
test database bound like `secretum init` binds an instance's, and the web app's own refusal
before its first request. The commands are tested as processes in tests/core/test_instance_key.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from django.core.signals import request_started
from django.db import OperationalError, close_old_connections, connection, connections
from django.utils import timezone

from secretum import init, instance
from secretum.crypto import binding, checks, keyring
from secretum.crypto.models import KeyFingerprint
from tests.conftest import SecureClient

KEK = bytes(range(32))
INDEX_KEY = bytes(range(32, 64))


def test_the_fingerprint_is_keyed_one_way_and_tells_key_files_apart() -> None:
    """O2: what the database stores is 64 hex digits that name one key file; no plain hash of a
    key, no key bytes, and another KEK or blind-index key gives another fingerprint."""
    fingerprint = keyring.fingerprint_of(KEK, INDEX_KEY)
    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0
    assert keyring.fingerprint_of(KEK, INDEX_KEY) == fingerprint
    assert keyring.fingerprint_of(bytes(32), INDEX_KEY) != fingerprint
    assert keyring.fingerprint_of(KEK, bytes(32)) != fingerprint
    for key in (KEK, INDEX_KEY):
        for shown in (key.hex(), base64.b64encode(key).decode()):
            assert shown not in fingerprint and fingerprint not in shown
        assert fingerprint != hashlib.sha256(key).hexdigest()
    assert fingerprint != hashlib.sha256(KEK + INDEX_KEY).hexdigest()
    # Not the HMAC of the label under the KEK itself: the key is derived (HKDF) first.
    assert fingerprint != hmac.new(KEK, b"secretum", hashlib.sha256).hexdigest()
    with pytest.raises(ValueError):
        keyring.fingerprint_of(KEK[:16], INDEX_KEY)


def test_the_test_database_is_bound_to_the_test_instance(db: Any) -> None:
    """O2: migrating a database records the fingerprint of the key file in use (post_migrate),
    pytest's test database included, and nothing but the fingerprint."""
    row = KeyFingerprint.objects.get()
    assert row.fingerprint == keyring.key_fingerprint()
    assert row.scheme == keyring.FINGERPRINT_SCHEME and row.origin == "init"
    assert binding.require_key_belongs() is None


def test_a_database_without_a_record_adopts_only_a_key_file_its_data_open_under(
    practitioner: Any, patient: Any, settings: Any, tmp_path: Path
) -> None:
    """O2 (upgrade): no fingerprint row but Secretum data: another key file is refused (the
    patient's data key does not open), the instance's own is recorded once, with a message."""
    KeyFingerprint.objects.all().delete()
    own = settings.INSTANCE
    settings.INSTANCE = init.create(tmp_path / "other")
    keyring.reset_cache()
    try:
        with pytest.raises(binding.KeyMismatch, match="sampled encrypted values do not open"):
            binding.require_key_belongs(record=True)
        assert not KeyFingerprint.objects.exists()
    finally:
        settings.INSTANCE = own
        keyring.reset_cache()
    note = binding.require_key_belongs(record=True)
    assert note and "recorded the fingerprint of the key file" in note
    assert KeyFingerprint.objects.get().origin == "adopted"
    assert binding.require_key_belongs(record=True) is None


def test_the_web_app_refuses_its_first_request_under_another_key(db: Any, monkeypatch: Any) -> None:
    """O2, G3, E10: each web process checks its key file before its first request; a database
    that records another key file's fingerprint is refused, and nothing is served."""
    KeyFingerprint.objects.update(fingerprint=keyring.fingerprint_of(bytes(32), bytes(32)))
    monkeypatch.setattr(binding, "_verified_in_pid", 0)
    try:
        with pytest.raises(binding.KeyMismatch, match=r"fingerprint mismatch"):
            SecureClient().get("/accounts/login/")
    finally:
        # The test client unhooks this receiver around request_started; the refusal skipped its
        # hooking back.
        request_started.connect(close_old_connections)
    KeyFingerprint.objects.update(fingerprint=keyring.key_fingerprint())
    assert SecureClient().get("/accounts/login/").status_code == 200
    assert binding._verified_in_pid == os.getpid()


def test_a_process_checks_its_key_file_once(db: Any, monkeypatch: Any) -> None:
    """O2: the command line, the system check and the first requests of a process share one
    check (its queries and sampled decryptions), even with several first requests at once on a
    worker's threads; later requests cost a comparison."""
    calls: list[Any] = []
    check = binding.require_key_belongs

    def counted(*args: Any, **kwargs: Any) -> str | None:
        calls.append(kwargs)
        return check(*args, **kwargs)

    monkeypatch.setattr(binding, "require_key_belongs", counted)
    monkeypatch.setattr(binding, "_verified_in_pid", 0)
    start = threading.Barrier(4)

    def first_request() -> None:
        start.wait()
        try:
            binding.verify_before_first_request(sender=None)
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=first_request) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert checks.key_binding_checks() == []
    assert SecureClient().get("/accounts/login/").status_code == 200
    assert binding.verify_once(record=True) is None
    assert len(calls) == 1 and binding._verified_in_pid == os.getpid()


def test_init_refuses_a_database_that_holds_an_installation(db: Any, patient: Any) -> None:
    """H3: a database with Secretum rows holds an installation; `init` writes no key for it."""
    with pytest.raises(instance.InstanceError, match="already holds a Secretum installation"):
        binding.refuse_installed_database()


def test_a_patient_without_a_national_number_still_proves_the_key(practitioner: Any) -> None:
    """O2: the sample opens a patient with no national number by its data key alone (nothing to
    look up in the index), and the key file is accepted."""
    from secretum.patients import services as patients
    from tests.conftest import actor_for, identity

    patients.register_patient(actor_for(practitioner), identity(niss=""))
    assert binding.sample_opens() == (2, 2)  # the patient, and the practitioner's seed
    assert binding.require_key_belongs() is None


def test_another_key_recorded_by_a_concurrent_start_is_refused(db: Any) -> None:
    """O2: two processes adopt a key file at once on a database without a record; the one whose
    key file is not the one the other recorded meanwhile is refused, and the record kept."""
    KeyFingerprint.objects.all().delete()
    theirs = keyring.fingerprint_of(bytes(32), bytes(32))
    inserting = [False]

    def other_process_first(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        # get_or_create's read (LIMIT 21): the other process's row lands just before it.
        if '"crypto_keyfingerprint"' in sql and "LIMIT 21" in sql and not inserting[0]:
            inserting[0] = True
            KeyFingerprint.objects.create(
                scheme=keyring.FINGERPRINT_SCHEME,
                fingerprint=theirs,
                origin=KeyFingerprint.Origin.INIT,
                recorded_at=timezone.now(),
            )
        return execute(sql, params, many, context)

    with connection.execute_wrapper(other_process_first):
        with pytest.raises(binding.KeyMismatch, match="fingerprint mismatch"):
            binding.require_key_belongs(record=True)
    assert inserting[0] and KeyFingerprint.objects.get().fingerprint == theirs


def test_the_check_leaves_a_missing_key_file_to_its_own_check(
    db: Any, settings: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    """O2: with no key file, the binding check says nothing of a mismatch: secretum.E003 names
    the missing file, once."""
    from django.core.checks import run_checks

    monkeypatch.setattr(binding, "_verified_in_pid", 0)
    own = settings.INSTANCE
    settings.INSTANCE = instance.Instance(tmp_path / "nothing-here")
    keyring.reset_cache()
    try:
        assert checks.key_binding_checks() == []
        found = {p.id for p in run_checks(include_deployment_checks=True, tags=["secretum"])}
    finally:
        settings.INSTANCE = own
        keyring.reset_cache()
    assert "secretum.E003" in found and "secretum.E301" not in found


def test_the_check_leaves_an_unreachable_database_to_the_command(db: Any, monkeypatch: Any) -> None:
    """H3: a database that cannot be reached is no key mismatch: the check stays silent (`serve`
    migrates after its checks; the command names the database in one sentence)."""
    monkeypatch.setattr(binding, "_verified_in_pid", 0)

    def unreachable(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        raise OperationalError("unable to open database file")

    with connection.execute_wrapper(unreachable):
        assert checks.key_binding_checks() == []
    assert binding._verified_in_pid == 0  # nothing was verified: the next start checks again


def test_init_accepts_an_empty_database_made_beforehand(db: Any) -> None:
    """H3: a database that exists but holds no Secretum row (a PostgreSQL database its
    administrator made for `secretum init`) is no installation: init may bind it."""
    while (table := binding.installation_table()) is not None:
        with connection.cursor() as cur:
            cur.execute(f"DELETE FROM {table}")  # noqa: S608  (a table name of our own models)
    binding.refuse_installed_database()
    assert not KeyFingerprint.objects.exists()


def test_the_fingerprint_row_never_prints_the_fingerprint(db: Any) -> None:
    """O2: a row that reaches a log names its origin, never the fingerprint."""
    row = KeyFingerprint.objects.get()
    assert str(row) == "KeyFingerprint (init)" and row.fingerprint not in str(row)
