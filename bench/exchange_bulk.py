"""Bulk FHIR export and import of a whole practice (issue 14): time, MB/s and peak memory, in
clear and encrypted.

A measurement, never a test: it prints figures and exits 0.

A practice of ``--patients`` fictitious patients with ``--entries-per`` entries each (every
kind: notes, problems, allergies, medications, vital signs, lab results, vaccinations) is made
through the import's own service (``clinical.services.import_record``: sealed, sealed record,
one audit event per patient). Then, each as the person at the console runs it, in a process of
its own whose peak resident memory is read when it ends (``os.wait4``, ``ru_maxrss``):

1. ``secretum export --format fhir --out DIR --plain`` and the same for an age X25519 recipient;
2. ``secretum import DIR`` of each into a fresh instance (``--identity`` for the encrypted one);
3. Secretum's own export (``--format secretum``, for the age recipient) and ``secretum import DIR
   --home NEW`` making a new instance of it (its time includes the new database's migrations).

MB/s is the size of the NDJSON files over the command's whole time, Python's and Django's start
included (about a second, printed as "start" beside them). The issue's figures:

    .venv/bin/python bench/exchange_bulk.py --patients 20000 --entries-per 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rotation import REPO, setup  # bench/ is not a package: its folder is on the path

REASON = "Benchmark of the bulk export and import (fictitious data)."


def entries(n: int, count: int, author: Any) -> list[Any]:
    """``count`` fictitious entries of every kind, in turn."""
    from secretum.clinical.services import ImportedEntry

    day = dt.date(2024, 1, 1) + dt.timedelta(days=n % 600)
    at = dt.datetime(2024, 1, 1, 9, tzinfo=dt.UTC) + dt.timedelta(hours=n % 9000)
    kinds = [
        ("encounter", {"reason": "Fictitious follow-up", "subjective": "Feels well\nsleeps",
                       "assessment": "Stable", "plan": "See again in 3 months"}),
        ("problem", {"system": "icpc-2", "code": "K86", "label": "Fictitious hypertension"}),
        ("allergy", {"substance": "Quzicillin", "reaction": "rash", "severity": "mild"}),
        ("medication", {"drug": "Quzpril 5 mg", "dose": "1 tablet", "frequency": "daily",
                        "duration": "3 months"}),
        ("observation", {"code": "bp", "value": f"{120 + n % 30}/80"}),
        ("observation", {"code": "weight", "value": f"{60 + n % 40}.5"}),
        ("lab", {"loinc": "2345-7", "value": str(80 + n % 60), "low": "70", "high": "110",
                 "taken_on": day.isoformat()}),
        ("vaccination", {"vaccine": "Quzflu", "lot": f"QZ-{n}", "given_on": day.isoformat(),
                         "dose": "1", "site": "left-arm"}),
    ]  # fmt: skip
    return [
        ImportedEntry(kind, values, at + dt.timedelta(minutes=i), author)
        for i, (kind, values) in ((i, kinds[i % len(kinds)]) for i in range(count))
    ]


def fill(patients: int, per: int) -> None:
    from secretum.accounts.imported import imported_author
    from secretum.clinical.services import import_record
    from secretum.lib import niss
    from secretum.maintenance.console import ConsoleActor

    actor = ConsoleActor(user=None, role=None, source="console", os_user="bench")
    author = imported_author(actor, "Dr Fictitious Bench")
    for n in range(patients):
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=n // 997)
        identity = {
            "family_name": f"Zorbatova{n}", "given_name": "Quilline", "sex": "female",
            "birth_date": birth, "niss": niss.build(birth, n % 997 + 1),
            "street": "Rue des Essais 1", "postal_code": "1000", "city": "Testville",
        }  # fmt: skip
        import_record(actor, identity, entries(n, per, author), {"bench": True})
        if (n + 1) % 1000 == 0:
            print(f"  filled {n + 1}/{patients}", file=sys.stderr)


def timed(home: Path, *args: str, quiet: bool = False) -> tuple[float, int, str]:
    """A `secretum` command on ``home``: seconds, peak resident memory (KiB), its output."""
    env = {**os.environ, "SECRETUM_HOME": str(home)}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "secretum.cli", *args], env=env, cwd=REPO,
            stdout=out, stderr=err,
        )  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode and not quiet:
            print(err.read().decode()[-2000:], file=sys.stderr)
        return seconds, usage.ru_maxrss, out.read().decode()


def fresh_instance(parent: Path, name: str) -> Path:
    home = parent / name / "var"
    env = {**os.environ, "SECRETUM_HOME": str(home)}
    subprocess.run(
        [sys.executable, "-m", "secretum.cli", "init"], env=env, cwd=REPO, check=True,
        capture_output=True,
    )  # fmt: skip
    return home


def size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*.ndjson*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--entries-per", type=int, default=20)
    parser.add_argument("--fill-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill_only:  # the child that makes the practice: Django's memory stays there
        setup(None)
        fill(args.patients, args.entries_per)
        print(os.environ["SECRETUM_HOME"])
        return
    # This process never loads Django: a child's peak memory (ru_maxrss) starts from its
    # parent's at fork, so a small parent keeps the children's figures their own.
    started = time.perf_counter()
    made = subprocess.run(
        [sys.executable, __file__, "--fill-only", "--patients", str(args.patients),
         "--entries-per", str(args.entries_per)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    home = Path(made.stdout.strip().splitlines()[-1])
    try:
        measure(home, args.patients * args.entries_per, args.patients, started)
    finally:  # the practice and the exports are fictitious, and large: nothing is left behind
        shutil.rmtree(home.parent, ignore_errors=True)


def measure(home: Path, total: int, patients: int, started: float) -> None:
    print(f"practice: {patients} patients, {total} entries "
          f"(filled in {time.perf_counter() - started:.1f} s)")  # fmt: skip
    os.environ["DJANGO_SETTINGS_MODULE"] = "secretum.settings"
    work = Path(tempfile.mkdtemp(prefix="secretum-bulk-bench-"))
    try:
        _measure(home, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(home: Path, work: Path) -> None:
    sys.path.insert(0, str(REPO))
    from secretum.crypto import age  # the standard library and cryptography only

    key = age.X25519Identity.generate()
    (work / "identity.txt").write_text(key.encode() + "\n")
    start_s, start_kib, _ = timed(home, "check", quiet=True)
    print(f"start (secretum check): {start_s:.2f} s, {start_kib / 1024:.0f} MiB")
    print(f"{'operation':<22} {'seconds':>8} {'MB':>8} {'MB/s':>7} {'peak MiB':>9}")
    recipient = ["--recipient", key.recipient().encode()]
    for label, extra in (("plain", ["--plain"]), ("encrypted", recipient)):
        out = work / f"export-{label}"
        seconds, peak, said = timed(
            home, "export", "--format", "fhir", "--out", str(out), "--reason", REASON, *extra
        )
        mb = size(out) / 1e6
        print(f"{'export ' + label:<22} {seconds:>8.1f} {mb:>8.1f} {mb / seconds:>7.2f} "
              f"{peak / 1024:>9.0f}")  # fmt: skip
        target = fresh_instance(work, f"import-{label}")
        extra_in = ["--identity", str(work / "identity.txt")] if label == "encrypted" else []
        seconds, peak, said = timed(target, "import", str(out), "--reason", REASON, *extra_in)
        ok = said.splitlines()[0] if said else "(failed)"
        print(f"{'import ' + label:<22} {seconds:>8.1f} {mb:>8.1f} {mb / seconds:>7.2f} "
              f"{peak / 1024:>9.0f}   {ok}")  # fmt: skip
    # Secretum's own export (a practice's move, L1, L2): every row, the audit log, the keys.
    out = work / "export-secretum"
    seconds, peak, said = timed(
        home, "export", "--format", "secretum", "--out", str(out), "--reason", REASON, *recipient
    )
    mb = sum(p.stat().st_size for p in out.glob("*.age")) / 1e6
    rows = said.split(" rows in ")[0].rsplit(" ", 1)[-1] if " rows in " in said else "?"
    print(f"{'export secretum':<22} {seconds:>8.1f} {mb:>8.1f} {mb / seconds:>7.2f} "
          f"{peak / 1024:>9.0f}   {rows} rows")  # fmt: skip
    fingerprint = said.split("--expect-key ")[1].split()[0] if "--expect-key " in said else ""
    seconds, peak, said = timed(
        work, "import", str(out), "--home", str(work / "import-secretum"), "--reason", REASON,
        "--identity", str(work / "identity.txt"), "--expect-key", fingerprint, "--json",
    )  # fmt: skip
    ok = said.splitlines()[-1] if said else "(failed)"
    print(f"{'import secretum':<22} {seconds:>8.1f} {mb:>8.1f} {mb / seconds:>7.2f} "
          f"{peak / 1024:>9.0f}   {ok}")  # fmt: skip


if __name__ == "__main__":
    main()
