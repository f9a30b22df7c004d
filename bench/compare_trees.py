"""Chart open and patient search: this tree against another commit, in the same run.

``chart_search.py`` compares a secured instance with a baseline one of the same code. To tell
whether a change made Secretum slower or faster, the two codes must be measured side by side
too: on this shared machine the figures of two runs an hour apart differ by more than most
changes do. This script serves the *before* tree (a checkout of another commit, e.g. a
``git worktree add --detach``) and this tree at once, each with its own instance built by its
own ``chart_search.py`` (same size, same seed, so the same fictitious patients), and
interleaves the requests of one client between them, request by request, in alternating order,
as ``chart_search.py`` interleaves secured and baseline:

    .venv/bin/python bench/compare_trees.py ../before --workdir /tmp/secretum-compare \
        --patients 3000 --entries 60000 --charts 300 --name-searches 150 --niss-searches 150

It prints p50 and p95 per operation for each tree and the difference after/before. Add
``--baseline`` to serve each tree's baseline instance too (no encryption, no audit). The built
instances are kept in ``--workdir`` (``before/`` and ``after/``) and reused by the next run with
the same size and seed; ``--rounds`` repeats the measurement (new sessions, new random
patients) and prints the median of the rounds' figures. A measurement, never a test: it exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# This folder's benchmark: its client, its server and its built instances.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import chart_search as cs


@dataclass
class TreeServer(cs.Server):
    """A server running the code of ``tree`` (not necessarily the tree this file sits in)."""

    tree: Path = cs.REPO
    baseline: bool = False

    def start(self) -> None:
        self.port = cs.free_port()
        self.log = self.home.parent / "server.log"
        env = cs.instance_env(self.home, baseline=self.baseline)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(self.tree), os.environ.get("PYTHONPATH")])
        )
        command = [
            *(sys.executable, "-m", "secretum.lib.front", "--home", str(self.home)),
            *("--port", str(self.port), "--workers", "2", "--threads", "4"),
        ]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                command, env=env, cwd=self.tree, stdout=out, stderr=subprocess.STDOUT
            )


def build(tree: Path, folder: Path, args: argparse.Namespace) -> None:
    """The tree's own instances, built by the tree's own benchmark (a few requests measured)."""
    if (folder / "secured" / "build.json").exists() and (
        folder / "baseline" / "build.json"
    ).exists():
        return
    print(f"Building {folder.name} ({tree}) with its own chart_search.py…", flush=True)
    # fmt: off
    command = [
        sys.executable, str(tree / "bench" / "chart_search.py"), "--workdir", str(folder),
        "--patients", str(args.patients), "--entries", str(args.entries), "--seed", str(args.seed),
        "--charts", "1", "--name-searches", "1", "--niss-searches", "1", "--warmup", "0",
    ]
    # fmt: on
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    subprocess.run(command, env=env, cwd=tree, check=True, stdout=subprocess.DEVNULL)


def measure(
    servers: dict[str, TreeServer],
    manifests: dict[str, list[dict[str, Any]]],
    args: argparse.Namespace,
    seed: int,
) -> dict[str, cs.Session]:
    sessions = {label: cs.Session.login(server) for label, server in servers.items()}
    labels = list(servers)
    rng = random.Random(seed)
    plan = {"chart": args.charts, "name": args.name_searches, "niss": args.niss_searches}
    count = min(len(m) for m in manifests.values())
    for record in (False, True):
        for op, _title in cs.OPERATIONS:
            n = plan[op] if record else min(plan[op], args.warmup)
            for i in range(n):
                k = rng.randrange(count)  # the same patient (same seed, same data) everywhere
                first = i % len(labels)  # each server in turn goes first
                for label in labels[first:] + labels[:first]:
                    sessions[label].do(op, manifests[label][k], record)
    for session in sessions.values():
        session.client.close()
    return sessions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="a checkout of the commit to compare with")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--patients", type=int, default=3000)
    parser.add_argument("--entries", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--charts", type=int, default=300)
    parser.add_argument("--name-searches", type=int, default=150)
    parser.add_argument("--niss-searches", type=int, default=150)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--baseline", action="store_true", help="serve the baseline instances too")
    args = parser.parse_args(argv)
    trees = {"before": args.before.resolve(), "after": cs.REPO}
    root = args.workdir.resolve()
    for name, tree in trees.items():
        build(tree, root / name, args)
    kinds = ("secured", "baseline") if args.baseline else ("secured",)
    servers: dict[str, TreeServer] = {}
    manifests: dict[str, list[dict[str, Any]]] = {}
    try:
        for name, tree in trees.items():
            for kind in kinds:
                label = f"{name}/{kind}"
                home = root / name / kind / "var"
                # Labelled by its kind: the login asks a baseline instance's code as one.
                servers[label] = TreeServer(kind, home, tree=tree, baseline=kind == "baseline")
                servers[label].start()
                manifests[label] = json.loads((root / name / kind / "patients.json").read_text())
        for server in servers.values():
            server.wait_ready()
        figures: dict[str, dict[str, list[float]]] = {}
        others = []
        for r in range(args.rounds):
            meter = cs.CpuMeter([os.getpid()] + [s.proc.pid for s in servers.values() if s.proc])
            sessions = measure(servers, manifests, args, args.seed + 1 + r)
            share = meter.others()
            others.append(share)
            line = []
            for label, session in sessions.items():
                for op, _title in cs.OPERATIONS:
                    for p in (50, 95):
                        value = cs.percentile(session.times[op], p)
                        figures.setdefault(label, {}).setdefault(f"{op}{p}", []).append(value)
                line.append(f"{label} chart p50 {cs.percentile(session.times['chart'], 50):.1f}")
            note = "" if share is None else f", other CPU {share:.0%}"
            print(f"  round {r + 1}/{args.rounds}: " + "; ".join(line) + note, flush=True)
        report(figures, kinds, args, others)
    finally:
        for server in servers.values():
            server.stop()
    return 0


def report(
    figures: dict[str, dict[str, list[float]]],
    kinds: tuple[str, ...],
    args: argparse.Namespace,
    others: list[float | None],
) -> None:
    print()
    print(
        f"Before ({args.before}) and after ({cs.code_version()}), requests interleaved; "
        f"median of {args.rounds} round(s), {time.strftime('%Y-%m-%d %H:%M %Z')}"
    )
    head = ("operation", "instance", "before p50", "p95", "after p50", "p95", "Δ p50", "Δ p95")
    print("  {:<27}{:<10}{:>11}{:>8}{:>11}{:>8}{:>9}{:>9}".format(*head))
    for op, title in cs.OPERATIONS:
        for kind in kinds:
            b = {p: statistics.median(figures[f"before/{kind}"][f"{op}{p}"]) for p in (50, 95)}
            a = {p: statistics.median(figures[f"after/{kind}"][f"{op}{p}"]) for p in (50, 95)}
            print(
                f"  {title:<27}{kind:<10}{b[50]:>11.1f}{b[95]:>8.1f}{a[50]:>11.1f}{a[95]:>8.1f}"
                f"{(a[50] / b[50] - 1):>+9.1%}{(a[95] / b[95] - 1):>+9.1%}"
            )
    known = [o for o in others if o is not None]
    if known:
        print(
            f"CPU used by other processes while measuring: {min(known):.0%}–{max(known):.0%}"
            + ("" if max(known) <= cs.OTHERS_MAX else " (figures less reliable)")
        )


if __name__ == "__main__":
    sys.exit(main())
