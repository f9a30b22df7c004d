"""The front's listening socket (G4)."""

from __future__ import annotations

import asyncio
import socket

from secretum.lib.front import listen
from tests.serving import run_apart


def test_connections_the_front_accepts_send_at_once() -> None:
    """TCP_NODELAY on every accepted connection: Nagle's algorithm would otherwise hold a
    response's second segment for the client's delayed ACK (40 ms)."""

    async def accepted_nodelay() -> int:
        listener = listen("127.0.0.1", 0)
        found: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            found.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accept, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname())
            result = await asyncio.wait_for(found, 5)
            writer.close()
        return result

    assert run_apart(accepted_nodelay()) != 0
