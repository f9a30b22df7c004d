"""The front's request parsing (G4): strict, so that the workers behind it can never read a
request differently (RFC 9112); and its limits, read from SECRETUM_SERVE_* variables."""

from __future__ import annotations

import pytest

from secretum.lib import http1
from secretum.lib.http1 import Refusal
from secretum.lib.limits import Limits, Slots, limits_from_env


def _parse(head: bytes, max_body: int = 1000) -> http1.RequestHead:
    request = http1.parse_request_head(head)
    http1.body_framing(request, max_body)
    return request


@pytest.mark.parametrize(
    ("head", "status"),
    [
        (b"GET / HTTP/1.1\r\n", 400),  # no Host (RFC 9112 §3.2)
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n", 505),
        (b"GET / FTP/1.0\r\nHost: a\r\n", 400),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n", 400),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost : a\r\n", 400),  # space before the colon (§5.1)
        (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n", 400),  # obs-fold (§5.2)
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n", 400),
        (b"GET x HTTP/1.1\r\nHost: a\r\n", 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: a\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 101, 431),
        # Framing: both at once, unknown codings, bad or differing lengths (RFC 9112 §6).
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n", 501),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n", 413),
        (b"POST / HTTP/1.1\r\nHost: a\r\nExpect: magic\r\n", 417),
    ],
)
def test_ambiguous_or_oversized_requests_are_refused(head: bytes, status: int) -> None:
    with pytest.raises(Refusal) as refused:
        _parse(head)
    assert refused.value.status == status


def test_a_forwarded_head_has_one_framing_and_nothing_hop_by_hop() -> None:
    request = _parse(
        b"\r\nPOST /login?next=/ HTTP/1.1\r\nHost: a.example\r\nConnection: keep-alive, X-Drop\r\n"
        b"X-Drop: 1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"
        b"Script_Name: /evil\r\nX-Forwarded-For: 10.0.0.1\r\nCookie: a=b\r\n"
    )
    assert request.content_length is None and request.expect_continue
    assert request.path == "/login"  # the access log's view: never the query string (H2)
    forwarded = request.forwarded(5).decode()
    assert forwarded == (
        "POST /login?next=/ HTTP/1.1\r\nHost: a.example\r\nX-Forwarded-For: 10.0.0.1\r\n"
        "Cookie: a=b\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"
    )


def test_an_absolute_target_names_the_host() -> None:
    request = _parse(b"GET http://other.example/x?y HTTP/1.1\r\nHost: a.example\r\n")
    assert (request.target, request.host) == ("/x?y", "other.example")


def test_identical_content_lengths_are_one() -> None:
    assert _parse(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n").content_length == 7


def test_chunk_sizes() -> None:
    assert http1.chunk_size(b"1f;name=value") == 31
    for bad in (b"", b"-1", b"0x10", b"1" * 16):
        with pytest.raises(ValueError):
            http1.chunk_size(bad)


def test_clients_are_counted_by_address_and_ipv6_by_network() -> None:
    assert http1.client_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert http1.client_key("2001:db8:1:2:aaaa::1") == http1.client_key("2001:db8:1:2::9")
    assert http1.client_key("2001:db8:1:3::1") != http1.client_key("2001:db8:1:2::1")
    slots = Slots(per_client=2, total=3)
    assert slots.take("a") and slots.take("a") and not slots.take("a")
    assert slots.take("b") and not slots.take("c")  # the overall limit
    slots.give_back("a")
    assert slots.take("c")


def test_limits_from_the_environment() -> None:
    assert limits_from_env({}) == Limits()
    limits = limits_from_env(
        {"SECRETUM_SERVE_HEADER_TIMEOUT": "2.5", "SECRETUM_SERVE_MAX_CONNECTIONS": "100"},
        behind_proxy=True,
    )
    # Behind a proxy every client has the proxy's address: the per-client limit is the total.
    assert (limits.header_timeout, limits.max_per_client) == (2.5, 100)
    for bad in ({"SECRETUM_SERVE_MAX_BODY": "lots"}, {"SECRETUM_SERVE_HEADER_TIMEOUT": "600"}):
        with pytest.raises(ValueError, match="SECRETUM_SERVE_"):
            limits_from_env(bad)
