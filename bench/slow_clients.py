"""Slow clients (G4): a normal client's latency and throughput while slow connections are held.

Starts ``secretum serve`` on a throwaway instance: the real serving path (TLS front, gunicorn
workers, 2 × 4 threads, the default limits). For each level of slow connections (default 0, 50
and 200), slow clients from several loopback addresses each hold a TLS connection that sends half
a request head (four in five) or a whole head then a body at a few bytes a second (one in five),
and open a new one whenever the server cuts theirs. While they are held, a normal client measures:

* ``healthz, new connection``  TLS handshake + ``GET /healthz`` on a connection of its own
* ``healthz, kept alive``      ``GET /healthz`` on one kept-alive connection
* ``login page, kept alive``   ``GET /accounts/login/`` (templates, session, translations)
* throughput                   ``GET /healthz`` from --clients kept-alive connections for
                               --seconds, requests answered per second

A request that takes longer than --timeout counts as failed. It also prints the resident memory
of the front (the serve process). It is a measurement, never a test: it exits 0. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The serving path and the slow clients as the tests press them (tests/serving.py).
sys.path.insert(0, str(REPO))

from chart_search import code_version, percentile  # noqa: E402  (beside this script)

from tests.serving import Served, SlowClients, serving  # noqa: E402  (REPO on the path first)

SOURCES = 10  # loopback addresses the slow clients come from (127.0.0.0/8 is all local)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def slow_clients(server: Served, count: int) -> SlowClients:
    """``count`` slow connections over SOURCES addresses: four in five send half a head, one in
    five trickles a body."""
    connections = [
        (f"127.0.0.{100 + i % SOURCES}", "body" if i % 5 == 4 else "head") for i in range(count)
    ]
    return SlowClients(server.port, server.context, connections, pace=0.5, settle=20)


def timed(
    server: Served, path: str, n: int, timeout: float, keep_alive: bool
) -> tuple[list[float], int]:
    """Latencies in ms of ``n`` requests, and how many failed (error or over ``timeout``)."""
    times: list[float] = []
    failed = 0
    conn = server.connect(timeout)
    for _ in range(n):
        if not keep_alive:
            conn.close()
            conn = server.connect(timeout)
        started = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise http.client.HTTPException(response.status)
            times.append((time.perf_counter() - started) * 1000)
        except (OSError, http.client.HTTPException):
            failed += 1
            conn.close()
            conn = server.connect(timeout)
    conn.close()
    return times, failed


def throughput(server: Served, clients: int, seconds: float, timeout: float) -> tuple[float, int]:
    """Requests per second answered to ``clients`` kept-alive connections, and failures."""
    done = [0] * clients
    failed = [0] * clients
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        conn = server.connect(timeout)
        while time.monotonic() < stop:
            try:
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                done[i] += response.status == 200
            except (OSError, http.client.HTTPException):
                failed[i] += 1
                conn.close()
                conn = server.connect(timeout)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - started), sum(failed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="0,50,200", help="slow connections held, per step")
    parser.add_argument("--requests", type=int, default=200, help="timed requests per kind")
    parser.add_argument("--clients", type=int, default=8, help="connections for throughput")
    parser.add_argument("--seconds", type=float, default=5.0, help="throughput duration")
    parser.add_argument("--timeout", type=float, default=5.0, help="a slower request failed")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    root = Path(tempfile.mkdtemp(prefix="secretum-slow-bench-"))
    print(f"Starting secretum serve on a throwaway instance in {root}", flush=True)
    kinds = (
        ("healthz, new connection", "/healthz", False),
        ("healthz, kept alive", "/healthz", True),
        ("login page, kept alive", "/accounts/login/", True),
    )
    rows = []
    try:
        with serving(root) as server:
            timed(server, "/accounts/login/", 20, args.timeout, True)  # warm-up
            for level in levels:
                print(f"  {level} slow connections: measuring", flush=True)
                with slow_clients(server, level) as slow:
                    held = slow.held
                    row = {"level": level, "held": held, "rss": rss_mb(server.process.pid)}
                    for title, path, keep in kinds:
                        row[title] = timed(server, path, args.requests, args.timeout, keep)
                    row["rps"] = throughput(server, args.clients, args.seconds, args.timeout)
                    row["opened"] = slow.opened
                rows.append(row)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    line = "-" * 96
    print()
    print("Secretum benchmark: a normal client while slow clients hold connections (G4)")
    print(
        f"  {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} · {os.cpu_count()} CPU · "
        f"Python {platform.python_version()} · {code_version()}"
    )
    print("  server: secretum serve, default limits, 2 workers × 4 threads")
    print(line)
    print(
        f"  {'slow conns (held)':<19}{'kind':<25}{'n':>5}{'failed':>8}"
        f"{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}"
    )
    for row in rows:
        label = f"{row['level']} ({row['held']})"
        for title, _, _ in kinds:
            times, failed = row[title]
            p50 = f"{percentile(times, 50):.1f}" if times else "-"
            p95 = f"{percentile(times, 95):.1f}" if times else "-"
            top = f"{max(times):.1f}" if times else "-"
            if failed * 20 > len(times) + failed:  # over 5 % failed: the p95 is a timeout
                p95 = f">{args.timeout * 1000:.0f}"
            print(f"  {label:<19}{title:<25}{len(times):>5}{failed:>8}{p50:>10}{p95:>10}{top:>10}")
            label = ""
    print(line)
    print(f"  throughput: GET /healthz, {args.clients} kept-alive clients, {args.seconds:g} s")
    for row in rows:
        rps, failed = row["rps"]
        print(
            f"  {row['level']:>4} slow connections: {rps:8.1f} requests/s, {failed} failed; "
            f"serve process RSS {row['rss']:.0f} MB; slow connections opened {row['opened']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
