"""No plaintext identity or medical value in the database file or a dump (E10, G3)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from secretum.audit.models import AuditEvent
from secretum.clinical import services as clinical
from secretum.crypto import keyring
from secretum.patients import services as patients
from secretum.patients.models import Patient
from tests.conftest import actor_for, identity

# Fictitious values that appear nowhere else: if any is found in raw bytes, encryption failed.
FAMILY = "Vrobnikowska"
GIVEN = "Ermelinde"
CITY = "Quaxhoven"
NISS = "63112502840"
NOTE = "Parestesiesvanrechtervoet"
DRUG = "Zerbulamine"


def _write_known_values(user: Any) -> str:
    actor = actor_for(user)
    import datetime as dt

    from secretum.lib import niss

    assert niss.clean(NISS) == NISS
    created = patients.register_patient(
        actor,
        identity(
            family_name=FAMILY,
            given_name=GIVEN,
            city=CITY,
            niss=NISS,
            birth_date=dt.date(1963, 11, 25),
        ),
    )
    clinical.record_entry(
        actor, created.uid, "encounter", {"reason": "Controle", "subjective": NOTE}
    )
    clinical.record_entry(
        actor,
        created.uid,
        "medication",
        {"drug": DRUG, "dose": "1", "frequency": "1", "duration": "1"},
    )
    return created.uid


def _assert_absent(raw: bytes, where: str) -> None:
    for value in (FAMILY, GIVEN, CITY, NISS, NOTE, DRUG):
        for encoded in (value.encode(), value.lower().encode(), value.encode("utf-16-le")):
            assert encoded not in raw, f"{value!r} found in {where}"


@pytest.mark.django_db(transaction=True)
def test_sqlite_file_holds_no_plaintext(practitioner: Any) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite file test")
    uid = _write_known_values(practitioner)
    # Search still works through the blind index.
    actor = actor_for(practitioner)
    assert [p.uid for p in patients.search_patients(actor, FAMILY[:4]).patients] == [uid]
    assert [p.uid for p in patients.search_patients(actor, NISS).patients] == [uid]
    assert [p.uid for p in patients.search_patients(actor, "25/11/1963").patients] == [uid]
    with connection.cursor() as cur:
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(connection.settings_dict["NAME"])
    raw = path.read_bytes()
    assert len(raw) > 10_000
    _assert_absent(raw, str(path))
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        _assert_absent(wal.read_bytes(), str(wal))


@pytest.mark.django_db(transaction=True)
def test_postgresql_dump_holds_no_plaintext(practitioner: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("runs on the PostgreSQL pass of `make test`")
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is needed for this test: apt-get install postgresql-client")
    _write_known_values(practitioner)
    s = connection.settings_dict
    env = {**os.environ, "PGPASSWORD": s["PASSWORD"] or ""}
    dump = subprocess.run(
        [
            pg_dump,
            "-h",
            s["HOST"] or "127.0.0.1",
            "-p",
            str(s["PORT"] or 5432),
            "-U",
            s["USER"] or "postgres",
            "--data-only",
            s["NAME"],
        ],
        capture_output=True,
        check=True,
        env=env,
        timeout=120,
    ).stdout
    assert b"COPY public.patients_patient" in dump
    _assert_absent(dump, "pg_dump")


def test_sealed_value_cannot_be_moved_to_another_field_or_row(
    practitioner: Any, patient: Any
) -> None:
    row = Patient.objects.get(uid=patient.uid)
    key = keyring.unwrap_data_key(row.wrapped_key, f"patients.Patient:{row.uid}")
    row.given_name = row.family_name  # an attacker swaps ciphertexts between fields
    with pytest.raises(keyring.DecryptionError):
        row.unseal(key, "given_name")
    tampered = bytearray(bytes(row.family_name))
    tampered[-1] ^= 1
    row.family_name = bytes(tampered)
    with pytest.raises(keyring.DecryptionError):
        row.unseal(key, "family_name")


def test_data_key_is_bound_to_its_patient(practitioner: Any, patient: Any) -> None:
    row = Patient.objects.get(uid=patient.uid)
    with pytest.raises(keyring.DecryptionError):
        keyring.unwrap_data_key(row.wrapped_key, "patients.Patient:someone-else")


def test_blind_index_is_keyed_not_a_plain_hash() -> None:
    """O1: HMAC-SHA256 under the instance's key (RFC 2104), not a bare hash anyone can recompute."""
    import hashlib

    token = keyring.blind_index("niss", NISS)
    assert len(token) == 16
    assert token != hashlib.sha256(b"niss\x00" + NISS.encode()).digest()[:16]
    assert keyring.blind_index("name", "dupont") != keyring.blind_index("birth", "dupont")


