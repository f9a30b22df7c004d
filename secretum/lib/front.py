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
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import socket
import ssl
import stat
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from pathlib import Path
from typing import Any, TextIO, cast

from secretum.lib import http1, workers
from secretum.lib.http1 import Refusal

# Not configurable: they follow from the protocol or from the application.
MAX_HEAD = 16 * 1024  # request line and fields; browsers send 1-3 KiB
KEEPALIVE_TIMEOUT = 5.0  # seconds an idle kept-alive connection waits for its next request
MIN_BODY_RATE = 1024  # bytes per second, over each body_timeout window of a body
SEND_TIMEOUT = 30.0  # seconds a client may take to accept the next part of a response
UPSTREAM_TIMEOUT = 120.0  # the workers' answer (gunicorn ends a request at 60 s)
RESPONSE_BUFFER = 1024 * 1024  # response bytes held for a slow reader before the worker waits
READ_SIZE = 64 * 1024
SMALL_BODY = 64 * 1024  # a body up to this size is never refused for memory (forms, logins)
CLOSE_TIMEOUT = 2.0  # a TLS close_notify, then the socket is closed anyway


class ClientGone(Exception):
    """The client closed its connection before its request was complete."""


@dataclass(frozen=True)
class Limits:
    """The front's limits (G4); ``limits_from_env`` reads the SECRETUM_SERVE_* variables."""

    header_timeout: float = 10.0
    body_timeout: float = 10.0
    # Above the largest body the application accepts (a 10 MB evidence document in its
    # multipart envelope; Django's DATA_UPLOAD_MAX_MEMORY_SIZE caps other forms at 2.5 MB), so
    # that a document just over 10 MB still gets the application's own message.
    max_body: int = 16 * 1024 * 1024
    max_per_client: int = 32
    max_connections: int = 512

    @property
    def body_memory(self) -> int:
        """Bytes of request bodies the front may hold at once, all clients together (one client
        holds at most ``max_body``)."""
        return max(4 * self.max_body, 64 * 1024 * 1024)


# variable: (field, type, minimum, maximum)
ENVIRONMENT: dict[str, tuple[str, type, float, float]] = {
    "SECRETUM_SERVE_HEADER_TIMEOUT": ("header_timeout", float, 1, 60),
    "SECRETUM_SERVE_BODY_TIMEOUT": ("body_timeout", float, 1, 300),
    "SECRETUM_SERVE_MAX_BODY": ("max_body", int, 64 * 1024, 1024**3),
    "SECRETUM_SERVE_MAX_PER_CLIENT": ("max_per_client", int, 1, 1_000_000),
    "SECRETUM_SERVE_MAX_CONNECTIONS": ("max_connections", int, 16, 1_000_000),
}


def limits_from_env(environ: Mapping[str, str], behind_proxy: bool = False) -> Limits:
    """The limits set in the environment; ValueError names a bad one.

    Behind a proxy (SECRETUM_BEHIND_PROXY) every connection comes from the proxy's address, so
    the per-client limit defaults to the overall one: the proxy must limit its own clients.
    """
    values: dict[str, Any] = {}
    for name, (attribute, kind, low, high) in ENVIRONMENT.items():
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"{name} must be a number, not {raw!r}.") from None
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low:g} and {high:g}.")
        values[attribute] = value
    limits = replace(Limits(), **values)
    if behind_proxy and "max_per_client" not in values:
        limits = replace(limits, max_per_client=limits.max_connections)
    return limits


def tls_context(certfile: str | Path, keyfile: str | Path) -> ssl.SSLContext:
    """H1: TLS 1.2 or 1.3 only, forward-secret AEAD suites only for TLS 1.2; HTTP/1.1 (ALPN)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.set_alpn_protocols(["http/1.1"])  # RFC 7301; the front speaks HTTP/1.1
    context.load_cert_chain(str(certfile), str(keyfile))
    return context


def ensure_descriptors(limits: Limits) -> None:
    """Two descriptors per connection (client and worker) must fit under RLIMIT_NOFILE."""
    needed = 2 * limits.max_connections + 128
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        top = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
        if top < needed:
            raise ValueError(
                f"SECRETUM_SERVE_MAX_CONNECTIONS={limits.max_connections} needs {needed} open "
                f"files, the system allows {top}: lower it or raise 'ulimit -n'."
            )


class Slots:
    """Connections held per client and in total (G4)."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.total = total
        self.held: dict[str, int] = {}
        self.count = 0

    def take(self, key: str) -> bool:
        if self.count >= self.total or self.held.get(key, 0) >= self.per_client:
            return False
        self.held[key] = self.held.get(key, 0) + 1
        self.count += 1
        return True

    def give_back(self, key: str) -> None:
        self.count -= 1
        left = self.held[key] - 1
        if left:
            self.held[key] = left
        else:
            del self.held[key]


