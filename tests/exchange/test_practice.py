"""Secretum's own export, and a practice moved with it (L1, L2; E7, M3): `secretum export
--format secretum`, `secretum import FOLDER --home NEW`, `secretum export --format secretum
--test`. Real instances, real processes, Debian's `age` to open what was written; and an
attacker who holds the export folder (but not its passphrase or the old instance's signing key),
or an insider who holds the passphrase (but not the signing key)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from secretum.access.actor import Purpose
from secretum.access.policy import Role
from secretum.audit import checkpoints, keys
from secretum.crypto import age
from secretum.exchange import practice, practice_import
from secretum.exchange.report import ImportRefused, Secrets
from secretum.maintenance.console import ConsoleActor
from tests.conftest import make_user
from tests.core.test_cli import run
from tests.exchange.conftest import age_keypair
from tests.exchange.test_bulk_cli import _typed
from tests.instances import initialised

REASON = "Fictitious: the practice moves to another server."


def _console() -> ConsoleActor:
    return ConsoleActor(
        user=None, role=None, source="console", purpose=Purpose.MAINTENANCE, os_user="tester"
    )


def _plain(identity: Path, path: Path) -> bytes:
    """A file of the export opened by Debian's age, as the recipient would."""
    done = subprocess.run(
        ["age", "-d", "-i", str(identity), str(path)], capture_output=True, check=True
    )
    return done.stdout


def _tables(data: bytes) -> dict[str, list[bytes]]:
    tables: dict[str, list[bytes]] = {}
    current: list[bytes] = []
    for line in data.splitlines():
        item = json.loads(line)
        if isinstance(item, dict):
            current = tables.setdefault(item["table"], [])
        else:
            current.append(line)
    return tables


def test_a_practice_moves_whole_and_exported_again_is_the_same(tmp_path: Path) -> None:
    """L1, L2: every row, its history and its seals, the audit log continued; the new
    instance's own export holds the same rows, byte for byte."""
    source = initialised(tmp_path / "source", demo=("--patients", "3", "--seed", "5"))
    identity, public = age_keypair(tmp_path)
    out = tmp_path / "moving"
    done = run(source, "export", "--format", "secretum", "--out", str(out), "--reason", REASON,
               "--recipient", public)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Secretum's own export, 3 patients" in done.stdout
    fingerprint = done.stdout.split("--expect-key ")[1].split()[0]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [*practice.FILES, practice.MANIFEST, practice.SIGNATURE, practice.AUDIT_SIGNATURE]
    )
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in out.iterdir())
    manifest = json.loads((out / practice.MANIFEST).read_text())
    assert manifest["encryption"] == "age-x25519" and manifest["rows"]["patients.Patient"] == 3
    old = _tables(_plain(identity, out / practice.RECORDS))
    assert b"Fictitious" not in (out / practice.RECORDS).read_bytes()

    target = tmp_path / "new"
    done = run(tmp_path / "elsewhere", "import", str(out), "--home", str(target), "--reason",
               REASON, "--identity", str(identity), "--expect-key", fingerprint)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3 patients" in done.stdout and f"signed by {fingerprint}" in done.stdout
    for command in (("audit", "verify"), ("records", "verify")):
        checked = run(target, *command)
        assert checked.returncode == 0, checked.stderr + checked.stdout
    again = tmp_path / "again"
    done = run(target, "export", "--format", "secretum", "--out", str(again), "--reason",
               REASON, "--recipient", public)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"--expect-key {fingerprint}" in done.stdout  # the same practice, the same key
    new = _tables(_plain(identity, again / practice.RECORDS))
    assert new == old and sum(map(len, old.values())) > 50
    old_log = _tables(_plain(identity, out / practice.AUDIT))
    new_log = _tables(_plain(identity, again / practice.AUDIT))
    events = new_log["audit.AuditEvent"]
    assert events[: len(old_log["audit.AuditEvent"])] == old_log["audit.AuditEvent"]
    assert any(b"exchange.PracticeImport" in e and b"os:" in e for e in events)