# --- values planted in the database in another format (issue 9: the database, not the key) ---


def test_a_value_planted_in_the_baselines_plain_format_is_refused(
    practitioner: Any, patient: Any
) -> None:
    """E10: the benchmark baseline's plain format (a 0x00 marker, then the text) planted in a
    sealed column is refused on a real instance, never read as the patient's name; the refusal
    is audited. The report of the altered row (the auditor's "tampered" alert) comes first, not
    taken back by the failed read (D1, access/guard.py), on SQLite and PostgreSQL alike."""
    Patient.objects.filter(uid=patient.uid).update(family_name=b"\x00Mallory")
    with pytest.raises(keyring.DecryptionError, match="unknown sealed-value format"):
        patients.access_patient(actor_for(practitioner), patient.uid)
    failed = AuditEvent.objects.filter(patient_ref=str(patient.uid), outcome="failure")
    details = [e.detail for e in failed.order_by("seq")]
    assert details == ['{"problem":"row-altered-outside-secretum"}', '{"error":"DecryptionError"}']


def test_a_data_key_in_another_format_opens_nothing(practitioner: Any, patient: Any) -> None:
    """E10: a wrapped data key rewritten with another format byte is refused before any
    decryption is tried (0x01 and 0x02, which names its KEK version, are the known ones)."""
    row = Patient.objects.get(uid=patient.uid)
    Patient.objects.filter(pk=row.pk).update(wrapped_key=b"\x03" + bytes(row.wrapped_key)[1:])
    with pytest.raises(keyring.DecryptionError, match="unknown wrapped-key format"):
        patients.access_patient(actor_for(practitioner), patient.uid)


def test_an_authenticator_seed_planted_in_plain_is_refused() -> None:
    """O2: an installation secret rewritten without the key file's sealing is refused."""
    sealed = keyring.seal_secret(b"JBSWY3DPEHPK3PXP", "accounts.Factor.totp:1")
    assert keyring.open_secret(sealed, "accounts.Factor.totp:1") == b"JBSWY3DPEHPK3PXP"
    with pytest.raises(keyring.DecryptionError, match="unknown sealed-secret format"):
        keyring.open_secret(b"\x00JBSWY3DPEHPK3PXP", "accounts.Factor.totp:1")


def test_the_benchmark_baseline_writes_plain_values_that_a_real_instance_refuses(
    practitioner: Any, settings: Any
) -> None:
    """E10: the benchmark baseline (SECRETUM_BENCHMARK_BASELINE, for measuring encryption's
    cost only) stores marked plain text and plain index tokens, and audits nothing; the same
    rows are refused once the baseline is off, never read as if they were sealed."""
    settings.SECRETUM_BENCHMARK_BASELINE = True
    actor = actor_for(practitioner)
    written = patients.register_patient(actor, identity(family_name=FAMILY, niss=NISS))
    row = Patient.objects.get(uid=written.uid)
    assert bytes(row.family_name) == b"\x00" + FAMILY.encode()
    assert [p.uid for p in patients.search_patients(actor, NISS).patients] == [written.uid]
    assert patients.access_patient(actor, written.uid).family_name == FAMILY
    assert not AuditEvent.objects.exists()
    settings.SECRETUM_BENCHMARK_BASELINE = False
    assert patients.search_patients(actor, NISS).patients == []
    with pytest.raises(keyring.DecryptionError):
        patients.access_patient(actor, written.uid)


def test_only_sealed_fields_are_sealed(patient: Any) -> None:
    """E10: sealing names its fields; a field that is not a sealed column is refused rather than
    given a ciphertext its readers would not expect."""
    row = Patient.objects.get(uid=patient.uid)
    key = keyring.unwrap_data_key(row.wrapped_key, f"patients.Patient:{row.uid}")
    with pytest.raises(TypeError, match="is not a sealed field"):
        row.seal(key, wrapped_key="x")