class Refused:
    """Connections refused over a limit, logged as one line a minute, not one per connection."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.per_client: dict[str, int] = {}
        self.overall = 0
        self.since = time.monotonic()

    def note(self, key: str, overall: bool) -> None:
        if overall:
            self.overall += 1
        else:
            self.per_client[key] = self.per_client.get(key, 0) + 1
        if time.monotonic() - self.since >= 60:
            self.flush()

    def flush(self) -> None:
        if self.overall or self.per_client:
            worst = sorted(self.per_client.items(), key=lambda kv: -kv[1])[:3]
            self.out.write(
                f"secretum front: refused {sum(self.per_client.values())} connections over the "
                f"per-client limit ({', '.join(f'{k}: {n}' for k, n in worst) or 'none'}) and "
                f"{self.overall} over the overall limit\n"
            )
            self.out.flush()
        self.per_client, self.overall, self.since = {}, 0, time.monotonic()


class Incoming:
    """A stream's bytes in a buffer of our own, read with deadlines (event loop time)."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self.buffer = bytearray()

    async def more(self, deadline: float) -> bool:
        """Wait for more bytes until ``deadline``; False at the end of the stream."""
        async with asyncio.timeout_at(deadline):
            data = await self.reader.read(READ_SIZE)
        if not data:
            return False
        self.buffer += data
        return True

    async def line(self, deadline: float, limit: int) -> bytes:
        """One CRLF-terminated line, without its CRLF (ValueError past ``limit`` bytes)."""
        while (end := self.buffer.find(b"\r\n")) < 0:
            if len(self.buffer) > limit:
                raise ValueError("line too long")
            if not await self.more(deadline):
                raise ClientGone
        line = bytes(self.buffer[:end])
        del self.buffer[: end + 2]
        return line

    async def head(self, deadline: float, limit: int) -> bytes | None:
        """A head up to its blank line (excluded); None at the end of the stream."""
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > limit:
                raise ValueError("head too long")
            if not await self.more(deadline):
                return None
        head = bytes(self.buffer[: end + 2])
        del self.buffer[: end + 4]
        return head

    def take(self, n: int) -> bytes:
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data


async def read_request_head(
    incoming: Incoming, idle_deadline: float, head_deadline: float | None, header_timeout: float
) -> bytes | None:
    """The next request head, read within its deadlines (G4).

    None when the connection ends, or stays idle past ``idle_deadline``, before a request
    starts (nothing to answer). Once its first byte has come, the head must be complete by
    ``head_deadline`` (or ``header_timeout`` after that byte): 408 otherwise; 414 and 431 when
    it grows too long; ClientGone when the client leaves half-way.
    """
    loop = asyncio.get_running_loop()
    while True:
        # RFC 9112 §2.2: empty lines before a request-line are ignored, within MAX_HEAD.
        stripped = incoming.buffer.lstrip(b"\r\n")
        if stripped:
            del incoming.buffer[: len(incoming.buffer) - len(stripped)]
            break
        if len(incoming.buffer) > MAX_HEAD:
            raise Refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        try:
            if not await incoming.more(idle_deadline):
                return None
        except TimeoutError:
            return None
    if head_deadline is None:
        head_deadline = loop.time() + header_timeout
    while (end := incoming.buffer.find(b"\r\n\r\n")) < 0:
        if http1.request_line_too_long(incoming.buffer):
            raise Refusal(HTTPStatus.REQUEST_URI_TOO_LONG)
        if len(incoming.buffer) > MAX_HEAD:
            raise Refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        try:
            if not await incoming.more(head_deadline):
                raise ClientGone
        except TimeoutError:
            raise Refusal(HTTPStatus.REQUEST_TIMEOUT) from None
    if end + 4 > MAX_HEAD:
        raise Refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
    head = bytes(incoming.buffer[: end + 2])
    del incoming.buffer[: end + 4]
    return head


class BodyMemory:
    """Request bodies held in memory until they are forwarded, bounded in total and per client
    (G4). The first SMALL_BODY bytes of each body are not counted: logins and forms are never
    refused for memory that uploads hold; only what is beyond is, and 503 says so."""

    def __init__(self, total: int, per_client: int) -> None:
        self.left = total
        self.per_client = per_client
        self.held: dict[str, int] = {}

    def grow(self, key: str, before: int, after: int) -> int:
        """Count a body growing from ``before`` to ``after`` bytes; the bytes now counted.

        Raises Refusal(503) when the front, or this client, already holds too much."""
        n = max(0, after - SMALL_BODY) - max(0, before - SMALL_BODY)
        if n and (n > self.left or self.held.get(key, 0) + n > self.per_client):
            raise Refusal(HTTPStatus.SERVICE_UNAVAILABLE)
        self.left -= n
        self.held[key] = self.held.get(key, 0) + n
        return n

    def release(self, key: str, n: int) -> None:
        self.left += n
        left = self.held.pop(key, 0) - n
        if left > 0:
            self.held[key] = left


