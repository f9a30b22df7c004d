"""Backups beside restic and borg (issue 12): backup, full verification and restore, timed on
the same fictitious instance, in one run.

Builds (or reuses, with ``--home``) a fictitious instance: ``secretum init``, the demo accounts,
``--patients`` patients with ``--entries`` clinical entries (the bulk fill of
``chart_search.py``: what the services store, without the per-call audit), then
``--documents-mb`` of documents sealed as ``documents.services.store`` seals them: scanned pages
(PDF) and photographs (JPEG) of random content, so incompressible, as scans mostly are. Documents
live in the database (sealed BLOBs), so the instance is one SQLite file, its TLS and audit keys.

Then, ``--runs`` times (each tool's steps in turn, the tools interleaved run by run):

* Secretum   ``secretum backup create --to DIR``, ``secretum backup verify FILE`` (signature,
             every chunk authenticated, every part hashed), ``secretum restore FILE --home NEW
             --key-file KEY`` (which also opens the restored instance and checks it);
* restic     ``restic backup`` of the instance folder (the key file left out, as Secretum's
             backup leaves it out) into a new encrypted repository, ``restic check
             --read-data``, ``restic restore latest``;
* borg       ``borg create`` into a new repository (``--encryption repokey``), ``borg check
             --verify-data``, ``borg extract``.

Passphrases come from the environment (RESTIC_PASSWORD, BORG_PASSPHRASE), never a command line.
Each backup goes into a new repository: a first, full backup, as Secretum's always is (the
repository's creation is not timed). It prints the best and the median seconds of each step,
the ratio Secretum / the faster of the two, the sizes, and the machine. A measurement, never a
test: it always exits 0. All data is fictitious (Faker fr_BE/nl_BE, random document bytes).

    .venv/bin/python bench/backup_tools.py --patients 2000 --entries 20000 --documents-mb 100
    .venv/bin/python bench/backup_tools.py --home /tmp/secretum-backups     # kept and reused
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chart_search

REPO = chart_search.REPO
PASSPHRASE = "fictitious-bench-passphrase-2026"  # noqa: S105  (a throwaway test repository)
TOOLS = ("secretum", "restic", "borg")
STEPS = (("backup", "backup"), ("verify", "verify (full read)"), ("restore", "restore"))
DOC_BATCH_BYTES = 64 << 20  # document bytes per fill transaction


# --- the documents (runs in a child process, with the instance's environment) ----------------


def document_bytes(rng: random.Random) -> tuple[bytes, str]:
    """A scan: 70 % PDF pages (150 kB to 3 MB), 30 % JPEG photographs (300 kB to 2 MB); random
    content behind the right magic bytes, as incompressible as a scan."""
    if rng.random() < 0.7:
        size = int(min(3e6, max(150e3, rng.lognormvariate(13.2, 0.6))))
        return b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + rng.randbytes(size) + b"\n%%EOF\n", "pdf"
    size = int(min(2e6, max(300e3, rng.lognormvariate(13.5, 0.4))))
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + rng.randbytes(size) + b"\xff\xd9", "jpeg"


def fill_documents(megabytes: int, seed: int) -> None:
    """Attach ``megabytes`` of documents to the instance's patients, round robin, sealed under
    each patient's key as ``documents.services.store`` seals them."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from secretum.crypto import keyring
    from secretum.documents import services, types
    from secretum.lib import clamav
    from secretum.patients import services as patient_services
    from secretum.patients.models import Patient

    rng = random.Random(seed + 12)
    author = get_user_model().objects.get(username=chart_search.USERNAME)
    patients = list(Patient.objects.order_by("pk"))
    clean = clamav.Verdict(clean=True)
    started, total, count, n = time.monotonic(), 0, 0, 0
    while total < megabytes * 1e6:
        with transaction.atomic():
            batch = 0
            while batch < DOC_BATCH_BYTES and total < megabytes * 1e6:
                data, ending = document_bytes(rng)
                kind = types.detect(data)
                if kind is None:
                    raise SystemExit("a generated document is of no accepted type")
                patient = patients[n % len(patients)]
                key = keyring.unwrap_data_key(
                    patient.wrapped_key, patient_services.key_aad(patient)
                )
                event = SimpleNamespace(detail={})  # the audit event's detail, not recorded
                services.store(
                    patient, key, event, title=f"scan-{n:06d}.{ending}", kind=kind, data=data,
                    verdict=clean, author=author,
                )  # fmt: skip
                n, count, batch, total = n + 1, count + 1, batch + len(data), total + len(data)
        print(
            f"  documents: {total / 1e6:7.0f} MB, {time.monotonic() - started:6.1f} s", flush=True
        )
    with connection.cursor() as cur:
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    print(json.dumps({"documents": count, "document_bytes": total}), flush=True)


