"""The `secretum` command as a user runs it: real processes, a real instance folder."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.audit.elsewhere import witness_elsewhere
from tests.instances import initialised


def run(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SECRETUM_") and k != "DJANGO_SETTINGS_MODULE"
    }
    # D2: the witness on another file system than the instance's (`check` warns otherwise).
    environ.update(
        SECRETUM_HOME=str(home), SECRETUM_AUDIT_WITNESS=str(witness_elsewhere(str(home)))
    )
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "secretum.cli", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli") / "var"
    result = run(home, "init")
    assert result.returncode == 0, result.stderr
    assert "Created a Secretum instance" in result.stdout
    return home


def test_init_creates_owner_only_keys_certificate_and_database(home: Path) -> None:
    """H3, O2: generated secrets, readable by the instance's owner only."""
    for name in ("secretum.key", "tls/key.pem", "data/secretum.sqlite3"):
        mode = stat.S_IMODE((home / name).stat().st_mode)
        assert mode & 0o077 == 0, f"{name} is readable by others ({oct(mode)})"
    assert (home / "tls" / "cert.pem").read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_init_refuses_to_overwrite_an_instance(home: Path) -> None:
    key_before = (home / "secretum.key").read_bytes()
    result = run(home, "init")
    assert result.returncode != 0
    assert "refusing to overwrite" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (home / "secretum.key").read_bytes() == key_before


def test_fresh_instance_passes_the_check(home: Path) -> None:
    result = run(home, "check")
    assert result.returncode == 0, result.stderr
    assert "configuration is safe" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRETUM_BENCHMARK_BASELINE": "1"}, "encryption and audit are OFF"),
        ({"SECRETUM_IDLE_TIMEOUT": "3600"}, "at most 20 minutes"),
        ({"SECRETUM_DEBUG": "1"}, "SECRETUM_DEBUG is on"),
    ],
)
def test_check_fails_on_an_unsafe_setting(home: Path, env: dict[str, str], message: str) -> None:
    result = run(home, "check", **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_check_fails_when_the_key_file_is_readable_by_others(home: Path) -> None:
    key = home / "secretum.key"
    key.chmod(0o644)
    try:
        result = run(home, "check")
    finally:
        key.chmod(0o600)
    assert result.returncode != 0 and "chmod 600" in result.stderr


def test_serve_refuses_the_benchmark_baseline(home: Path) -> None:
    result = run(home, "serve", "--port", "0", SECRETUM_BENCHMARK_BASELINE="1")
    assert result.returncode != 0 and "refusing to serve" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_refuses_a_document_limit_its_front_cannot_carry(home: Path) -> None:
    """D4: a patient's document larger than the front's largest body could never arrive."""
    result = run(home, "serve", "--port", "0", SECRETUM_DOCUMENT_MAX_BYTES=str(20 * 1024 * 1024))
    assert result.returncode != 0 and "SECRETUM_SERVE_MAX_BODY must be at least" in result.stderr
    assert "SECRETUM_DOCUMENT_MAX_BYTES" in result.stderr and "Traceback" not in result.stderr


def test_demo_is_deterministic_and_prints_patients(tmp_path: Path) -> None:
    outputs = []
    for n in (1, 2):
        home = tmp_path / f"d{n}" / "var"
        # Two instances with keys of their own: the output owes nothing to the keys.
        assert (run(home, "init").returncode == 0) if n == 2 else initialised(home)
        result = run(home, "demo", "--patients", "4", "--seed", "11", "--print")
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    lines = outputs[0].strip().splitlines()
    assert len(lines) == 4
    name, birth, number = lines[0].split("\t")
    assert name and len(birth) == 10 and len(number) == 15
    verify = run(tmp_path / "d1" / "var", "audit", "verify")
    assert verify.returncode == 0 and "audit log intact" in verify.stdout


def test_audit_verify_names_a_tampered_event(tmp_path: Path) -> None:
    import sqlite3

    home = initialised(tmp_path / "var", ("--patients", "2", "--seed", "3"))
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        # An attacker with the database file first drops the append-only trigger (D2).
        db.execute("DROP TRIGGER audit_auditevent_no_update")
        db.execute("UPDATE audit_auditevent SET outcome = 'denied' WHERE seq = 5")
    result = run(home, "audit", "verify")
    assert result.returncode != 0
    assert "event 5 was changed" in result.stderr and "Traceback" not in result.stderr


def test_unknown_command_is_one_sentence(home: Path) -> None:
    result = run(home, "frobnicate")
    assert result.returncode != 0 and "unknown command 'frobnicate'" in result.stderr


def test_commands_without_an_instance_say_what_to_do(tmp_path: Path) -> None:
    result = run(tmp_path / "nothing", "audit", "verify")
    assert result.returncode != 0 and "Traceback" not in result.stderr