class Client:
    """One client connection."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, key: str
    ) -> None:
        self.writer = writer
        self.incoming = Incoming(reader)
        self.key = key
        self.peer = writer.get_extra_info("peername")
        self.local = writer.get_extra_info("sockname")
        self.address = http1.plain_address(str(self.peer[0]))
        self.accepted = asyncio.get_running_loop().time()
        self.idle = True  # waiting for a request to start: may be closed at shutdown

    def proxy_line(self) -> bytes:
        """The PROXY protocol v1 line giving the workers the client's address (REMOTE_ADDR)."""
        source, destination = self.address, http1.plain_address(str(self.local[0]))
        family = "TCP6" if ":" in source else "TCP4"
        if (":" in destination) != (family == "TCP6"):
            destination = "::" if family == "TCP6" else "0.0.0.0"  # noqa: S104  (a placeholder)
        return f"PROXY {family} {source} {destination} {self.peer[1]} {self.local[1]}\r\n".encode()


class Front:
    """The event loop's server: TLS, whole requests, limits; the workers behind a Unix socket."""

    def __init__(
        self, context: ssl.SSLContext, upstream: Path, limits: Limits, out: TextIO = sys.stdout
    ) -> None:
        self.context = context
        self.upstream = upstream
        self.limits = limits
        self.out = out
        self.slots = Slots(limits.max_per_client, limits.max_connections)
        self.refused = Refused(out)
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
        """The access log of the front's own answers, in the workers' format: path only (H2)."""
        ms = int((asyncio.get_running_loop().time() - t0) * 1000)
        self.out.write(f'{client.address} "{method} {path}" {status} {size} {ms}ms\n')
        self.out.flush()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        key = http1.client_key(str(peer[0])) if peer else "?"
        # Counted from the first moment, TLS handshake included; over a limit, closed before
        # the handshake: no CPU spent on it (G4).
        if self.stopping or not self.slots.take(key):
            self.refused.note(key, overall=self.slots.count >= self.slots.total)
            writer.transport.abort()
            return
        # asyncio sets TCP_NODELAY only on sockets it made with proto IPPROTO_TCP, not on those
        # accepted from socket.create_server: without it, Nagle's algorithm holds a response's
        # second segment until the client's delayed ACK, 40 ms later (RFC 1122 §4.2.3.4).
        with contextlib.suppress(OSError):
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = Client(reader, writer, key)
        # start_server runs each connection as a task of its own.
        task = cast("asyncio.Task[None]", asyncio.current_task())
        self.clients[task] = client
        try:
            # No await before start_tls: the ClientHello must reach the TLS layer, not the
            # plain stream's buffer.
            await writer.start_tls(self.context, ssl_handshake_timeout=self.limits.header_timeout)
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
                except Refusal as refusal:
                    await self._refuse(client, refusal, t0)
                    return
                if not await self._exchange(client, request, body, t0):
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

    async def _exchange(
        self, client: Client, request: http1.RequestHead, body: bytes | None, t0: float
    ) -> bool:
        """Hand one whole request to the workers and relay their answer; True: keep alive."""
        try:
            async with asyncio.timeout(5):
                up_reader, up_writer = await asyncio.open_unix_connection(
                    str(self.upstream), limit=READ_SIZE
                )
        except (OSError, TimeoutError):
            await self._refuse(
                client, Refusal(HTTPStatus.SERVICE_UNAVAILABLE, request.method, request.path), t0
            )
            return False
        # Written without waiting for the workers to read it (the request is in memory anyway):
        # a view may answer before it reads the whole body.
        up_writer.write(
            client.proxy_line() + request.forwarded(None if body is None else len(body))
        )
        if body:
            up_writer.write(body)
        try:
            return await self._relay(client, request, Incoming(up_reader), t0)
        finally:
            up_writer.transport.abort()

    async def _relay(
        self, client: Client, request: http1.RequestHead, upstream: Incoming, t0: float
    ) -> bool:
        loop = asyncio.get_running_loop()
        writer = writer_of(client)
        try:
            while True:
                head = await upstream.head(loop.time() + UPSTREAM_TIMEOUT, 64 * 1024)
                if head is None:
                    raise ValueError("the worker closed without an answer")
                response = http1.parse_response_head(head)
                if response.status == 101 or not 100 <= response.status < 200:
                    break
                if request.version == "HTTP/1.1":  # 103 Early Hints and the like
                    writer.write(head + b"\r\n")
            if response.status == 101:
                raise ValueError("the worker switched protocols")
        except TimeoutError:
            await self._refuse(
                client, Refusal(HTTPStatus.GATEWAY_TIMEOUT, request.method, request.path), t0
            )
            return False
        except (ValueError, OSError):
            await self._refuse(
                client, Refusal(HTTPStatus.BAD_GATEWAY, request.method, request.path), t0
            )
            return False
        no_body = request.method == "HEAD" or response.status in (204, 304)
        chunked = (response.value(b"transfer-encoding") or b"").lower() == b"chunked"
        length = response.value(b"content-length")
        close = request.wants_close or self.stopping
        if not no_body and not chunked and length is None:
            close = True  # delimited by the end of the connection (RFC 9112 §6.3)
        out = [response.status_line]
        out += [
            k + b": " + v
            for k, v in response.fields
            if k.lower() not in (b"connection", b"keep-alive", b"proxy-connection")
        ]
        if close:
            out.append(b"Connection: close")
        head = b"\r\n".join(out) + b"\r\n\r\n"
        try:
            if no_body:
                writer.write(head)
            elif chunked:
                writer.write(head)
                await self._relay_chunked(writer, upstream)
            else:
                await self._relay_length(
                    writer, upstream, None if length is None else int(length), head
                )
        except (ValueError, ClientGone, TimeoutError, OSError):
            # The answer is cut: the client must see the connection end, never a short body.
            writer.transport.abort()
            return False
        return not close

    async def _drain(self, writer: asyncio.StreamWriter, allowed: int) -> None:
        """Wait for a slow reader once more than ``allowed`` bytes wait for it (SEND_TIMEOUT)."""
        if writer.transport.get_write_buffer_size() > allowed:
            async with asyncio.timeout(SEND_TIMEOUT):
                await writer.drain()

    async def _relay_length(
        self, writer: asyncio.StreamWriter, upstream: Incoming, length: int | None, head: bytes
    ) -> None:
        """A body of ``length`` bytes (None: up to the end of the stream), the head written with
        its first part: a small answer leaves in one TLS record and one TCP segment."""
        loop = asyncio.get_running_loop()
        left = length
        while left is None or left > 0:
            if not upstream.buffer and not await upstream.more(loop.time() + UPSTREAM_TIMEOUT):
                if left is None:
                    break
                raise ClientGone  # the worker's answer ended early
            data = upstream.take(READ_SIZE if left is None else min(left, READ_SIZE))
            if left is not None:
                left -= len(data)
            writer.write(head + data)
            head = b""
            await self._drain(writer, RESPONSE_BUFFER)
        if head:
            writer.write(head)

    async def _relay_chunked(self, writer: asyncio.StreamWriter, upstream: Incoming) -> None:
        """Chunks are passed on as they come (RFC 9112 §7.1), sizes checked."""
        loop = asyncio.get_running_loop()
        while True:
            line = await upstream.line(loop.time() + UPSTREAM_TIMEOUT, 1024)
            size = http1.chunk_size(line)
            writer.write(line + b"\r\n")
            if size == 0:
                break
            while len(upstream.buffer) < size + 2:
                if not await upstream.more(loop.time() + UPSTREAM_TIMEOUT):
                    raise ClientGone
            chunk = upstream.take(size + 2)
            if not chunk.endswith(b"\r\n"):
                raise ValueError("chunk without its CRLF")
            writer.write(chunk)
            await self._drain(writer, RESPONSE_BUFFER)
        while True:  # trailer fields, then the blank line
            line = await upstream.line(loop.time() + UPSTREAM_TIMEOUT, MAX_HEAD)
            writer.write(line + b"\r\n")
            if not line:
                return