# --- building --------------------------------------------------------------------------------


def build(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The instance in ``root/var`` (its figures in ``root/build.json``), built or reused."""
    done, home = root / "build.json", root / "var"
    wanted = {
        "patients": args.patients,
        "entries": args.entries,
        "documents_mb": args.documents_mb,
        "seed": args.seed,
    }
    if done.exists():
        figures: dict[str, Any] = json.loads(done.read_text())
        if {k: figures.get(k) for k in wanted} != wanted:
            raise SystemExit(f"{root} holds another build ({figures}); use another --home.")
        print(f"Reusing the instance in {home}", flush=True)
        return figures
    if home.exists():
        raise SystemExit(f"{root} holds an unfinished build; delete it or use another --home.")
    root.mkdir(parents=True, exist_ok=True)
    env = chart_search.instance_env(home, baseline=False)
    python = sys.executable
    figures = dict(wanted)
    started = time.monotonic()
    chart_search.run([python, "-m", "secretum.cli", "init"], env, "secretum init")
    chart_search.run([python, "-m", "secretum.cli", "demo", "--patients", "0"], env, "demo")
    print(f"Filling {args.patients} patients, {args.entries} entries…", flush=True)
    fill = Path(chart_search.__file__).resolve()
    # fmt: off
    subprocess.run(
        [python, str(fill), "--fill", str(home), "--label", "bench", "--patients",
         str(args.patients), "--entries", str(args.entries), "--seed", str(args.seed)],
        env=env, cwd=REPO, check=True,
    )
    # fmt: on
    (home.parent / "patients.json").unlink(missing_ok=True)
    figures["patients_seconds"] = round(time.monotonic() - started, 1)
    figures["records_mb"] = round(chart_search.database_mb(home), 1)
    started = time.monotonic()
    if args.documents_mb > 0:
        print(f"Adding {args.documents_mb} MB of documents…", flush=True)
        command = [python, __file__, "--fill-documents", str(args.documents_mb)]
        command += ["--seed", str(args.seed)]
        out = subprocess.run(
            command, env=env, cwd=REPO, check=True, stdout=subprocess.PIPE, text=True
        ).stdout
        print("".join(out.splitlines(keepends=True)[:-1]), end="")
        figures.update(json.loads(out.splitlines()[-1]))
    figures["documents_seconds"] = round(time.monotonic() - started, 1)
    figures["instance_mb"] = round(folder_bytes(home) / 1e6, 1)
    done.write_text(json.dumps(figures, indent=2))
    return figures


def folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


# --- measuring -------------------------------------------------------------------------------


class Timer:
    """Runs the commands of one tool and keeps each step's seconds, wall clock and CPU (the
    command and its children, every thread): on a shared machine the CPU seconds are the
    steadier figure."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.seconds: dict[str, list[float]] = {}
        self.cpu: dict[str, list[float]] = {}  # CPU seconds (user + system, every thread)

    def run(self, cmd: list[str], what: str, step: str | None = None, cwd: Path = REPO) -> str:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            cmd, env=self.env, cwd=cwd, capture_output=True, text=True, check=False
        )
        took = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        if done.returncode != 0:
            raise SystemExit(f"{what} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        if step:
            self.seconds.setdefault(step, []).append(took)
            self.cpu.setdefault(step, []).append(cpu)
        return done.stdout


def bytecode(env: dict[str, str]) -> None:
    """Secretum run from its compiled bytecode, as an installed copy runs (pip compiles what it
    installs, as Debian compiles borg's): the tree's ``__pycache__`` written once, before
    timing. Without it, a shell that sets PYTHONDONTWRITEBYTECODE has every command of
    Secretum compile each of its modules again (about 0.2 s of CPU a command)."""
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "secretum")], env=env, check=True
    )


