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
import asyncio
import contextlib
import datetime as dt
import http.client
import os
import platform
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = 10  # loopback addresses the slow clients come from (127.0.0.0/8 is all local)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Server:
    """`secretum serve` on a throwaway instance, as an operator runs it."""

    def __init__(self, root: Path) -> None:
        self.home = root / "var"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.env.update(SECRETUM_HOME=str(self.home), PYTHONPATH=str(REPO))
        subprocess.run(
            [sys.executable, "-m", "secretum.cli", "init"],
            env=self.env,
            cwd=REPO,
            check=True,
            capture_output=True,
        )
        self.port = free_port()
        self.log = root / "serve.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "secretum.cli", "serve"),
                    *("--port", str(self.port), "--http-port", "0"),
                ],
                env=self.env,
                cwd=REPO,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.context = ssl.create_default_context(cafile=str(self.home / "tls" / "cert.pem"))
        self.context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = self.connect(2)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    conn.close()
                    break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("secretum serve did not start:\n" + self.log.read_text()[-3000:])
            time.sleep(0.2)

    def connect(self, timeout: float) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.context, timeout=timeout
        )

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class SlowClients:
    """Slow connections held in an event loop of their own (a thread), re-opened when cut."""

    def __init__(self, server: Server, count: int) -> None:
        self.server = server
        self.count = count
        self.held = 0
        self.opened = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.tasks: list[asyncio.Task[None]] = []

    def __enter__(self) -> SlowClients:
        self.thread.start()

        async def start() -> None:
            for i in range(self.count):
                source = f"127.0.0.{100 + i % SOURCES}"
                self.tasks.append(asyncio.create_task(self._hold(source, trickle=i % 5 == 4)))

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout=10)
        deadline = time.monotonic() + 20
        while self.held < self.count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        async def cancel() -> None:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _hold(self, source: str, trickle: bool) -> None:
        while True:
            try:
                async with asyncio.timeout(15):
                    reader, writer = await asyncio.open_connection(
                        "127.0.0.1",
                        self.server.port,
                        ssl=self.server.context,
                        server_hostname="127.0.0.1",
                        local_addr=(source, 0),
                    )
            except (OSError, ssl.SSLError, TimeoutError):
                await asyncio.sleep(0.2)
                continue
            self.held += 1
            self.opened += 1
            try:
                if trickle:
                    writer.write(
                        b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Type: application/x-www-form-urlencoded\r\n"
                        b"Content-Length: 100000\r\n\r\nusername="
                    )
                    while True:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(0.5):
                                if await reader.read(1024) == b"":
                                    break
                        writer.write(b"a")
                        await writer.drain()
                else:
                    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                    await writer.drain()
                    while await reader.read(1024):
                        pass
            except (OSError, ssl.SSLError):
                pass
            finally:
                self.held -= 1
                writer.transport.abort()


def timed(
    server: Server, path: str, n: int, timeout: float, keep_alive: bool
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


def throughput(server: Server, clients: int, seconds: float, timeout: float) -> tuple[float, int]:
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


def code_version() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "secretum"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"code in {REPO} (not a git work tree)"
    return f"commit {rev}" + (" + uncommitted changes in secretum/" if dirty else "")


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
    server = Server(root)
    kinds = (
        ("healthz, new connection", "/healthz", False),
        ("healthz, kept alive", "/healthz", True),
        ("login page, kept alive", "/accounts/login/", True),
    )
    rows = []
    try:
        timed(server, "/accounts/login/", 20, args.timeout, True)  # warm-up
        for level in levels:
            print(f"  {level} slow connections: measuring", flush=True)
            with SlowClients(server, level) as slow:
                held = slow.held
                row = {"level": level, "held": held, "rss": rss_mb(server.proc.pid)}
                for title, path, keep in kinds:
                    row[title] = timed(server, path, args.requests, args.timeout, keep)
                row["rps"] = throughput(server, args.clients, args.seconds, args.timeout)
                row["opened"] = slow.opened
            rows.append(row)
    finally:
        server.stop()
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
