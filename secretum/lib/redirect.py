"""A minimal HTTP listener whose only answer is a permanent redirect to HTTPS (H1).

Runs as its own process beside the HTTPS front. It never reads a request body and never logs
the path (which could hold a token typed by mistake, H2).

Where it sends the browser (issue 8, defect 10). The Host field says where the browser wants to
go, but anyone can write it: ``Host: evil.example`` used to be redirected to
``https://evil.example``. Now the target is always a name the practice configured
(SECRETUM_ALLOWED_HOSTS): the Host field's name when it is literally one of them, otherwise the
first of them. Keeping an allowed Host rather than always the first keeps the user on the name
they typed (``localhost`` stays ``localhost``: the certificate's name, the ``__Host-`` cookies
and a passkey's relying party are bound to it), and opens nothing: every allowed name is one the
practice vouched for. Patterns (``.example.com``, ``*``) never vouch for a Host field.

Slow clients (G4): one asyncio loop; the request head within the front's header timeout and
size limit; the same per-client and overall connection limits as the front.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
from collections.abc import Sequence
from http import HTTPStatus

from secretum.lib import http1, supervise
from secretum.lib.http1 import Refusal
from secretum.lib.incoming import ClientGone, Incoming, read_request_head
from secretum.lib.limits import CLOSE_TIMEOUT, Limits, Slots

_PORT = re.compile(r":[0-9]{0,5}")


def host_name(field: str) -> str | None:
    """The name in a Host field (RFC 9110 §7.2), lower case, without its port; None if malformed."""
    value = field.strip().lower()
    if value.startswith("["):  # an IPv6 literal keeps its brackets, as in ALLOWED_HOSTS
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[: end + 1], value[end + 1 :]
    else:
        name, colon, port = value.partition(":")
        rest = colon + port
    if rest and not _PORT.fullmatch(rest):
        return None
    return name.removesuffix(".") or None


def redirect_host(field: str | None, allowed: Sequence[str]) -> str | None:
    """The host to redirect to (H1): the Host field's name if it is literally an allowed host,
    else the first allowed host name; None when no allowed entry is a plain name."""
    names = [
        h.lower().removesuffix(".")
        for h in allowed
        if h and h != "*" and h[0] != "." and h.isascii()  # a Location is ASCII (IDNA A-labels)
    ]
    asked = host_name(field) if field else None
    if asked is not None and asked in names:
        return asked
    if names:
        return names[0]
    # Only patterns: the domain of the first ".example.com" (never the client's subdomain).
    domains = [h.lower()[1:] for h in allowed if h.startswith(".") and len(h) > 1]
    return domains[0] if domains else None


def location(request: http1.RequestHead, allowed: Sequence[str], https_port: int) -> str | None:
    host = redirect_host(request.host, allowed)
    if host is None:
        return None
    suffix = "" if https_port == 443 else f":{https_port}"
    # The target is visible ASCII (http1 refuses anything else) and starts with "/".
    path = request.target if request.target.startswith("/") else "/"
    return f"https://{host}{suffix}{path}"


class Redirector:
    def __init__(self, allowed: Sequence[str], https_port: int, limits: Limits) -> None:
        self.allowed = list(allowed)
        self.https_port = https_port
        self.limits = limits
        self.slots = Slots(limits.max_per_client, limits.max_connections)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        key = http1.client_key(str(peer[0])) if peer else "?"
        if not self.slots.take(key):  # G4: over a limit, closed at once
            writer.transport.abort()
            return
        try:
            await self._answer(reader, writer)
        except (OSError, TimeoutError, ClientGone):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await writer.wait_closed()
            writer.transport.abort()
            self.slots.give_back(key)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.header_timeout
        incoming = Incoming(reader)
        try:
            head = await read_request_head(incoming, deadline, deadline, self.limits.header_timeout)
            if head is None:
                return
            request = http1.parse_request_head(head)
        except Refusal as refusal:
            writer.write(http1.simple_response(refusal.status))
        else:
            target = location(request, self.allowed, self.https_port)
            if target is None:
                writer.write(http1.simple_response(HTTPStatus.BAD_REQUEST))
            else:
                writer.write(
                    (
                        "HTTP/1.1 301 Moved Permanently\r\n"
                        f"Location: {target}\r\n"
                        "Content-Length: 0\r\n"
                        "Cache-Control: no-store\r\n"
                        "Connection: close\r\n\r\n"
                    ).encode("ascii")
                )
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await writer.drain()


async def serve(host: str, port: int, redirector: Redirector) -> None:
    server = await asyncio.start_server(redirector.handle, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    supervise.end_with_parent()  # started by serve: ends with it
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--https-port", type=int, required=True)
    parser.add_argument(
        "--allowed-hosts",
        # serve passes Django's ALLOWED_HOSTS; alone, the same variable and default as settings.
        default=os.environ.get("SECRETUM_ALLOWED_HOSTS", "127.0.0.1,localhost"),
        help="the host names that may be redirected to (SECRETUM_ALLOWED_HOSTS)",
    )
    defaults = Limits()
    parser.add_argument("--header-timeout", type=float, default=defaults.header_timeout)
    parser.add_argument("--max-per-client", type=int, default=defaults.max_per_client)
    parser.add_argument("--max-connections", type=int, default=defaults.max_connections)
    args = parser.parse_args(argv)
    limits = Limits(
        header_timeout=args.header_timeout,
        max_per_client=args.max_per_client,
        max_connections=args.max_connections,
    )
    allowed = [h.strip() for h in args.allowed_hosts.split(",") if h.strip()]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, Redirector(allowed, args.https_port, limits)))


if __name__ == "__main__":
    main()