@pytest.mark.postgresql
def test_a_practice_moves_from_sqlite_to_postgresql(tmp_path: Path) -> None:
    """L1: a practice outgrows its server: SQLite to a hosting provider's PostgreSQL, under a
    passphrase typed at the console; a database in use is refused, and left as it was."""
    import secrets

    from tests.core.test_instance_key import _admin, _server

    source = initialised(tmp_path / "source", demo=("--patients", "2", "--seed", "8"))
    out = tmp_path / "moving"
    done = run(source, "export", "--format", "secretum", "--out", str(out), "--reason", REASON)
    assert done.returncode == 0, done.stderr
    passphrase = done.stdout.split("not kept): ")[1].split()[0]
    fingerprint = done.stdout.split("--expect-key ")[1].split()[0]
    server = _server()
    name = f"hmove_{secrets.token_hex(3)}"
    where = f"{server['HOST'] or '127.0.0.1'}:{server['PORT'] or 5432}"
    url = f"postgresql://{server['USER']}@{where}/{name}"
    with _admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        target = tmp_path / "hosted"
        args = ("import", str(out), "--home", str(target), "--reason", REASON)
        done = _typed(tmp_path, passphrase + "\n", *args)
        assert done.returncode == 1 and "give --expect-key" in done.stderr  # even under one
        args = (*args, "--expect-key", fingerprint)
        done = _typed(tmp_path, "a-wrong-passphrase\n", *args, "--json")
        assert done.returncode == 1 and "cannot be decrypted" in done.stderr
        assert not target.exists()
        environ = {"SECRETUM_DATABASE_URL": url}
        done = _typed_env(tmp_path, passphrase + "\n", environ, *args, "--json")
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout.strip().splitlines()[-1])
        assert found["patients"] == 2 and found["events"] > 10
        verify = run(target, "audit", "verify", **environ)
        assert verify.returncode == 0, verify.stderr
        records = run(target, "records", "verify", **environ)
        assert records.returncode == 0 and "2 records verified" in records.stdout
        again = tmp_path / "again"
        done = run(target, "export", "--format", "secretum", "--out", str(again), "--reason",
                   REASON, **environ)  # fmt: skip
        assert done.returncode == 0, done.stderr
        second = done.stdout.split("not kept): ")[1].split()[0]

        def rows(folder: Path, words: str) -> dict[str, list[bytes]]:
            with (folder / practice.RECORDS).open("rb") as stream:
                return _tables(b"".join(age.decrypt(stream, age.ScryptIdentity(words))))

        # Read back from PostgreSQL, every value is the one SQLite held.
        assert rows(again, second) == rows(out, passphrase)
        done = _typed_env(tmp_path, passphrase + "\n", environ, "import", str(out), "--home",
                          str(tmp_path / "twice"), "--reason", REASON,
                          "--expect-key", fingerprint)  # fmt: skip
        assert done.returncode == 1 and "is not empty" in done.stderr
        assert run(target, "records", "verify", **environ).returncode == 0
    finally:
        with _admin(server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _typed_env(
    home: Path, typed: str, environ: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    from tests.audit.elsewhere import witness_elsewhere

    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(SECRETUM_HOME=str(home), SECRETUM_AUDIT_WITNESS=str(witness_elsewhere(str(home))))
    env.update(environ)
    return subprocess.run(
        [sys.executable, "-m", "secretum.cli", *args], env=env, input=typed,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_the_export_test_passes_and_a_tampered_log_fails_it(tmp_path: Path) -> None:
    """L1, L2: the register's evidence is a real move into a scratch instance; a practice whose
    audit log was altered does not move silently: the test fails, and says why."""
    home = initialised(tmp_path / "var", demo=("--patients", "2", "--seed", "3"))
    done = run(home, "export", "--format", "secretum", "--test", "--reason", REASON)
    assert done.returncode == 0, done.stderr
    assert "Export test passed: 2 patients" in done.stdout
    assert not [p for p in home.iterdir() if p.name.startswith(".export-test-")]
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name = 'audit_auditevent'"
        ).fetchall():
            db.execute(f'DROP TRIGGER "{name}"')
        db.execute("UPDATE audit_auditevent SET actor_name = 'someone else' WHERE seq = 3")
    done = run(home, "export", "--format", "secretum", "--test", "--reason", REASON)
    assert done.returncode == 1 and "The export test failed" in done.stderr
    assert "does not verify" in done.stderr
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        outcomes = db.execute(
            "SELECT outcome FROM audit_auditevent WHERE resource = 'exchange.ExportTest' "
            "ORDER BY seq"
        ).fetchall()
    assert outcomes == [("success",), ("failure",)]


@pytest.fixture
def exported(tmp_path: Path, db: Any) -> tuple[Path, Path, str]:
    """This instance exported for an age key made here: (folder, identity file, fingerprint)."""
    make_user(Role.PRACTITIONER)
    identity = age.X25519Identity.generate()
    key = tmp_path / "identity.txt"
    key.write_text(identity.encode() + "\n")
    folder = tmp_path / "export"
    folder.mkdir()
    done = practice.export_practice(
        _console(), folder, recipient=identity.recipient().encode(), detail={"reason": REASON}
    )
    assert done.passphrase is None and done.rows["accounts.User"] >= 1
    return folder, key, done.fingerprint


def _import(folder: Path, home: Path, key: Path, expect: str = "") -> Any:
    secrets = Secrets(identity=age.X25519Identity.parse(key.read_text().strip()))
    return practice_import.import_practice(
        folder, home, secrets, reason=REASON, os_user="tester", expect_key=expect, progress=False
    )


def _resign(folder: Path, manifest: dict[str, Any], key: Ed25519PrivateKey) -> None:
    raw = practice.line(manifest) + b"\n"
    (folder / practice.MANIFEST).write_bytes(raw)
    (folder / practice.SIGNATURE).write_bytes(practice.sign(key, practice.MANIFEST_DOMAIN, raw))


def test_an_attacker_holding_the_folder_changes_nothing_unseen(
    exported: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """Each alteration is refused before anything is decrypted or written: the new folder is
    never made."""
    folder, key, fingerprint = exported
    home = tmp_path / "new"
    manifest = json.loads((folder / practice.MANIFEST).read_bytes())
    original = (folder / practice.MANIFEST).read_bytes()

    (folder / practice.MANIFEST).write_bytes(original.replace(b'"version":1', b'"version":2'))
    with pytest.raises(ImportRefused, match="does not match its signature"):
        _import(folder, home, key, fingerprint)
    (folder / practice.MANIFEST).write_bytes(original)

    # Signed again by a key of the attacker's: only --expect-key tells.
    stranger = Ed25519PrivateKey.generate()
    pem = keys.load_public_key_pem(manifest["signed_by"]["public_key"].encode())
    assert keys.fingerprint(pem) == fingerprint
    forged = json.loads(original)
    forged["signed_by"]["public_key"] = stranger.public_key().public_bytes(*_pem()).decode()
    _resign(folder, forged, stranger)
    with pytest.raises(ImportRefused, match="not by the key --expect-key names"):
        _import(folder, home, key, fingerprint)
    forged["encryption"] = "age-scrypt"  # what the forger says changes nothing
    _resign(folder, forged, stranger)
    with pytest.raises(ImportRefused, match="give --expect-key"):
        _import(folder, home, key)  # the old instance's key is always required
    (folder / practice.MANIFEST).write_bytes(original)
    (folder / practice.SIGNATURE).write_bytes(
        practice.sign(checkpoints.signing_key(), practice.MANIFEST_DOMAIN, original)
    )

    records = folder / practice.RECORDS
    data = bytearray(records.read_bytes())
    data[-40] ^= 1
    records.write_bytes(bytes(data))
    with pytest.raises(ImportRefused, match="SHA-256 is not the manifest's"):
        _import(folder, home, key, fingerprint)
    records.write_bytes(bytes(data[:-1]))
    with pytest.raises(ImportRefused, match="not the size the manifest gives"):
        _import(folder, home, key, fingerprint)
    records.unlink()
    with pytest.raises(ImportRefused, match=r"records\.age: missing"):
        _import(folder, home, key, fingerprint)
    (folder / practice.SIGNATURE).write_text("not base64 !")
    with pytest.raises(ImportRefused, match="is not a signature"):
        _import(folder, home, key, fingerprint)
    (folder / practice.MANIFEST).write_text("{}")
    (folder / practice.SIGNATURE).write_text("")
    with pytest.raises(ImportRefused, match="is not a Secretum export's manifest"):
        _import(folder, home, key, fingerprint)
    (folder / practice.MANIFEST).unlink()
    with pytest.raises(ImportRefused, match="cannot be read"):
        _import(folder, home, key, fingerprint)
    with pytest.raises(ImportRefused, match="give the folder"):
        _import(folder / "nothing", home, key, fingerprint)
    assert not home.exists()


def test_a_file_swapped_after_its_check_is_refused(
    exported: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """The files are hashed again as they are decrypted: one swapped on a shared drive between
    the check and the reading (a valid age file for the same key) is refused."""
    folder, key, fingerprint = exported
    identity = age.X25519Identity.parse(key.read_text().strip())
    manifest = practice_import.read_manifest(folder, fingerprint)
    practice_import.check_files(folder, manifest, lambda n: None)
    path = folder / practice.INSTANCE
    plain = b"".join(age.decrypt(io.BytesIO(path.read_bytes()), identity))
    again = io.BytesIO()
    age.encrypt(iter([plain]), again, identity.recipient())  # the same content, new bytes
    path.write_bytes(again.getvalue())
    with pytest.raises(ImportRefused, match="changed while it was being imported"):
        practice_import._open_instance(folder, Secrets(identity=identity), manifest)


def _pem() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo


def test_a_wrong_key_or_an_occupied_folder_is_refused_before_anything_is_written(
    exported: tuple[Path, Path, str], tmp_path: Path
) -> None:
    folder, key, fingerprint = exported
    other = tmp_path / "other.txt"
    other.write_text(age.X25519Identity.generate().encode() + "\n")
    home = tmp_path / "new"
    with pytest.raises(ImportRefused, match=r"instance\.age cannot be decrypted"):
        _import(folder, home, other, fingerprint)
    assert not home.exists()
    home.mkdir()
    (home / "something").write_text("kept")
    with pytest.raises(ImportRefused, match="is not empty"):
        _import(folder, home, key, fingerprint)
    assert (home / "something").read_text() == "kept"


def test_an_insider_with_the_passphrase_cannot_forge_rows(
    exported: tuple[Path, Path, str], tmp_path: Path
) -> None:
    """Whoever holds the passphrase (or the key) can open and make files, but not sign: rows
    added or removed are refused whole, and the new folder and database are left empty."""
    folder, key, fingerprint = exported
    identity = age.X25519Identity.parse(key.read_text().strip())
    plain = b"".join(age.decrypt(io.BytesIO((folder / practice.RECORDS).read_bytes()), identity))
    lines = plain.splitlines()
    at = next(i for i, x in enumerate(lines) if x.startswith(b'{"table":"accounts.User"'))
    forged = b"\n".join(lines[: at + 1] + lines[at + 2 :]) + b"\n"  # one account fewer
    out = io.BytesIO()
    age.encrypt(iter([forged]), out, identity.recipient())
    (folder / practice.RECORDS).write_bytes(out.getvalue())
    home = tmp_path / "new"
    with pytest.raises(ImportRefused, match="not the size the manifest gives"):
        _import(folder, home, key, fingerprint)
    # The insider's manifest, with the new file's hash, cannot be signed by the instance's key.
    manifest = json.loads((folder / practice.MANIFEST).read_bytes())
    manifest["files"][practice.RECORDS] = {
        "sha256": hashlib.sha256(out.getvalue()).hexdigest(), "bytes": len(out.getvalue())
    }  # fmt: skip
    _resign(folder, manifest, Ed25519PrivateKey.generate())
    with pytest.raises(ImportRefused, match="does not match its signature"):
        _import(folder, home, key, fingerprint)
    # Signed by the instance's key (a test's privilege): the rows are counted, and refused.
    _resign(folder, manifest, checkpoints.signing_key())
    done = run(tmp_path / "elsewhere", "import", str(folder), "--home", str(home), "--reason",
               REASON, "--identity", str(key), "--expect-key", fingerprint)  # fmt: skip
    assert done.returncode == 1, done.stdout
    assert "rows of accounts.User are not as many as the manifest says" in done.stderr
    assert "Nothing was imported" in done.stderr and not home.exists()


def test_another_version_is_named() -> None:
    here = {"audit": ["0001_initial", "0002_more"], "core": ["0001_initial"]}
    assert practice_import.schema_problem(here, here) == ""
    newer = {**here, "core": ["0001_initial", "0002_future"]}
    assert "it has core.0002_future, unknown here" in practice_import.schema_problem(here, newer)
    older = {**here, "audit": ["0001_initial"]}
    problem = practice_import.schema_problem(here, older)
    assert "it lacks audit.0002_more" in problem and "then upgrade" in problem


def test_the_format_is_never_in_clear_nor_one_patient(tmp_path: Path, db: Any) -> None:
    for args, said in (
        (("--plain",), "never in clear"),
        (("--patient", "85073003328"), "never one patient"),
        (("--test", "--out", str(tmp_path / "x")), "scratch folder"),
        ((), "--out DIR"),
    ):
        with pytest.raises(CommandError, match=said):
            call_command("exchange_export", "--format", "secretum", "--reason", REASON, *args)
    with pytest.raises(CommandError, match="--format secretum --test"):
        call_command("exchange_export", "--format", "fhir", "--test", "--reason", REASON)
    with pytest.raises(CommandError, match="--out PATH"):
        call_command("exchange_export", "--format", "fhir", "--patient", "1", "--reason", REASON)
    (tmp_path / "taken").mkdir()
    with pytest.raises(CommandError, match="it exists"):
        call_command("exchange_export", "--format", "secretum", "--reason", REASON,
                     "--out", str(tmp_path / "taken"))  # fmt: skip
    with pytest.raises(CommandError, match="10 to 200"):
        call_command("exchange_export", "--format", "secretum", "--reason", "short",
                     "--out", str(tmp_path / "y"))  # fmt: skip


def test_a_kek_in_a_token_stays_there(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: Any
) -> None:
    from django.conf import settings

    from secretum.crypto import keyring

    held = dataclasses.replace(
        settings.INSTANCE.read_key_versions(), in_token=frozenset({keyring.current_kek_version()})
    )
    monkeypatch.setattr(type(settings.INSTANCE), "read_key_versions", lambda self: held)
    with pytest.raises(ValidationError, match="PKCS#11 token"):
        practice.export_practice(_console(), tmp_path)


def test_a_refused_actor_leaves_nothing_behind(tmp_path: Path, db: Any) -> None:
    """The gate comes first: a practitioner (who may not move the practice) gets no file, not
    even an empty one, and costs the server no key derivation."""
    from django.core.exceptions import PermissionDenied

    from secretum.access.actor import Actor

    user = make_user(Role.PRACTITIONER)
    with pytest.raises(PermissionDenied):
        practice.export_practice(Actor.for_user(user, source="127.0.0.1"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_signature_domain_is_its_own() -> None:
    """A checkpoint signature (the same key) is never a manifest's, nor the audit file's."""
    key = Ed25519PrivateKey.generate()
    data = b"{}"
    manifest = base64.b64decode(practice.sign(key, practice.MANIFEST_DOMAIN, data))
    audit = base64.b64decode(practice.sign(key, practice.AUDIT_DOMAIN, data))
    assert manifest != audit
    key.public_key().verify(manifest, practice.MANIFEST_DOMAIN + data)
