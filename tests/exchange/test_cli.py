"""`secretum export --format fhir` as the person at the server's console runs it (L1, E7, M3):
a real instance, real processes, the file opened by Debian's ``age``."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.core.test_cli import run
from tests.exchange.conftest import age_keypair, run_age
from tests.instances import demo_output, initialised

REASON = "Fictitious: the patient asked for a copy at the desk."


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    # As `init` then `demo` leave it: a copy of the session's template (tests/instances.py).
    demo = ("--patients", "2", "--seed", "7", "--print")
    home = initialised(tmp_path_factory.mktemp("export") / "var", demo)
    return home, demo_output(demo).splitlines()[0].split("\t")[2]


def _export(home: Path, *args: str) -> tuple[int, str, str]:
    done = run(home, "export", "--format", "fhir", *args)
    return done.returncode, done.stdout, done.stderr


def test_encrypted_by_default_the_passphrase_printed_once(
    instance: tuple[Path, str], tmp_path: Path
) -> None:
    home, niss = instance
    out = tmp_path / "patient.fhir.json.age"
    code, said, err = _export(home, "--patient", niss, "--out", str(out), "--reason", REASON)
    assert code == 0, err
    passphrase = re.search(r"Passphrase \(shown this once, not kept\): ([a-z0-9-]+)", said)
    assert passphrase and f"age -d {out} > patient.json" in said
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    code, told = run_age(["-d", "-o", str(tmp_path / "p.json"), str(out)], passphrase.group(1))
    assert code == 0, told
    bundle = json.loads((tmp_path / "p.json").read_text())
    assert bundle["entry"][0]["resource"]["identifier"][0]["value"] == re.sub(r"\D", "", niss)
    # The audit log: the operating system's user, the reason; never the passphrase.
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        rows = db.execute("SELECT actor_name, purpose, detail FROM audit_auditevent").fetchall()
        exported = [r for r in rows if '"fhir-r4"' in r[2]]
        assert len(exported) == 1 and exported[0][0].startswith("os:")
        assert exported[0][1] == "maintenance" and REASON in exported[0][2]
        assert not any(passphrase.group(1) in str(r) for r in rows)
    # An existing file is never overwritten.
    code, _, err = _export(home, "--patient", niss, "--out", str(out), "--reason", REASON)
    assert code != 0 and "the file exists" in err


def test_for_a_key_in_clear_only_with_plain_and_refusals_in_one_sentence(
    instance: tuple[Path, str], tmp_path: Path
) -> None:
    home, niss = instance
    key, public = age_keypair(tmp_path)
    out = tmp_path / "k.age"
    code, said, err = _export(
        home, "--patient", niss, "--out", str(out), "--reason", REASON, "--recipient", public
    )
    assert code == 0 and "Passphrase" not in said, err
    code, told = run_age(["-d", "-i", str(key), "-o", str(tmp_path / "k.json"), str(out)])
    assert code == 0, told
    plain = tmp_path / "plain.json"
    code, said, err = _export(
        home, "--patient", niss, "--out", str(plain), "--reason", REASON, "--plain"
    )
    assert code == 0 and "In clear" in said, err
    assert json.loads(plain.read_text())["resourceType"] == "Bundle"
    for args, message in (
        (["--reason", "short"], "10 to 200 characters"),
        (["--reason", REASON, "--recipient", "nope"], "not an age public key"),
        (["--reason", REASON, "--patient", "85.07.30-033.28"], "No patient"),
    ):
        bad = tmp_path / "bad.age"
        full = ["--patient", niss, "--out", str(bad), *args]
        code, _, err = _export(home, *full)
        assert code != 0 and message in err and "Traceback" not in err, err
        assert not bad.exists()
    code, _, err = _export(home, "--patient", niss, "--out", str(tmp_path / "x"))
    assert code != 0 and "--reason" in err


def test_a_record_altered_outside_secretum_is_said(
    instance: tuple[Path, str], tmp_path: Path
) -> None:
    """Patient safety: entries deleted in the database; the export says the copy may lack some."""
    home, niss = instance
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        for table in ("clinical_observation", "clinical_encounter", "clinical_problem"):
            db.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
    out = tmp_path / "altered.age"
    code, said, err = _export(home, "--patient", niss, "--out", str(out), "--reason", REASON)
    assert code == 0, err
    assert "Warning: this record was altered outside Secretum" in said


def test_a_sumehr_from_the_console(instance: tuple[Path, str], tmp_path: Path) -> None:
    """Issue 14: the same command writes the KMEHR SumEHR, encrypted unless --plain."""
    home, niss = instance
    out = tmp_path / "sumehr.xml"
    done = run(home, "export", "--format", "sumehr", "--patient", niss, "--out", str(out),
               "--reason", REASON, "--plain")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "KMEHR SumEHR 2.0" in done.stdout and "items." in done.stdout
    xml = out.read_text()
    assert 'xmlns="http://www.ehealth.fgov.be/standards/kmehr/schema/v1"' in xml
    assert re.sub(r"\D", "", niss) in xml and ">sumehr</cd>" in xml
    encrypted = tmp_path / "sumehr.xml.age"
    done = run(home, "export", "--format", "sumehr", "--patient", niss, "--out", str(encrypted),
               "--reason", REASON)  # fmt: skip
    assert done.returncode == 0 and f"age -d {encrypted} > patient.xml" in done.stdout
