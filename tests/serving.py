"""A throwaway `secretum serve`, and slow clients to press it (G4).

``serving`` runs the real serving path (the TLS front, gunicorn's workers, the plain-HTTP
redirect) on an instance of its own, as an operator starts it, and stops it as an operator does
(SIGTERM). ``SlowClients`` holds connections that never finish their request. Shared by
tests/core/test_slow_clients.py and bench/slow_clients.py: the test and the benchmark press the
server the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.instances import INIT_SETTINGS, fresh

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60.0


def run_apart(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on a thread of its own: a browser test's driver may leave an event
    loop running on the test thread, where asyncio.run refuses to start another."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(main))
        except BaseException as exc:  # re-raised on the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def secretum(env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`secretum ARGS` in a process of its own, with ``env``; never raises on failure."""
    return subprocess.run(
        [sys.executable, "-m", "secretum.cli", *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class Served:
    port: int
    http_port: int  # 0: no redirect
    home: Path
    log: Path  # the server's output: what it says at start, and errors before its logs are open
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    context: ssl.SSLContext  # trusts the instance's own self-signed certificate, nothing else

    @property
    def logs(self) -> Path:
        """The instance's logs folder: secretum.log and access.log (JSON lines)."""
        return self.home / "logs"

    def access_lines(self) -> list[dict[str, Any]]:
        """The access log so far, one object per request: the front's and the workers'."""
        path = self.logs / "access.log"
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return [json.loads(line) for line in text.splitlines()]

    def connect(self, timeout: float, source: str = "127.0.0.1") -> http.client.HTTPSConnection:
        """A connection from ``source`` (any 127.0.0.0/8 address), opened by its first request."""
        return http.client.HTTPSConnection(
            "127.0.0.1",
            self.port,
            context=self.context,
            timeout=timeout,
            source_address=(source, 0),
        )


def trusting(home: Path) -> ssl.SSLContext:
    """A client context that trusts the instance's own self-signed certificate, and nothing else."""
    context = ssl.create_default_context(cafile=str(home / "tls" / "cert.pem"))
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


@contextlib.contextmanager
def serving(
    folder: Path,
    *options: str,
    redirect: bool = False,
    settings: Mapping[str, str] | None = None,
    trust: Path | None = None,
) -> Iterator[Served]:
    """An instance as `secretum init` makes it (a copy of the session's template,
    tests/instances.py, unless ``settings`` name the database or the keys: then `init` itself),
    then `secretum serve OPTIONS` on free ports, in ``folder``; yields once
    /healthz answers 200 and stops the server (SIGTERM, then SIGKILL after 60 s) on the way out.

    ``settings`` are SECRETUM_* variables; none of the caller's own reach the instance.
    ``trust``: the CA file clients trust (default: the instance's own self-signed certificate).
    RuntimeError, with the server's output, when it does not start.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(SECRETUM_HOME=str(folder / "var"), PYTHONPATH=str(ROOT), **(settings or {}))
    if INIT_SETTINGS.isdisjoint(env):  # the instance `init` makes: a copy of the template's
        witness = env.get("SECRETUM_AUDIT_WITNESS")
        fresh(folder / "var", Path(witness) if witness else None)
    else:
        init = secretum(env, "init")
        if init.returncode != 0:
            raise RuntimeError(f"`secretum init` failed:\n{init.stdout}\n{init.stderr}")
    port, http_port = free_port(), free_port() if redirect else 0
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "secretum.cli", "serve"),
                *("--port", str(port), "--http-port", str(http_port), *options),
            ],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    home = folder / "var"
    context = trusting(home) if trust is None else ssl.create_default_context(cafile=str(trust))
    served = Served(port, http_port, home, log, env, process, context)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not _healthy(served):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "`secretum serve` did not start:\n"
                    + log.read_text()[-3000:]
                    + _tail(home / "logs" / "secretum.log")
                )
            time.sleep(0.2)
        yield served
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(path: Path) -> str:
    return f"\n{path}:\n" + path.read_text()[-3000:] if path.exists() else ""


def _healthy(served: Served) -> bool:
    conn = served.connect(timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class SlowClients:
    """Connections that never finish their request, held in an event loop of their own (a
    thread). When the server cuts one, another takes its place: the pressure stays on while the
    caller measures. Each comes from the loopback address it names (127.0.0.0/8 is all local),
    so that per-client limits can be pressed from one machine.

    ``connections``: (source address, kind) for each; "head" sends half a request head, "body"
    a whole head announcing 100 kB, then a byte every ``pace`` seconds. Over TLS with
    ``context``, plain TCP without (the redirect). Every loop is bounded in time or count.
    """

    def __init__(
        self,
        port: int,
        context: ssl.SSLContext | None,
        connections: Sequence[tuple[str, str]],
        pace: float = 0.2,
        settle: float = 10.0,
    ) -> None:
        self.port = port
        self.context = context
        self.connections = list(connections)
        self.pace = pace
        self.settle = settle
        self.held = 0
        self.opened = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.tasks: list[asyncio.Task[None]] = []

    def __enter__(self) -> SlowClients:
        self.thread.start()

        async def start() -> None:
            self.tasks.extend(asyncio.create_task(self._hold(*c)) for c in self.connections)

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(timeout=10)
        # Until every slow client holds a connection (a starved server never gets there: it
        # cannot even finish their TLS handshakes; the caller's own measure then says so).
        deadline = time.monotonic() + self.settle
        while self.held < len(self.connections) and time.monotonic() < deadline:
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

    async def _hold(self, source: str, kind: str) -> None:
        while True:
            try:
                async with asyncio.timeout(15):
                    reader, writer = await asyncio.open_connection(
                        "127.0.0.1",
                        self.port,
                        ssl=self.context,
                        server_hostname="127.0.0.1" if self.context else None,
                        local_addr=(source, 0),
                    )
            except (OSError, ssl.SSLError, TimeoutError):
                await asyncio.sleep(0.1)
                continue
            self.held += 1
            self.opened += 1
            try:
                if kind == "body":
                    writer.write(
                        b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        b"Content-Type: application/x-www-form-urlencoded\r\n"
                        b"Content-Length: 100000\r\n\r\nusername="
                    )
                    for _ in range(1000):  # a byte every `pace` seconds until the server gives up
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(self.pace):
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
