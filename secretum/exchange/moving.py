"""The practice export's test (L1, L2): ``secretum export --format secretum --test``.

The register asks whether the practice could leave today, not whether a command exists. The test
does what a move does, in scratch places removed afterwards: Secretum's own export of the whole
practice (``practice.py``, for an age key made for the test alone), imported into a new instance
by a process of its own (``secretum import --home``, ``practice_import.py``: signature, hashes,
every row, the audit log verified), then the rows of every table compared with the export's.
Its outcome is one audit event (``exchange.ExportTest``, success or failure, with the counts and
the problem), which the register's L1 and L2 evidence reads (``evidence.py``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from secretum.access.actor import AccessDenied, Actor
from secretum.audit.log import record_event
from secretum.audit.models import Action, Outcome
from secretum.crypto import age
from secretum.exchange import practice

RESOURCE = "exchange.ExportTest"
TIMEOUT = 6 * 3600


@dataclass
class Tested:
    ok: bool
    problem: str = ""
    patients: int = 0
    rows: int = 0
    seconds: float = 0.0
    found: dict[str, Any] = field(default_factory=dict)  # what the new instance said

    def summary(self) -> str:
        return (
            f"Export test passed: {self.patients} patients and {self.rows} rows exported, "
            f"imported into a scratch instance (its audit log verified: "
            f"{self.found.get('events', 0)} events) and found whole, in {self.seconds:.1f} s. "
            "Recorded for the register (L1, L2)."
        )


def _import(folder: Path, home: Path, identity: Path, url: str, key: str) -> dict[str, Any]:
    from secretum.backup.restore import child_env

    done = subprocess.run(  # noqa: S603  (our own module, fixed arguments)
        [
            sys.executable, "-m", "secretum.cli", "import", str(folder), "--home", str(home),
            "--reason", "export test (L1, L2)", "--identity", str(identity), "--expect-key", key,
            "--json",
        ],
        env=child_env(home, url), capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        problem = (done.stderr.strip() or done.stdout.strip() or "no output")[-500:]
        raise RuntimeError(problem.removeprefix("secretum: "))
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def export_test(actor: Actor, detail: dict[str, Any], *, progress: bool = False) -> Tested:
    """Export, import into a scratch instance, compare; the outcome recorded either way."""
    from secretum.backup.restore import _scratch_database

    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix=".export-test-", dir=settings.INSTANCE.home))
    tested = Tested(False)
    try:
        identity = age.X25519Identity.generate()
        key_file = scratch / "identity.txt"
        key_file.write_text(identity.encode() + "\n")
        key_file.chmod(0o600)
        folder = scratch / "export"
        folder.mkdir(mode=0o700)
        done = practice.export_practice(
            actor, folder, recipient=identity.recipient().encode(),
            detail={**detail, "test": True},
        )  # fmt: skip
        tested.patients, tested.rows = done.patients, sum(done.rows.values())
        with _scratch_database() as (_conf, url):
            tested.found = _import(folder, scratch / "instance", key_file, url, done.fingerprint)
        if tested.found.get("rows") != tested.rows:
            raise RuntimeError(
                f"{tested.rows} rows exported, {tested.found.get('rows')} found in the new instance"
            )
        tested.ok = True
    except AccessDenied:  # a refusal at the gate is not a finding of the test: nothing ran
        raise
    except Exception as exc:  # whatever failed is the test's finding, recorded as such
        tested.problem = str(exc) or type(exc).__name__
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    tested.seconds = time.monotonic() - started
    record_event(
        actor, Action.MAINTENANCE, RESOURCE,
        outcome=Outcome.SUCCESS if tested.ok else Outcome.FAILURE,
        detail={
            **detail, "patients": tested.patients, "rows": tested.rows,
            "seconds": round(tested.seconds, 1), **({"problem": tested.problem[:300]}
                                                     if tested.problem else {}),
        },
    )  # fmt: skip
    return tested