def secretum_run(t: Timer, home: Path, work: Path, sizes: dict[str, int]) -> None:
    python = [sys.executable, "-m", "secretum.cli"]
    out = t.run([*python, "backup", "create", "--to", str(work / "sc")], "backup", "backup")
    path = Path(out.strip().splitlines()[-1])
    sizes["secretum"] = path.stat().st_size
    t.run([*python, "backup", "verify", str(path)], "backup verify", "verify")
    target = work / "sc-restored"
    restore = [*python, "restore", str(path), "--home", str(target)]
    t.run([*restore, "--key-file", str(home / "secretum.key")], "restore", "restore")
    shutil.rmtree(work / "sc")
    shutil.rmtree(target)


def restic_run(t: Timer, home: Path, work: Path, sizes: dict[str, int]) -> None:
    repo = work / "restic"
    t.env.update(RESTIC_REPOSITORY=str(repo), RESTIC_PASSWORD=PASSPHRASE)
    cache = ["--cache-dir", str(work / "restic-cache")]
    t.run(["restic", *cache, "init"], "restic init")
    backup = ["restic", *cache, "backup", "--exclude", str(home / "secretum.key"), str(home)]
    t.run(backup, "restic backup", "backup")
    sizes["restic"] = folder_bytes(repo)
    t.run(["restic", *cache, "check", "--read-data"], "restic check", "verify")
    target = work / "restic-restored"
    t.run(["restic", *cache, "restore", "latest", "--target", str(target)], "restic", "restore")
    for folder in (repo, target, work / "restic-cache"):
        shutil.rmtree(folder)


def borg_run(t: Timer, home: Path, work: Path, sizes: dict[str, int]) -> None:
    repo = work / "borg"
    t.env.update(BORG_REPO=str(repo), BORG_PASSPHRASE=PASSPHRASE, BORG_BASE_DIR=str(work / "bb"))
    t.run(["borg", "init", "--encryption", "repokey"], "borg init")
    create = ["borg", "create", "--exclude", str(home / "secretum.key"), "::bench", str(home)]
    t.run(create, "borg create", "backup")
    sizes["borg"] = folder_bytes(repo)
    t.run(["borg", "check", "--verify-data"], "borg check", "verify")
    target = work / "borg-restored"
    target.mkdir()
    t.run(["borg", "extract", "::bench"], "borg extract", "restore", cwd=target)
    for folder in (repo, target, work / "bb"):
        shutil.rmtree(folder)


class Others:
    """The share of the machine's CPU used by other processes between two samples (Linux): this
    process and the children it waited for are left out."""

    def __init__(self) -> None:
        self.start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            cpu = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return None
        hz = os.sysconf("SC_CLK_TCK")
        idle = cpu[3] + cpu[4]
        ours = sum(os.times()[:4])
        return sum(cpu) / hz, (sum(cpu) - idle) / hz, ours

    def share(self) -> float | None:
        end = self._sample()
        if self.start is None or end is None or end[0] <= self.start[0]:
            return None
        total, busy, ours = (e - s for e, s in zip(end, self.start, strict=True))
        return max(0.0, (busy - ours) / total)


def version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    except FileNotFoundError:
        return "missing"


def ensure_tools() -> None:
    missing = [p for p, c in (("restic", "restic"), ("borgbackup", "borg")) if not shutil.which(c)]
    if not missing:
        return
    print(f"Installing {', '.join(missing)} with apt-get (Debian's packages)…", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "-q", *missing], env=env, check=True)


def machine() -> list[str]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return [
        f"machine: {os.cpu_count()} cores ({model}), {memory:.0f} GiB, {platform.platform()}",
        f"python {platform.python_version()}, SQLite {chart_search.sqlite_version()}, "
        f"{version(['restic', 'version'])}, {version(['borg', '--version'])}",
        chart_search.code_version(),
    ]


