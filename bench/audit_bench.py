"""Audit log (D2): append overhead, `secretum audit verify` on 1,000,000 events, proof checks.

A measurement, never a test: it prints figures and PASS/MISS against the issue's targets and
exits 0 either way.

* append     ``record_event`` inside an open transaction, as a request's service call adds it
             (p50/p95 over --appends calls; the commit belongs to the request either way, its
             cost is printed apart);
* verify     the whole of ``verify_log`` (every event re-hashed and its HMAC checked, the Merkle
             tree rebuilt, every signed checkpoint and the witness compared) on --events events,
             built quickly with bulk inserts of rows sealed exactly as ``record_event`` seals
             them; on this machine's cores (2 processes by default);
* proof      ``audit.proof.verify_proof`` of an inclusion proof from ``build_proof`` (path to the
             root and the checkpoint's Ed25519 signature), mean over 1,000 checks.
* probe      (``--reuse HOME --probe-seconds S``) appends only, one every ``--probe-every`` s,
             to an instance that others are using: ``bench/load.py`` runs it beside its mix, so
             the figure is an append under many users (issue 17: p95 <= 0.5 ms on PostgreSQL).

    .venv/bin/python bench/audit_bench.py [--events 1000000] [--database-url postgresql://…]

All data is fictitious (N3): system events with made-up references.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TARGET_APPEND_P95_MS = 1.0
TARGET_VERIFY_S = 2.0  # issue 17 (D2)
TARGET_PROOF_MS = 1.0


def setup(database_url: str | None, reuse: str = "") -> Path:
    sys.path.insert(0, str(REPO))
    from secretum import init

    if reuse:
        home = Path(reuse)
    else:
        home = Path(tempfile.mkdtemp(prefix="secretum-audit-bench-")) / "var"
        init.create(home)
    os.environ["SECRETUM_HOME"] = str(home)
    os.environ["DJANGO_SETTINGS_MODULE"] = "secretum.settings"
    if database_url:
        os.environ["SECRETUM_DATABASE_URL"] = database_url
    import django

    django.setup()
    from django.core.management import call_command

    if database_url and not reuse:
        from django.db import connection

        with connection.cursor() as cur:  # a clean slate: a bench database of its own
            cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    call_command("migrate", verbosity=0, interactive=False)
    return home


def _cpu() -> float:
    """User + system CPU seconds of this process and of its finished children."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


HEAD_TIMES: list[float] = []


def _timed_heads() -> None:
    """Time the tree head's trip to the witness (D2), run by each commit's hook."""
    from secretum.audit import heads

    committed = heads.committed

    def timed(seq: int, leaf: bytes) -> None:
        t0 = time.perf_counter()
        committed(seq, leaf)
        HEAD_TIMES.append((time.perf_counter() - t0) * 1000)

    heads.committed = timed


def _append_once(actor: object, i: int) -> tuple[float, float]:
    """One ``record_event`` inside a transaction of its own, as a request's service call adds
    it: (ms inside the transaction, ms of the BEGIN and COMMIT around it)."""
    from django.db import transaction

    from secretum.audit.log import record_event

    t0 = time.perf_counter()
    with transaction.atomic():
        t1 = time.perf_counter()
        record_event(actor, "read", "clinical.Chart", patient_ref=str(uuid.UUID(int=i)))
        t2 = time.perf_counter()
    t3 = time.perf_counter()
    return (t2 - t1) * 1000, (t3 - t2 + t1 - t0) * 1000


def _bench_actor() -> object:
    from secretum.access.actor import Actor

    return Actor(user=None, role="practitioner", source="127.0.0.1", request_id="bench")


def bench_append(n: int) -> tuple[float, float, float]:
    _timed_heads()
    actor = _bench_actor()
    inside, commit = [], []
    for i in range(n + 50):
        took, around = _append_once(actor, i)
        if i >= 50:  # warm-up first
            inside.append(took)
            commit.append(around)
    return pct(inside, 50), pct(inside, 95), pct(commit, 50)


def probe(seconds: float, every: float) -> None:
    """Appends beside someone else's work (``bench/load.py`` runs this during its mix, on the
    instance it serves): one every ``every`` s for ``seconds`` s, each timed as ``bench_append``
    times them, so the figure includes waiting for the log's lock that the servers' requests
    hold. Prints one line of JSON: count and percentiles in ms."""
    import json

    from django.db import connection

    actor = _bench_actor()
    for i in range(20):  # connection, key, statements: warm before the clock
        _append_once(actor, i)
    inside: list[float] = []
    # Where each append's time goes: the statement that takes the log's lock (and reads the last
    # number) waits for the other appenders' commits; the INSERT waits for nobody, so what it
    # takes beyond its quiet time is the machine's (CPU, disk), not the lock's.
    parts: dict[str, list[float]] = {"lock": [], "insert": []}
    statements = _StatementClock()
    end = time.monotonic() + seconds
    i = 20
    with connection.execute_wrapper(statements):
        while time.monotonic() < end:
            started = time.monotonic()
            statements.took.clear()
            inside.append(_append_once(actor, i)[0])
            for part, took in statements.split().items():
                parts[part].append(took)
            i += 1
            time.sleep(max(0.0, every - (time.monotonic() - started)))
    figures = {f"p{q}": round(pct(inside, q), 3) for q in (50, 95, 99)}
    for part, took in parts.items():
        figures |= {f"{part}_p{q}": round(pct(took, q), 3) for q in (50, 95) if took}
    print(json.dumps({"appends": len(inside), **figures, "max": round(max(inside), 3)}))


