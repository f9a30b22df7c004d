"""HTTP/1.1 request heads, read strictly, for the TLS front and the plain-HTTP redirect (G4, H1).

Pure functions, no I/O and no Django: the front and the redirect read bytes with their deadlines
(``secretum.lib.incoming``) and hand them here. Everything that is ambiguous is refused rather than
guessed (RFC 9112), and the front forwards a request it has written again itself (one
``Content-Length``, no hop-by-hop field, no field name with ``_``), so the workers behind it can
never frame a request differently from the front: no request smuggling between the two.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from http import HTTPStatus

# RFC 9110 §5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 §5.5: a field value is VCHAR, obs-text, SP and HTAB; CR, LF, NUL and the other
# controls are refused (they are how response splitting and smuggling start).
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# The request-target: visible ASCII only (RFC 9112 §3.2; anything else is percent-encoded).
_TARGET = re.compile(rb"[\x21-\x7e]+")
_VERSION = re.compile(rb"HTTP/[0-9]\.[0-9]")
_DIGITS = re.compile(r"[0-9]{1,15}")
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")

# The longest request line accepted (gunicorn's own ceiling, limit_request_line = 8190).
MAX_REQUEST_LINE = 8190
# At most this many header fields (gunicorn's default limit_request_fields).
MAX_FIELDS = 100

# RFC 9110 §7.6.1: fields that concern one connection only, never forwarded. Transfer-Encoding
# and Content-Length are written again by the front; Expect is answered by the front itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "proxy-connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "expect",
    }
)


class Refusal(Exception):
    """The request cannot be served: answer ``status`` and close the connection."""

    def __init__(self, status: int, method: str = "-", path: str = "-") -> None:
        super().__init__(status)
        self.status = status
        self.method = method
        self.path = path


@dataclass
class RequestHead:
    method: str
    target: str
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    fields: list[tuple[str, str]] = field(default_factory=list)
    # Set by body_framing(): the body's length, or None for a chunked body.
    content_length: int | None = 0
    expect_continue: bool = False

    def values(self, name: str) -> list[str]:
        """Every value of a field, list elements split (RFC 9110 §5.3)."""
        name = name.lower()
        return [
            part.strip()
            for key, value in self.fields
            if key.lower() == name
            for part in value.split(",")
            if part.strip()
        ]

    @property
    def path(self) -> str:
        """The path alone, for the access log: never the query string (H2)."""
        return self.target.split("?", 1)[0]

    @property
    def host(self) -> str | None:
        hosts = [value for key, value in self.fields if key.lower() == "host"]
        return hosts[0] if hosts else None

    @property
    def wants_close(self) -> bool:
        """Whether the connection ends after this exchange (RFC 9112 §9.3)."""
        tokens = {t.lower() for t in self.values("connection")}
        if self.version == "HTTP/1.0":
            return True  # an HTTP/1.0 client gets one response per connection
        return "close" in tokens

    def forwarded(self, body_length: int | None) -> bytes:
        """The head as the front sends it to the workers: its own framing, nothing hop-by-hop.

        ``body_length`` is the length of the body read in full (None: the request had none).
        """
        listed = {t.lower() for t in self.values("connection")}
        lines = [f"{self.method} {self.target} {self.version}"]
        for name, value in self.fields:
            key = name.lower()
            if key in HOP_BY_HOP or key in listed:
                continue
            lines.append(f"{name}: {value}")
        if body_length is not None:
            lines.append(f"Content-Length: {body_length}")
        # One request per connection to the workers: the front keeps the client's connection.
        lines.append("Connection: close")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_request_head(head: bytes) -> RequestHead:
    """Parse a request head (request line and fields, each ending in CRLF, blank line excluded).

    Raises Refusal with 400, 414, 431 or 505; the method and path are kept for the access log
    once known.
    """
    # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before the request-line.
    lines = head.lstrip(b"\r\n").split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines:
        raise Refusal(HTTPStatus.BAD_REQUEST)
    request_line = lines[0]
    if len(request_line) > MAX_REQUEST_LINE:
        raise Refusal(HTTPStatus.REQUEST_URI_TOO_LONG)
    parts = request_line.split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not _TARGET.fullmatch(parts[1]):
        raise Refusal(HTTPStatus.BAD_REQUEST)
    method, target = parts[0].decode("ascii"), parts[1].decode("ascii")
    path = target.split("?", 1)[0]
    if parts[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
        status = (
            HTTPStatus.HTTP_VERSION_NOT_SUPPORTED
            if _VERSION.fullmatch(parts[2])
            else HTTPStatus.BAD_REQUEST
        )
        raise Refusal(status, method, path)
    request = RequestHead(method, target, parts[2].decode("ascii"))
    if len(lines) - 1 > MAX_FIELDS:
        raise Refusal(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, method, path)
    for line in lines[1:]:
        # RFC 9112 §5.2: obsolete line folding may be refused with 400; §5.1: no whitespace
        # between the field name and the colon, ever.
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise Refusal(HTTPStatus.BAD_REQUEST, method, path)
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise Refusal(HTTPStatus.BAD_REQUEST, method, path)
        if b"_" in name:
            # gunicorn maps "X_Y" and "X-Y" to the same environ key: dropped, as gunicorn's
            # header_map = "drop" does for a client it does not trust.
            continue
        request.fields.append((name.decode("ascii"), value.decode("latin-1")))
    _absolute_form(request)
    hosts = [value for key, value in request.fields if key.lower() == "host"]
    # RFC 9112 §3.2: 400 to an HTTP/1.1 request without Host, or with more than one.
    if len(hosts) > 1 or (request.version == "HTTP/1.1" and not hosts):
        raise Refusal(HTTPStatus.BAD_REQUEST, method, request.path)
    if not request.target.startswith("/") and not (request.target == "*" and method == "OPTIONS"):
        raise Refusal(HTTPStatus.BAD_REQUEST, method, request.path)
    return request


def _absolute_form(request: RequestHead) -> None:
    """RFC 9112 §3.2.2: an absolute-form target's authority replaces the Host field."""
    lowered = request.target.lower()
    for scheme in ("http://", "https://"):
        if lowered.startswith(scheme):
            rest = request.target[len(scheme) :]
            authority, slash, tail = rest.partition("/")
            if not authority or "@" in authority:
                raise Refusal(HTTPStatus.BAD_REQUEST, request.method, "-")
            request.target = "/" + tail if slash else "/"
            if "?" in authority:  # "http://host?q" has an empty path
                authority, _, query = authority.partition("?")
                request.target = "/?" + query
            request.fields = [(k, v) for k, v in request.fields if k.lower() != "host"]
            request.fields.append(("Host", authority))
            return