def report(
    figures: dict[str, Any], timers: dict[str, Timer], sizes: dict[str, int], others: float | None
) -> None:
    print()
    for line in machine():
        print(line)
    docs = figures.get("document_bytes", 0) / 1e6
    print(
        f"instance: {figures['patients']} patients, {figures['entries']} entries "
        f"({figures['records_mb']} MB), {figures.get('documents', 0)} documents ({docs:.0f} MB), "
        f"{figures['instance_mb']} MB in all; built in {figures['patients_seconds']} s + "
        f"{figures['documents_seconds']} s"
    )
    share = "unknown" if others is None else f"{others:.0%}"
    runs = len(timers["secretum"].seconds.get("backup", []))
    print(f"other processes used {share} of the CPU while measuring; {runs} runs, page cache warm")
    print()
    _table(timers, "seconds", "faster")
    print()
    print("CPU seconds (user + system, all threads and children of the command):")
    print()
    _table(timers, "cpu", "less of two")
    print()
    print(
        "stored: "
        + ", ".join(f"{t} {sizes.get(t, 0) / 1e6:.1f} MB" for t in TOOLS)
        + f" (instance {figures['instance_mb']} MB)"
    )


def _table(timers: dict[str, Any], figure: str, other: str) -> None:
    """One table of ``figure`` ("seconds": wall clock, or "cpu") per step and tool."""
    print("| step | Secretum best / median | restic best / median | borg best / median "
          f"| Secretum / {other} (best; median) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for step, label in STEPS:
        _row(label, {t: getattr(timers[t], figure).get(step, []) for t in TOOLS})


def _row(label: str, values: dict[str, list[float]]) -> None:
    nan = float("nan")
    best = {t: min(v) if v else nan for t, v in values.items()}
    median = {t: statistics.median(v) if v else nan for t, v in values.items()}
    cells = [f"{best[t]:.2f} / {median[t]:.2f} s" for t in TOOLS]
    ratio_best = best["secretum"] / min(best["restic"], best["borg"])
    ratio_median = median["secretum"] / min(median["restic"], median["borg"])
    print(f"| {label} | {' | '.join(cells)} | {ratio_best:.2f}; {ratio_median:.2f} |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--documents-mb", type=int, default=900, help="documents added, MB")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--runs", type=int, default=3, help="times each step is measured (0: build)"
    )
    parser.add_argument("--home", type=Path, help="keep the instance here (reused when present)")
    parser.add_argument("--tools", default=",".join(TOOLS), help="which tools to time")
    parser.add_argument(
        "--no-bytecode", dest="bytecode", action="store_false",
        help="leave Secretum's bytecode as the shell has it (PYTHONDONTWRITEBYTECODE: compiled "
        "again by every command)",
    )  # fmt: skip
    parser.add_argument("--fill-documents", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.patients < 1 or args.entries < 0 or args.documents_mb < 0 or args.runs < 0:
        parser.error("--patients must be at least 1, the others at least 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fill_documents is not None:
        fill_documents(args.fill_documents, args.seed)
        return 0
    ensure_tools()
    root = args.home.resolve() if args.home else Path(tempfile.mkdtemp(prefix="secretum-bk-"))
    try:
        figures = build(root, args)
        home = root / "var"
        work = root / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        env = chart_search.instance_env(home, baseline=False)
        if args.bytecode:
            bytecode(env)
            print("Secretum runs from its compiled bytecode (__pycache__ of the tree)", flush=True)
        tools = [t for t in TOOLS if t in args.tools.split(",")]
        timers = {t: Timer(dict(env)) for t in TOOLS}
        runners = {"secretum": secretum_run, "restic": restic_run, "borg": borg_run}
        sizes: dict[str, int] = {}
        others = Others()
        if args.runs == 0:
            print(f"Built: {figures}")
            return 0
        for n in range(args.runs):
            for tool in tools:
                runners[tool](timers[tool], home, work, sizes)
                took = ", ".join(
                    f"{s} {v[-1]:.2f} s (CPU {timers[tool].cpu[s][-1]:.2f} s)"
                    for s, v in timers[tool].seconds.items()
                )
                print(f"  run {n + 1} {tool}: {took}", flush=True)
        report(figures, timers, sizes, others.share())
        shutil.rmtree(work, ignore_errors=True)
    finally:
        if args.home is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