class _StatementClock:
    """A database execute wrapper that times each statement of an append (ms, in order)."""

    def __init__(self) -> None:
        self.took: list[tuple[str, float]] = []

    def __call__(self, execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.took.append((sql, (time.perf_counter() - t0) * 1000))

    def split(self) -> dict[str, float]:
        """The lock's statement (PostgreSQL's advisory lock with the last number; on SQLite the
        write lock is taken by BEGIN IMMEDIATE, outside these statements) and the INSERT."""
        found = {}
        for sql, ms in self.took:
            if "pg_advisory_xact_lock" in sql:
                found["lock"] = ms
            elif sql.startswith("INSERT INTO audit_auditevent"):
                found["insert"] = ms
        return found


def bulk_events(total: int) -> float:
    """Append events up to ``total`` with bulk inserts, sealed exactly like record_event."""
    import datetime as dt

    from django.db import connection, transaction

    from secretum.audit import entries
    from secretum.audit.models import AuditEvent

    start = time.perf_counter()
    key = entries.mac_key()
    have = AuditEvent.objects.count()
    base = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    columns = (
        "seq, at, actor_id, actor_name, role, on_behalf_of, patient_ref, action, resource, "
        "resource_ref, purpose, outcome, source, request_id, detail, leaf_hash, mac"
    )
    placeholders = ", ".join(["%s"] * 17)
    sql = f"INSERT INTO audit_auditevent ({columns}) VALUES ({placeholders})"  # noqa: S608
    batch = 50_000
    seq = have
    while seq < total:
        rows = []
        for _ in range(min(batch, total - seq)):
            seq += 1
            at = base + dt.timedelta(microseconds=seq * 1000 + 1)
            ref = str(uuid.UUID(int=seq % 20_000))
            values = [
                str(seq),
                entries.time_text(at),
                "",
                f"user-{seq % 7}",
                "practitioner",
                "",
                ref,
                "read",
                "clinical.Chart",
                ref,
                "care",
                "success",
                "127.0.0.1",
                f"bench-{seq}",
                "",
            ]
            leaf = entries.leaf_of(entries.canonical(values))
            rows.append(
                (
                    seq,
                    at if connection.vendor == "postgresql" else values[1],
                    None,
                    *values[3:],
                    leaf.hex(),
                    entries.mac_of(key, leaf).hex(),
                )
            )
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(sql, rows)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument(
        "--reuse",
        default="",
        metavar="HOME",
        help="the instance of an earlier run (printed by it): time verify and proofs again",
    )
    parser.add_argument("--repeat", type=int, default=1, help="verify this many times")
    parser.add_argument(
        "--probe-seconds",
        type=float,
        default=0.0,
        help="with --reuse: only append beside other work for this long, and print the times",
    )
    parser.add_argument("--probe-every", type=float, default=0.25, help="seconds between appends")
    args = parser.parse_args()
    if args.probe_seconds and not args.reuse:
        parser.error("--probe-seconds appends to an existing instance: name it with --reuse")
    home = setup(args.database_url or None, args.reuse)
    if args.probe_seconds:
        probe(args.probe_seconds, args.probe_every)
        return 0

    from django.db import connection

    from secretum.audit import checkpoints, entries
    from secretum.audit.proof import verify_proof
    from secretum.audit.verify import build_proof, verify_log

    print(f"audit bench: {connection.vendor}, {os.cpu_count()} cores, instance {home}")
    if not args.reuse:
        p50, p95, commit = bench_append(args.appends)
        ok = "PASS" if p95 <= TARGET_APPEND_P95_MS else "MISS"
        print(
            f"append (record_event in the request's transaction): p50 {p50:.3f} ms, "
            f"p95 {p95:.3f} ms  [target p95 <= {TARGET_APPEND_P95_MS} ms: {ok}]"
        )
        print(f"  (the request's own BEGIN+COMMIT, not added by the event: p50 {commit:.3f} ms)")
        heads_ms = HEAD_TIMES[50:]
        print(
            f"  tree head to the witness after each commit (write(2), fsync batched): "
            f"p50 {pct(heads_ms, 50):.3f} ms, p95 {pct(heads_ms, 95):.3f} ms"
        )
        built = bulk_events(args.events)
        print(f"built {args.events:,} events with bulk inserts in {built:.1f} s")
        t0 = time.perf_counter()
        checkpoints.create_checkpoint()
        print(f"first checkpoint over all events (full tree): {time.perf_counter() - t0:.2f} s")
    checkpoint, _ = checkpoints.create_checkpoint()
    assert checkpoint is not None

    for _ in range(args.repeat):
        load = os.getloadavg()[0]
        cpu0 = _cpu()
        t0 = time.perf_counter()
        result = verify_log(workers=args.workers or None)
        took = time.perf_counter() - t0
        cpu = _cpu() - cpu0
        assert result.ok, result.problem
        ok = "PASS" if took < TARGET_VERIFY_S else "MISS"
        print(
            f"verify {result.checked:,} events: {took:.2f} s  [target < {TARGET_VERIFY_S} s: {ok}]"
        )
        print(
            f"  CPU {cpu:.2f} s in this process and its workers (SQLite runs inside them); "
            f"load average {load:.1f} before: other work on the machine stretches the wall time"
        )

    t0 = time.perf_counter()
    proof = build_proof(args.events // 3, checkpoint)
    built_proof = time.perf_counter() - t0
    public = entries.key_paths().public_key.read_bytes()
    runs = 1000
    t0 = time.perf_counter()
    for _ in range(runs):
        verify_proof(proof, public)
    each = (time.perf_counter() - t0) / runs * 1000
    ok = "PASS" if each < TARGET_PROOF_MS else "MISS"
    print(
        f"inclusion proof ({len(proof['audit_path'])} hashes + Ed25519): verify {each:.3f} ms "
        f"[target < {TARGET_PROOF_MS} ms: {ok}]; building it took {built_proof:.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
