"""`make test` on a fresh Debian machine installs what the suite needs beside Python (issue 11):
`make system-deps`, which `make unit` runs first, names every program a test looks for."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
# Needed before `make` can run at all (the README's prerequisite), or essential on Debian.
ALWAYS_THERE = {"make", "id", "cat", "sleep"}
# Read on the host as it is, installed or not, by a test that asserts either way (the firewall,
# E9 and F3: installing it would change the host the other tests run on).
HOST_AS_FOUND = {"nft"}


def _test_programs() -> dict[str, str]:
    """TEST_PROGRAMS of the Makefile: {program: Debian package}."""
    found = re.search(r"^TEST_PROGRAMS := (.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert found
    return dict(pair.split(":") for pair in found.group(1).split())


def test_every_program_a_test_looks_for_is_installed_by_system_deps() -> None:
    """A test that skips or fails without a program (shutil.which, a fixed path) must find it
    installed by `make system-deps`: otherwise the README's `make test` quietly tests less."""
    looked_for = set()
    for path in (ROOT / "tests").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        looked_for |= set(re.findall(r"""shutil\.which\(["']([\w.-]+)["']\)""", text))
        looked_for |= set(re.findall(r"""Path\(["']/usr/bin/([\w.-]+)["']\)""", text))
    # What the suite uses today.
    used = {"chromium", "pg_dump", "sqlite3", "pdftotext", "sshd", "sftp", "clamd", "npm"}
    assert used <= looked_for
    missing = looked_for - ALWAYS_THERE - HOST_AS_FOUND - set(_test_programs())
    assert not missing, f"add {missing} to TEST_PROGRAMS in the Makefile"


def test_unit_tests_install_the_system_deps_first() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in ("unit", "unit-core-1", "unit-core-2", "unit-e2e"):
        (needs,) = re.findall(rf"^{target}: ([^#\n]*)", makefile, re.M)
        assert needs.split() == ["venv", "system-deps"], target
    # `make test` runs the SQLite suite's three parts and PostgreSQL's side by side, in one
    # sub-make, then judges the SQLite coverage combined.
    (recipe,) = re.findall(r"^test: [^\n]*\n\t([^\n]*)\n\t([^\n]*)", makefile, re.M)
    parts = ["unit-core-1", "unit-core-2", "unit-e2e", "test-postgresql"]
    assert recipe[0].split()[-4:] == parts
    assert recipe[1].split()[-1] == "coverage"
    (combined,) = re.findall(r"^\t\$\(BIN\)/coverage combine (.*)$", makefile, re.M)
    assert combined.split() == [".coverage.core1", ".coverage.core2", ".coverage.e2e"]


def _system_deps(tmp_path: Path, programs: list[str]) -> subprocess.CompletedProcess[str]:
    """`make system-deps` where only ``programs`` (and `id`) exist: no apt-get to install with."""
    assert MAKE is not None
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "id").symlink_to(shutil.which("id") or "/usr/bin/id")
    for name in programs:
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)
    return subprocess.run(
        [MAKE, "--no-print-directory", "-C", str(ROOT), "system-deps"],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_system_deps_names_each_missing_package_and_the_command_to_run(tmp_path: Path) -> None:
    done = _system_deps(tmp_path, [])
    assert done.returncode != 0
    assert done.stdout == (
        "Secretum needs: chromium postgresql-client sqlite3 poppler-utils openssh-server "
        "openssh-client clamav-daemon npm softhsm2 age — run: sudo apt-get install chromium "
        "postgresql-client sqlite3 poppler-utils openssh-server openssh-client clamav-daemon npm "
        "softhsm2 age\n"
    )


def test_system_deps_is_silent_when_everything_is_there(tmp_path: Path) -> None:
    done = _system_deps(tmp_path, list(_test_programs()))
    assert (done.returncode, done.stdout) == (0, ""), done.stderr


def _collected(*args: str) -> set[str]:
    done = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pytest"), "--collect-only", "-q", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return {line for line in done.stdout.splitlines() if "::" in line}


def test_the_postgresql_run_keeps_every_test_that_depends_on_the_engine() -> None:
    """`--engine-only` (the PostgreSQL run of `make test`) drops only what runs the same on any
    engine: a test that opens the session's database, or makes a PostgreSQL database of its own
    (marked postgresql), stays; code without a database, or an instance of its own on SQLite
    started as a subprocess, goes."""
    files = ["tests/exchange/test_practice.py", "tests/lib/test_niss.py"]
    every = _collected(*files)
    kept = _collected("--engine-only", *files)
    practice = "tests/exchange/test_practice.py::"
    assert practice + "test_a_refused_actor_leaves_nothing_behind" in kept  # opens the database
    assert practice + "test_a_practice_moves_from_sqlite_to_postgresql" in kept  # postgresql
    assert practice + "test_the_signature_domain_is_its_own" not in kept  # no database
    assert practice + "test_a_practice_moves_whole_and_exported_again_is_the_same" not in kept
    assert not any(t.startswith("tests/lib/test_niss.py") for t in kept)
    assert kept < every
