"""A peer's bytes, read with deadlines: request heads for the front and the redirect (G4), and
the workers' answers for the front.

Every read waits until a deadline on the event loop's clock, never for as long as the peer
likes; what is read stays in a buffer of our own until a whole line, head or body is there.
"""

from __future__ import annotations

import asyncio
import re
from http import HTTPStatus

from secretum.lib.http1 import MAX_REQUEST_LINE, Refusal
from secretum.lib.limits import MAX_HEAD

READ_SIZE = 64 * 1024

_REQUEST_START = re.compile(rb"[^\r\n]")  # the first byte after any empty lines


class ClientGone(Exception):
    """The client closed its connection before its request was complete."""


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
        line = self.take(end)
        del self.buffer[:2]
        return line

    async def head(self, deadline: float, limit: int) -> bytes | None:
        """A head up to its blank line (excluded); None at the end of the stream."""
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if len(self.buffer) > limit:
                raise ValueError("head too long")
            if not await self.more(deadline):
                return None
        head = self.take(end + 2)
        del self.buffer[:2]
        return head

    def take(self, n: int) -> bytes:
        """The first ``n`` bytes, out of the buffer (copied once: a body may be megabytes)."""
        with memoryview(self.buffer) as view:
            data = bytes(view[:n])
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
    buffer = incoming.buffer
    # RFC 9112 §2.2: empty lines before a request-line are ignored, within MAX_HEAD; until a
    # request starts, the connection may end or stay idle with nothing to answer.
    ignored = 0
    while not (start := _REQUEST_START.search(buffer)):
        ignored += len(buffer)
        buffer.clear()
        if ignored > MAX_HEAD:
            raise Refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        try:
            if not await incoming.more(idle_deadline):
                return None
        except TimeoutError:
            return None
    del buffer[: start.start()]
    if head_deadline is None:
        head_deadline = asyncio.get_running_loop().time() + header_timeout
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        if len(buffer) > MAX_REQUEST_LINE and buffer.find(b"\r\n") < 0:
            raise Refusal(HTTPStatus.REQUEST_URI_TOO_LONG)
        if len(buffer) > MAX_HEAD:
            raise Refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
        try:
            if not await incoming.more(head_deadline):
                raise ClientGone
        except TimeoutError:
            raise Refusal(HTTPStatus.REQUEST_TIMEOUT) from None
    if end + 4 > MAX_HEAD:
        raise Refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
    head = incoming.take(end + 2)
    del buffer[:2]
    return head
