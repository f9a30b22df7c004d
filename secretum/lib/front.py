"""The TLS front of ``secretum serve``: a request reaches a worker only once it is whole (G4).

Why a front. gunicorn's threaded workers read a request on the thread that will run it: a client
that sends half a request holds that thread until it finishes or gunicorn's timeout ends it. The
penetration test of issue 8 starved the 2 × 4 threads with 16 such connections. Here one asyncio
event loop terminates TLS and reads every request head and body within deadlines and size limits;
only then does it hand the request, whole, to the workers over a Unix socket in the instance
(mode 0600), and relay their answer. A worker thread never waits on a client; a slow client costs
this loop one file descriptor and some memory, bounded per client and in total:

* TLS handshake and the whole first request head within ``header_timeout`` of the connection;
  the next request on a kept-alive connection starts within ``KEEPALIVE_TIMEOUT`` and its head
  completes within ``header_timeout`` (408 otherwise, RFC 9110 §15.5.9);
* a body keeps coming: at least ``MIN_BODY_RATE`` × ``body_timeout`` bytes (or the rest of it)
  in every ``body_timeout`` seconds (408), at most ``max_body`` bytes (413, RFC 9110 §15.5.14);
* a head of at most ``MAX_HEAD`` bytes (431, RFC 6585 §5), a request line of at most 8190 (414);
* at most ``max_per_client`` connections per client address (IPv6: per /64) and
  ``max_connections`` in all: a connection over either is closed at once, before its TLS
  handshake, so that a client at its limit costs nothing more;
* request bodies held in memory, beyond the first ``SMALL_BODY`` bytes of each, are bounded in
  total and per client (503 with Retry-After, RFC 9110 §15.6.4): uploads cannot crowd out
  logins and forms.

The workers see the client's address as REMOTE_ADDR through the PROXY protocol (v1) line the
front writes first on each connection to them; X-Forwarded-For is passed on as any other field,
and nothing trusts it. ``secretum.lib.workers`` marks each request HTTPS.

Here: the connections, from accept to close, and the process (TLS context, listener, workers).
The limits and their accounting are in ``secretum.lib.limits``, reading within deadlines in
``secretum.lib.incoming``, the hand-over to the workers and the relay of their answer in
``secretum.lib.relay``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import logging.config
import os
import signal
import socket
import ssl
import stat
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path
from typing import cast

from secretum.lib import http1, logs, relay, workers
from secretum.lib.certificates import ReloadingContext
from secretum.lib.http1 import Refusal
from secretum.lib.incoming import READ_SIZE, ClientGone, Incoming, read_request_head
from secretum.lib.limits import (
    CLOSE_TIMEOUT,
    KEEPALIVE_TIMEOUT,
    MAX_HEAD,
    MIN_BODY_RATE,
    RESPONSE_BUFFER,
    SEND_TIMEOUT,
    BodyMemory,
    Limits,
    Refused,
    Slots,
    ensure_descriptors,
    limits_from_env,
)


def tls_context(certfile: str | Path, keyfile: str | Path) -> ssl.SSLContext:
    """H1: TLS 1.2 or 1.3 only, forward-secret AEAD suites only for TLS 1.2; HTTP/1.1 (ALPN)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])  # RFC 7301; the front speaks HTTP/1.1
    context.load_cert_chain(str(certfile), str(keyfile))
    return context


