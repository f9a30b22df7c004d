"""No plaintext identity or medical value in the database file or a dump (E10, G3)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

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
