"""A chart with every kind of entry, and Debian's ``age`` to open what we write (E7, M3)."""

from __future__ import annotations

import os
import pty
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from secretum.clinical import services as clinical
from tests.conftest import actor_for

AGE = shutil.which("age")
ENTRIES = {
    "problem": [
        {"system": "icpc-2", "code": "K86", "label": "Fictitious hypertension",
         "onset": "2020-02-03"},
        {"system": "icd-10", "code": "E11.9", "label": "Fictitious diabetes"},
        {"system": "icpc-2", "code": "R74", "label": "Fictitious infection", "status": "resolved"},
    ],
    "allergy": [
        {"substance": "Quzicillin", "reaction": "Fictitious rash", "severity": "moderate"},
        {"substance": "Quzpollen", "severity": "mild"},
    ],
    "medication": [
        {"drug": "Quzpril 5 mg", "dose": "1 tablet", "frequency": "daily", "duration": "3 months"}
    ],
    "observation": [
        {"code": "bp", "value": "135/85"},
        {"code": "weight", "value": "71.5"},
        {"code": "height", "value": "172"},
        {"code": "temperature", "value": "37.2"},
    ],
    "encounter": [
        {
            "reason": "Fictitious follow-up",
            "subjective": "Feels <well>\nsleeps badly",
            "assessment": "Fictitious stable",
            "plan": "See again & check",
        }
    ],
    "lab": [
        {"loinc": "2345-7", "value": "126", "low": "70", "high": "110", "taken_on": "2026-03-02"},
        {"loinc": "94500-6", "test": "Quzvirus RNA", "value": "negative",
         "taken_on": "2026-03-02"},
    ],
    "vaccination": [
        {"vaccine": "Quzflu 2026", "lot": "QZ-4411", "given_on": "2026-10-07", "dose": "2",
         "site": "right-arm"},
        {"vaccine": "Quzboost", "lot": "QB-1", "given_on": "2025-01-02", "dose": "booster",
         "site": "oral", "given_by": "Centre de vaccination fictif"},
    ],
}  # fmt: skip


@pytest.fixture
def full_chart(practitioner: Any, patient: Any) -> Any:
    actor = actor_for(practitioner)
    for kind, entries in ENTRIES.items():
        for values in entries:
            clinical.record_entry(actor, patient.uid, kind, values)
    return patient


def run_age(args: list[str], passphrase: str | None = None) -> tuple[int, str]:
    """Debian's ``age`` (the reference implementation's command); a passphrase is typed at its
    terminal, as age reads it from there and nowhere else (a pseudo-terminal of our own)."""
    assert AGE, "Debian's age is needed: make system-deps"
    pid, fd = pty.fork()
    if pid == 0:  # the child: age, its terminal the pseudo-terminal
        os.execv(AGE, [AGE, *args])  # noqa: S606 (a fixed program, no shell)
    said = b""
    answered = 0
    while True:
        try:
            data = os.read(fd, 1024)
        except OSError:  # the child has gone: its terminal is closed
            break
        if not data:
            break
        said += data
        # Each prompt names the passphrase (encrypting asks twice: enter, confirm).
        while passphrase is not None and answered < said.lower().count(b"passphrase"):
            try:
                os.write(fd, passphrase.encode() + b"\n")
            except OSError:
                break
            answered += 1
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), said.decode(errors="replace")


def age_keypair(folder: Path) -> tuple[Path, str]:
    """A fresh identity file made by ``age-keygen``, and its public key."""
    key = folder / "identity.txt"
    done = subprocess.run(
        ["age-keygen", "-o", str(key)], capture_output=True, text=True, check=True
    )
    return key, done.stderr.split(":", 1)[1].strip()