def body_framing(request: RequestHead, max_body: int) -> None:
    """Decide how the body is delimited (RFC 9112 §6.3); refuse what is ambiguous or too large.

    Sets ``content_length`` (None for chunked) and ``expect_continue``.
    """
    method, path = request.method, request.path
    codings = [c.lower() for c in request.values("transfer-encoding")]
    lengths = request.values("content-length")
    has_length = any(key.lower() == "content-length" for key, _ in request.fields)
    if codings:
        # Both framings at once is how request smuggling starts: refused (§6.1 allows it).
        if has_length or request.version == "HTTP/1.0":
            raise Refusal(HTTPStatus.BAD_REQUEST, method, path)
        if codings[-1] != "chunked":  # §6.3: the length cannot be determined
            raise Refusal(HTTPStatus.BAD_REQUEST, method, path)
        if codings != ["chunked"]:  # §6.1: a coding this server does not understand
            raise Refusal(HTTPStatus.NOT_IMPLEMENTED, method, path)
        request.content_length = None
    elif has_length:
        # RFC 9110 §8.6: 1*DIGIT; a list of identical values may be accepted, differing ones
        # never. An empty or malformed value is refused too.
        if not lengths or len(set(lengths)) != 1 or not _DIGITS.fullmatch(lengths[0]):
            raise Refusal(HTTPStatus.BAD_REQUEST, method, path)
        request.content_length = int(lengths[0])
    else:
        request.content_length = 0
    if request.content_length is not None and request.content_length > max_body:
        raise Refusal(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, method, path)
    expect = [v.lower() for v in request.values("expect")]
    if expect:
        # RFC 9110 §10.1.1: 417 for an expectation other than 100-continue; an HTTP/1.0
        # request's 100-continue is ignored.
        if expect != ["100-continue"]:
            raise Refusal(HTTPStatus.EXPECTATION_FAILED, method, path)
        request.expect_continue = request.version == "HTTP/1.1"


def chunk_size(line: bytes) -> int:
    """The size of one chunk from its size line (RFC 9112 §7.1), extensions ignored."""
    size = line.split(b";", 1)[0].strip(b" \t")
    if not _HEX.fullmatch(size):
        raise ValueError("bad chunk size")
    return int(size, 16)


@dataclass
class ResponseHead:
    status: int
    status_line: bytes
    fields: list[tuple[bytes, bytes]]

    def value(self, name: bytes) -> bytes | None:
        found = [v for k, v in self.fields if k.lower() == name]
        return found[-1] if found else None


def parse_response_head(head: bytes) -> ResponseHead:
    """A response head from the workers (trusted, but parsed strictly all the same)."""
    lines = head.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    parts = lines[0].split(b" ", 2) if lines else []
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ValueError("bad status line")
    fields = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name) or _BAD_VALUE.search(value.strip(b" \t")):
            raise ValueError("bad response field")
        fields.append((name, value.strip(b" \t")))
    return ResponseHead(int(parts[1]), lines[0], fields)


def simple_response(status: int, extra: list[tuple[str, str]] | None = None) -> bytes:
    """A short plain-text answer that closes the connection (the front's own refusals)."""
    phrase = HTTPStatus(status).phrase
    body = f"{status} {phrase}\n".encode()
    lines = [
        f"HTTP/1.1 {status} {phrase}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Cache-Control: no-store",
        "X-Content-Type-Options: nosniff",
        "Connection: close",
        *(f"{name}: {value}" for name, value in extra or []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def client_key(address: str) -> str:
    """The unit one client is counted by (G4): its IPv4 address, or its IPv6 /64 network.

    One IPv6 host usually holds a whole /64: counting single addresses would let it open
    2^64 times the per-client limit.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address  # not an IP address (a Unix socket peer): counted as it is
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def plain_address(address: str) -> str:
    """A peer address as the application sees it: an IPv4-mapped IPv6 address as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)
