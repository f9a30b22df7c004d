"""Request heads read within their deadlines and sizes (G4), before any worker sees them."""

from __future__ import annotations

import asyncio

import pytest

from secretum.lib.http1 import Refusal
from secretum.lib.incoming import ClientGone, Incoming, read_request_head
from secretum.lib.limits import MAX_HEAD
from tests.serving import run_apart


def _read(*parts: bytes, eof: bool = True, wait: float = 0.2) -> tuple[bytes | None, bytes]:
    """The head read from ``parts`` (then the end of the stream, or silence), and what is left
    in the buffer after it."""

    async def read() -> tuple[bytes | None, bytes]:
        reader = asyncio.StreamReader()
        for part in parts:
            reader.feed_data(part)
        if eof:
            reader.feed_eof()
        incoming = Incoming(reader)
        deadline = asyncio.get_running_loop().time() + wait
        head = await read_request_head(incoming, deadline, deadline, wait)
        return head, bytes(incoming.buffer)

    return run_apart(read())


def test_a_head_is_read_up_to_its_blank_line_and_the_body_stays_buffered() -> None:
    head, rest = _read(b"POST / HTTP/1.1\r\nHost: a\r\n", b"Content-Length: 2\r\n\r\nok")
    assert head == b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
    assert rest == b"ok"


def test_empty_lines_before_a_request_are_ignored() -> None:
    """RFC 9112 §2.2."""
    assert _read(b"\r\n", b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")[0] == (
        b"GET / HTTP/1.1\r\nHost: a\r\n"
    )


def test_nothing_to_answer_when_the_connection_ends_or_idles_before_a_request() -> None:
    assert _read(b"\r\n")[0] is None
    assert _read(b"\r\n", eof=False)[0] is None


@pytest.mark.parametrize(
    ("parts", "status"),
    [
        ((b"GET /" + b"a" * 9000,), 414),  # no line end within the longest request line
        ((b"\r\n" * (MAX_HEAD // 2 + 1),), 431),  # empty lines count in the head's size
        ((b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 3000,), 431),
    ],
)
def test_a_head_too_long_is_refused(parts: tuple[bytes, ...], status: int) -> None:
    with pytest.raises(Refusal) as refused:
        _read(*parts)
    assert refused.value.status == status


def test_a_head_that_stalls_is_408_and_one_cut_short_is_a_client_gone() -> None:
    with pytest.raises(Refusal) as refused:
        _read(b"GET / HTTP/1.1\r\nHost: a\r\n", eof=False)
    assert refused.value.status == 408
    with pytest.raises(ClientGone):
        _read(b"GET / HTTP/1.1\r\nHost: a\r\n")
