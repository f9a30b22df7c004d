"""`secretum export` of the whole practice and `secretum import` as the person at the server's
console runs them (L1, L2, E7, M3): two real instances, real processes. The round trip: demo
data exported, imported into a fresh instance, exported again: the same clinical content."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from tests.audit.elsewhere import witness_elsewhere
from tests.core.test_cli import run
from tests.exchange import bulkdata
from tests.exchange.conftest import age_keypair

REASON = "Fictitious: the practice moves to another instance."


def _instance(parent: Path, name: str, patients: int = 0) -> Path:
    home = parent / name
    assert run(home, "init").returncode == 0
    if patients:
        demo = run(home, "demo", "--patients", str(patients), "--seed", "11")
        assert demo.returncode == 0, demo.stderr
    return home


def _typed(home: Path, typed: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The command with ``typed`` on its input (getpass reads it there without a terminal)."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SECRETUM_") and k != "DJANGO_SETTINGS_MODULE"
    }
    environ.update(
        SECRETUM_HOME=str(home), SECRETUM_AUDIT_WITNESS=str(witness_elsewhere(str(home)))
    )
    return subprocess.run(
        [sys.executable, "-m", "secretum.cli", *args], env=environ, input=typed,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_a_round_trip_into_a_fresh_instance(tmp_path: Path) -> None:
    source = _instance(tmp_path, "source", patients=3)
    target = _instance(tmp_path, "target")
    identity, public = age_keypair(tmp_path)
    out = tmp_path / "practice"
    done = run(source, "export", "--format", "fhir", "--out", str(out), "--reason", REASON,
               "--recipient", public)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "3/3 patients" in done.stderr and "FHIR Bulk Data NDJSON, 3 patients" in done.stdout
    assert "secretum import" in done.stdout and sorted(out.iterdir())[0].name.endswith(".age")
    done = run(target, "import", str(out), "--reason", REASON, "--identity", str(identity))
    assert done.returncode == 0, done.stderr
    assert "Imported (fhir-bulk): 3 patients." in done.stdout and "Skipped" not in done.stdout
    # Again: every patient known, nothing overwritten.
    again = run(target, "import", str(out), "--reason", REASON, "--identity", str(identity))
    assert again.returncode == 0 and again.stdout.count("Conflict:") == 3
    exports = {}
    for home in (source, target):
        folder = tmp_path / f"plain-{home.name}"
        done = run(home, "export", "--format", "fhir", "--out", str(folder), "--reason", REASON,
                   "--plain")  # fmt: skip
        assert done.returncode == 0, done.stderr
        exports[home.name] = bulkdata.read_folder(folder)
        for resources in exports[home.name].values():
            for resource in resources:
                bulkdata.validate(resource)
    assert bulkdata.normalised(exports["target"]) == bulkdata.normalised(exports["source"])
    assert len(exports["source"]["Observation"]) > 3
    with sqlite3.connect(target / "data" / "secretum.sqlite3") as db:
        rows = db.execute("SELECT actor_name, action, detail FROM audit_auditevent").fetchall()
    imported = [r for r in rows if r[1] == "create" and REASON in r[2]]
    assert len(imported) == 3 and all(r[0].startswith("os:") for r in imported)


def test_a_passphrase_asked_and_refusals_said_in_one_sentence(tmp_path: Path) -> None:
    source = _instance(tmp_path, "source", patients=1)
    out = tmp_path / "practice"
    done = run(source, "export", "--format", "fhir", "--out", str(out), "--reason", REASON)
    assert done.returncode == 0, done.stderr
    passphrase = re.search(r"Passphrase \(shown this once, not kept\): ([a-z0-9-]+)", done.stdout)
    assert passphrase
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["extension"]["secretum"]["encryption"] == "age-scrypt"
    done = run(source, "export", "--format", "fhir", "--out", str(out), "--reason", REASON)
    assert done.returncode != 0 and "it exists; give the name of a new folder" in done.stderr
    done = _typed(source, passphrase.group(1) + "\n", "import", str(out), "--reason", REASON)
    assert done.returncode == 0, done.stderr
    assert "Conflict: Patient.ndjson.age line 1" in done.stdout
    done = _typed(source, "wrong\n", "import", str(out), "--reason", REASON)
    assert done.returncode != 0 and "wrong passphrase or key" in done.stderr
    kmehr = tmp_path / "sumehr.xml"
    kmehr.write_text("<kmehrmessage/>")
    done = run(source, "import", str(kmehr), "--reason", REASON)
    assert done.returncode != 0 and "under a practitioner's account" in done.stderr
    for args, said in (
        ([str(kmehr), "--reason", "short"], "--reason: why, in 10 to 200 characters"),
        ([str(tmp_path / "none"), "--reason", REASON], "no such file or folder"),
        ([str(out), "--reason", REASON, "--identity", str(kmehr)], "not an age identity file"),
    ):
        done = run(source, "import", *args)
        assert done.returncode != 0 and said in done.stderr, done.stderr
    bad = tmp_path / "bad"
    done = run(source, "export", "--format", "fhir", "--out", str(bad), "--reason", "short")
    assert done.returncode != 0 and not bad.exists()
