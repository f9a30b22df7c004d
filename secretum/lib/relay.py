"""One whole request handed to the workers, and their answer relayed to the client (G4).

The front has read the request within its limits (``secretum.lib.front``); here it goes to the
workers over their Unix socket, one connection per request, opened by the PROXY protocol v1 line
that gives them the client's address (``secretum.lib.workers``). Their answer is passed on as it
comes, framed again for the client's connection: nothing hop-by-hop, ``Connection: close`` when
the connection ends after it. A slow reader holds at most RESPONSE_BUFFER bytes of it here before
the worker has to wait, and SEND_TIMEOUT ends a reader that stops reading.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from secretum.lib import http1
from secretum.lib.http1 import Refusal
from secretum.lib.incoming import READ_SIZE, ClientGone, Incoming
from secretum.lib.limits import (
    MAX_HEAD,
    RESPONSE_BUFFER,
    SEND_TIMEOUT,
    SMALL_BODY,
    UPSTREAM_TIMEOUT,
)

CONNECT_TIMEOUT = 5.0  # the workers' socket accepts at once unless their backlog is full
_NOT_FORWARDED = (b"connection", b"keep-alive", b"proxy-connection")  # response fields


def proxy_line(peer: tuple[Any, ...], local: tuple[Any, ...]) -> bytes:
    """The PROXY protocol v1 line that gives the workers the client's address (REMOTE_ADDR)."""
    source, destination = http1.plain_address(str(peer[0])), http1.plain_address(str(local[0]))
    family = "TCP6" if ":" in source else "TCP4"
    if (":" in destination) != (family == "TCP6"):
        destination = "::" if family == "TCP6" else "0.0.0.0"  # noqa: S104  (a placeholder)
    return f"PROXY {family} {source} {destination} {peer[1]} {local[1]}\r\n".encode()


async def exchange(
    upstream: str,
    writer: asyncio.StreamWriter,
    preamble: bytes,
    request: http1.RequestHead,
    body: bytes | None,
    stopping: Callable[[], bool],
) -> bool:
    """Hand one whole request to the workers at ``upstream`` and relay their answer to
    ``writer``; True when the client's connection may serve another request.

    ``preamble`` is the client's PROXY line; ``stopping()`` says whether the front is shutting
    down (the answer then says ``Connection: close``). Raises Refusal (503, 502 or 504) when no
    answer was started: the caller answers it and closes the connection.
    """
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT):
            up_reader, up_writer = await asyncio.open_unix_connection(upstream, limit=READ_SIZE)
    except (OSError, TimeoutError):
        raise Refusal(HTTPStatus.SERVICE_UNAVAILABLE, request.method, request.path) from None
    try:
        # Written without waiting for the workers to read it (the request is in memory anyway):
        # a view may answer before it reads the whole body. Head and body in one write: the
        # first write wakes the worker, which may take the CPU from the front; a body written
        # apart then comes only once the front runs again, while the worker, having read the
        # head alone, waits for it in a second recv() (and re-takes the GIL behind its busy
        # threads). A large body is not copied onto its head: it is read in parts anyway.
        head = preamble + request.forwarded(None if body is None else len(body))
        if body is not None and len(body) > SMALL_BODY:
            up_writer.write(head)
            up_writer.write(body)
        else:
            up_writer.write(head + body if body else head)
        return await _relay(writer, request, Incoming(up_reader), stopping)
    finally:
        up_writer.transport.abort()


async def _relay(
    writer: asyncio.StreamWriter,
    request: http1.RequestHead,
    upstream: Incoming,
    stopping: Callable[[], bool],
) -> bool:
    loop = asyncio.get_running_loop()
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
        raise Refusal(HTTPStatus.GATEWAY_TIMEOUT, request.method, request.path) from None
    except (ValueError, OSError):
        raise Refusal(HTTPStatus.BAD_GATEWAY, request.method, request.path) from None
    no_body = request.method == "HEAD" or response.status in (204, 304)
    chunked = (response.value(b"transfer-encoding") or b"").lower() == b"chunked"
    length = response.value(b"content-length")
    close = request.wants_close or stopping()
    if not no_body and not chunked and length is None:
        close = True  # delimited by the end of the connection (RFC 9112 §6.3)
    out = [response.status_line]
    out += [k + b": " + v for k, v in response.fields if k.lower() not in _NOT_FORWARDED]
    if close:
        out.append(b"Connection: close")
    head = b"\r\n".join(out) + b"\r\n\r\n"
    try:
        if no_body:
            writer.write(head)
        elif chunked:
            writer.write(head)
            await _relay_chunked(writer, upstream)
        else:
            await _relay_length(writer, upstream, None if length is None else int(length), head)
    except (ValueError, ClientGone, TimeoutError, OSError):
        # The answer is cut: the client must see the connection end, never a short body.
        writer.transport.abort()
        return False
    return not close


async def _drain(writer: asyncio.StreamWriter) -> None:
    """Wait for a slow reader once more than RESPONSE_BUFFER bytes wait for it (SEND_TIMEOUT)."""
    if writer.transport.get_write_buffer_size() > RESPONSE_BUFFER:
        async with asyncio.timeout(SEND_TIMEOUT):
            await writer.drain()


async def _relay_length(
    writer: asyncio.StreamWriter, upstream: Incoming, length: int | None, head: bytes
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
        await _drain(writer)
    if head:
        writer.write(head)


async def _relay_chunked(writer: asyncio.StreamWriter, upstream: Incoming) -> None:
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
        await _drain(writer)
    while True:  # trailer fields, then the blank line
        line = await upstream.line(loop.time() + UPSTREAM_TIMEOUT, MAX_HEAD)
        writer.write(line + b"\r\n")
        if not line:
            return