def writer_of(client: Client) -> asyncio.StreamWriter:
    """The client's writer, with room for RESPONSE_BUFFER bytes before a worker has to wait."""
    client.writer.transport.set_write_buffer_limits(high=RESPONSE_BUFFER)
    return client.writer


def listen(host: str, port: int) -> socket.socket:
    """The HTTPS listening socket, bound before anything starts (a busy port fails at once)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=1024)


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
    context: ssl.SSLContext,
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
    front = Front(context, upstream, limits)
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
) -> None:
    """Serve the instance in ``home`` until SIGTERM, SIGINT or SIGHUP, then stop in order:
    the front stops accepting and lets requests in progress end, then the workers stop."""
    ensure_descriptors(limits)
    context = tls_context(home / "tls" / "cert.pem", home / "tls" / "key.pem")
    listener = listen(host, port)
    upstream = home / workers.SOCKET_NAME
    with contextlib.suppress(FileNotFoundError, ConnectionRefusedError):
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(upstream))
            raise RuntimeError(f"another 'secretum serve' is running on {home}")
    pool = workers.start(home, worker_count, threads, graceful_timeout)
    try:
        asyncio.run(_run_front(listener, context, upstream, limits, pool, graceful_timeout))
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
    limits = limits_from_env(os.environ)
    run(args.home.resolve(), args.host, args.port, limits, args.workers, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