class Client:
    """One client connection."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str
    ) -> None:
        self.writer = writer
        self.incoming = Incoming(reader)
        self.key = key
        peer = writer.get_extra_info("peername")
        self.address = http1.plain_address(str(peer[0]))
        # Written first on each of its requests' connections to the workers: made once.
        self.proxy_line = relay.proxy_line(peer, writer.get_extra_info("sockname"))
        self.accepted = asyncio.get_running_loop().time()
        self.idle = True  # waiting for a request to start: may be closed at shutdown


class Front:
    """The event loop's server: TLS, whole requests, limits; the workers behind a Unix socket.
    Each new connection gets the TLS context as ``tls`` has it now: renewed certificate files
    are served without a restart (H1)."""

    def __init__(self, tls: ReloadingContext, upstream: Path, limits: Limits) -> None:
        self.tls = tls
        self.upstream = str(upstream)
        self.limits = limits
        self.access_lines = logging.getLogger(logs.ACCESS_LOGGER)
        self.slots = Slots(limits.max_per_client, limits.max_connections)
        self.refused = Refused(logging.getLogger("secretum.front"))
        self.bodies = BodyMemory(limits.body_memory, limits.max_body)
        self.clients: dict[asyncio.Task[None], Client] = {}
        self.stopping = False
        self.server: asyncio.Server | None = None

    async def start(self, listener: socket.socket) -> None:
        self.server = await asyncio.start_server(self._accept, sock=listener, limit=READ_SIZE)

    async def shutdown(self, grace: float) -> None:
        """Stop accepting; close idle connections; let requests in progress end within grace."""
        self.stopping = True
        if self.server is not None:
            self.server.close()
        for task, client in list(self.clients.items()):
            if client.idle:
                task.cancel()
        pending = set(self.clients)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=CLOSE_TIMEOUT)
        self.refused.flush()

    def log(
        self, client: Client, method: str, path: str, status: int, size: int, t0: float
    ) -> None:
        """The access line of the front's own answers, with the workers' fields (path only, H2)
        and a request id of its own: the request never reached the application."""
        ms = int((asyncio.get_running_loop().time() - t0) * 1000)
        fields: dict[str, object] = {"client": client.address, "method": method, "path": path}
        fields.update(status=int(status), bytes=size, duration_ms=ms)
        logs.log_access(self.access_lines, logs.new_request_id(), fields)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        key = http1.client_key(str(peer[0])) if peer else "?"
        # Counted from the first moment, TLS handshake included; over a limit, closed before
        # the handshake: no CPU spent on it (G4).
        if self.stopping or not self.slots.take(key):
            self.refused.note(key, overall=self.slots.count >= self.slots.total)
            writer.transport.abort()
            return
        client = Client(reader, writer, key)
        # start_server runs each connection as a task of its own.
        task = cast("asyncio.Task[None]", asyncio.current_task())
        self.clients[task] = client
        try:
            # No await before start_tls: the ClientHello must reach the TLS layer, not the
            # plain stream's buffer.
            await writer.start_tls(
                self.tls.current(), ssl_handshake_timeout=self.limits.header_timeout
            )
            # Room for RESPONSE_BUFFER bytes of an answer before a worker has to wait for a slow
            # reader (relay): set once on the TLS transport, for every request of the connection.
            writer.transport.set_write_buffer_limits(high=RESPONSE_BUFFER)
            await self._converse(client)
        except (OSError, ssl.SSLError, TimeoutError, ClientGone, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass  # shutdown: an idle connection, or one that outlived the grace period
        finally:
            try:
                await self._close(writer)
            finally:
                # Held until the socket is closed: a closing connection still counts (G4).
                del self.clients[task]
                self.slots.give_back(key)

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        """Send what the client has yet to read (SEND_TIMEOUT), close TLS, close the socket."""
        try:
            if writer.transport.get_write_buffer_size():
                # drain() now returns once nothing is left to send.
                writer.transport.set_write_buffer_limits(high=1, low=0)
                async with asyncio.timeout(SEND_TIMEOUT):
                    await writer.drain()
            writer.close()
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await writer.wait_closed()
        except Exception:  # noqa: S110  (whatever went wrong, the socket is closed below)
            pass
        finally:
            writer.transport.abort()

    async def _converse(self, client: Client) -> None:
        loop = asyncio.get_running_loop()
        limits = self.limits
        # The first request: handshake and head within header_timeout of the connection.
        idle_deadline = client.accepted + limits.header_timeout
        head_deadline: float | None = idle_deadline
        while not self.stopping:
            t0 = loop.time()
            counted = 0  # body bytes counted in self.bodies, handed back after the exchange
            try:
                try:
                    client.idle = True
                    head = await read_request_head(
                        client.incoming, idle_deadline, head_deadline, limits.header_timeout
                    )
                    client.idle = False
                    if head is None:
                        return
                    t0 = loop.time()
                    request = http1.parse_request_head(head)
                    http1.body_framing(request, limits.max_body)
                    body, counted = await self._read_body(client, request)
                    keep_alive = await relay.exchange(
                        self.upstream,
                        client.writer,
                        client.proxy_line,
                        request,
                        body,
                        lambda: self.stopping,
                    )
                except Refusal as refusal:
                    await self._refuse(client, refusal, t0)
                    return
                if not keep_alive:
                    return
            finally:
                self.bodies.release(client.key, counted)
            idle_deadline = loop.time() + KEEPALIVE_TIMEOUT
            head_deadline = None

    async def _read_body(
        self, client: Client, request: http1.RequestHead
    ) -> tuple[bytes | None, int]:
        """The whole body (None: the request has none) and the bytes it counts in memory.

        Pace (G4): at least MIN_BODY_RATE × body_timeout bytes, or the rest of the body, in
        every body_timeout seconds (408 otherwise): a trickle cannot last, and no credit is
        earned by sending fast first (a sliding form of mod_reqtimeout's MinRate).
        """
        length = request.content_length
        if length == 0:
            # "Content-Length: 0" is forwarded as such; no field at all stays without one.
            has_length = any(k.lower() == "content-length" for k, _ in request.fields)
            return (b"" if has_length else None), 0
        if request.expect_continue and not client.incoming.buffer:
            client.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # RFC 9110 §15.2.1
        loop = asyncio.get_running_loop()
        timeout = self.limits.body_timeout
        incoming = client.incoming
        window = [loop.time() + timeout, 0]  # [deadline, bytes received in this window]
        counted = 0
        body = bytearray()  # chunked bodies only

        def refuse(status: int) -> Refusal:
            return Refusal(status, request.method, request.path)

        async def more() -> None:
            before = len(incoming.buffer)
            try:
                if not await incoming.more(window[0]):
                    raise ClientGone
            except TimeoutError:
                raise refuse(HTTPStatus.REQUEST_TIMEOUT) from None
            nonlocal counted
            got = len(incoming.buffer) - before
            counted += self.bodies.grow(client.key, len(body) + before, len(body) + before + got)
            window[1] += got
            if window[1] >= MIN_BODY_RATE * timeout:
                window[:] = [loop.time() + timeout, 0]

        try:
            if length is not None:
                counted += self.bodies.grow(client.key, 0, min(len(incoming.buffer), length))
                while len(incoming.buffer) < length:
                    await more()
                return incoming.take(length), counted
            # Chunked (RFC 9112 §7.1): de-chunked here, forwarded with a Content-Length.
            while True:
                while (end := incoming.buffer.find(b"\r\n")) < 0:
                    if len(incoming.buffer) > 4096:
                        raise ValueError("chunk size line too long")
                    await more()
                size = http1.chunk_size(incoming.take(end + 2)[:-2])
                if size == 0:
                    break
                if len(body) + size > self.limits.max_body:
                    raise refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
                while len(incoming.buffer) < size + 2:
                    await more()
                body += incoming.take(size)
                if incoming.take(2) != b"\r\n":
                    raise ValueError("chunk without its CRLF")
            # The trailer section is read and discarded (RFC 9112 §7.1.2), within MAX_HEAD.
            while (end := incoming.buffer.find(b"\r\n")) != 0:
                if end > 0:
                    del incoming.buffer[: end + 2]
                    continue
                if len(incoming.buffer) > MAX_HEAD:
                    raise ValueError("trailer section too long")
                await more()
            del incoming.buffer[:2]
            return bytes(body), counted
        except ValueError:
            self.bodies.release(client.key, counted)
            raise refuse(HTTPStatus.BAD_REQUEST) from None
        except BaseException as exc:
            self.bodies.release(client.key, counted)
            if isinstance(exc, Refusal):
                exc.method, exc.path = request.method, request.path
            raise

    async def _refuse(self, client: Client, refusal: Refusal, t0: float) -> None:
        """Answer the front's own error; the caller then closes the connection (TLS
        close_notify first: the client reads the answer, then sees the end)."""
        extra = [("Retry-After", "5")] if refusal.status == HTTPStatus.SERVICE_UNAVAILABLE else []
        data = http1.simple_response(refusal.status, extra)
        self.log(client, refusal.method, refusal.path, refusal.status, len(data), t0)
        with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
            client.writer.write(data)
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await client.writer.drain()


def listen(host: str, port: int) -> socket.socket:
    """The HTTPS listening socket, bound before anything starts (a busy port fails at once).

    Made with its protocol named, IPPROTO_TCP, as asyncio makes its own (socket.create_server
    leaves it 0): asyncio then sets TCP_NODELAY on every connection it accepts. Without it,
    Nagle's algorithm holds a response's second segment until the client's delayed ACK, 40 ms
    later (RFC 1122 §4.2.3.4).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


