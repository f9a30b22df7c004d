"""The front's hand-over to the workers (G4): one whole request, its answer framed again."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from secretum.lib import http1, relay
from secretum.lib.http1 import Refusal
from secretum.lib.limits import SMALL_BODY
from tests.serving import run_apart

PROXY = b"PROXY TCP4 192.0.2.7 127.0.0.1 50000 8443\r\n"


class _Transport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0


class _Writer:
    """What a StreamWriter was asked to write, one item a write() call."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.transport = _Transport()

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))


def _exchange(
    monkeypatch: pytest.MonkeyPatch,
    head: bytes,
    body: bytes | None,
    answer: bytes,
    stopping: bool = False,
) -> tuple[_Writer, _Writer, bool]:
    """(what the worker was sent, what the client was sent, keep-alive) for one exchange with a
    worker that answers ``answer`` and closes."""
    request = http1.parse_request_head(head)
    http1.body_framing(request, 10 * SMALL_BODY)
    worker, client = _Writer(), _Writer()

    async def run() -> bool:
        answers = asyncio.StreamReader()
        answers.feed_data(answer)
        answers.feed_eof()

        async def open_unix_connection(path: str, **_: Any) -> tuple[Any, Any]:
            assert path == "/instance/workers.sock"
            return answers, worker

        monkeypatch.setattr(asyncio, "open_unix_connection", open_unix_connection)
        # The fakes stand for the StreamWriters: only write() and the transport are used.
        return await relay.exchange(
            "/instance/workers.sock", client, PROXY, request, body, lambda: stopping
        )

    keep_alive = run_apart(run())
    return worker, client, keep_alive


def test_a_request_and_a_small_body_reach_the_worker_in_one_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One write: the worker never reads the head alone and then waits for the body."""
    worker, client, keep_alive = _exchange(
        monkeypatch,
        b"POST /patients/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n",
        b"q=x",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok",
    )
    assert worker.writes == [
        PROXY
        + b"POST /patients/ HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\n"
        + b"q=x"
    ]
    assert worker.transport.aborted  # one request per connection to the workers
    # The worker's own connection fields are not the client's: dropped.
    assert client.writes == [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"]
    assert keep_alive


def test_a_large_body_is_written_apart_from_its_head(monkeypatch: pytest.MonkeyPatch) -> None:
    body = b"a" * (SMALL_BODY + 1)
    worker, _, _ = _exchange(
        monkeypatch,
        f"PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: {len(body)}\r\n".encode(),
        body,
        b"HTTP/1.1 204 No Content\r\n\r\n",
    )
    assert len(worker.writes) == 2 and worker.writes[1] == body


def test_a_front_that_stops_closes_the_connection_after_the_answer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, client, keep_alive = _exchange(
        monkeypatch,
        b"GET / HTTP/1.1\r\nHost: a\r\n",
        None,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        stopping=True,
    )
    assert client.writes == [b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"]
    assert not keep_alive


def test_a_worker_that_closes_without_an_answer_is_a_bad_gateway(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(Refusal) as refused:
        _exchange(monkeypatch, b"GET /x?secret HTTP/1.1\r\nHost: a\r\n", None, b"")
    assert (refused.value.status, refused.value.path) == (502, "/x")


def test_the_proxy_line_names_the_client_as_the_application_sees_it() -> None:
    assert relay.proxy_line(("::ffff:192.0.2.7", 50000, 0, 0), ("::ffff:127.0.0.1", 8443)) == (
        b"PROXY TCP4 192.0.2.7 127.0.0.1 50000 8443\r\n"
    )
    # One family per line: a placeholder destination when the two differ.
    assert relay.proxy_line(("2001:db8::1", 50000, 0, 0), ("127.0.0.1", 8443)) == (
        b"PROXY TCP6 2001:db8::1 :: 50000 8443\r\n"
    )