async def _wait_for_workers(path: Path, pool: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the workers answer on their socket; then check it is ours alone (mode 0600)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if pool.poll() is not None:
            raise RuntimeError(f"the worker pool stopped at start (exit code {pool.returncode})")
        try:
            _, writer = await asyncio.open_unix_connection(str(path))
        except OSError:
            if loop.time() > deadline:
                raise RuntimeError(
                    f"the worker pool did not start within {timeout:.0f} s"
                ) from None
            await asyncio.sleep(0.1)
            continue
        writer.transport.abort()
        break
    info = path.stat()
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{path} is not a socket of this user alone (mode 0600)")


async def _run_front(
    listener: socket.socket,
    tls: ReloadingContext,
    upstream: Path,
    limits: Limits,
    pool: subprocess.Popen[bytes],
    grace: float,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    await _wait_for_workers(upstream, pool, 60)
    front = Front(tls, upstream, limits)
    await front.start(listener)
    while not stop.is_set() and pool.poll() is None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                await stop.wait()
    await front.shutdown(grace)
    if not stop.is_set():
        raise RuntimeError(f"the worker pool stopped (exit code {pool.returncode})")


def run(
    home: Path,
    host: str,
    port: int,
    limits: Limits,
    worker_count: int,
    threads: int,
    graceful_timeout: float = 20.0,
    certificate: tuple[Path, Path] | None = None,
) -> None:
    """Serve the instance in ``home`` until SIGTERM, SIGINT or SIGHUP, then stop in order:
    the front stops accepting and lets requests in progress end, then the workers stop.
    ``certificate``: the certificate and key files (default: the instance's own, from init)."""
    ensure_descriptors(limits)
    certfile, keyfile = certificate or (home / "tls" / "cert.pem", home / "tls" / "key.pem")
    tls = ReloadingContext(certfile, keyfile, tls_context)
    listener = listen(host, port)
    upstream = home / workers.SOCKET_NAME
    with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(upstream))
            raise RuntimeError(f"another 'secretum serve' is running on {home}")
    pool = workers.start(home, worker_count, threads, graceful_timeout)
    try:
        asyncio.run(_run_front(listener, tls, upstream, limits, pool, graceful_timeout))
    finally:
        listener.close()
        workers.stop(pool, graceful_timeout + 10)


def main(argv: list[str] | None = None) -> int:
    """The front and its workers alone, without serve's checks: for bench/ only."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    logging.config.dictConfig(logs.dict_config(logs.LogSettings.from_env(os.environ, args.home)))
    limits = limits_from_env(os.environ)
    run(args.home.resolve(), args.host, args.port, limits, args.workers, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
