"""The limits of the TLS front and the plain-HTTP redirect (G4), and their accounting.

Fixed limits follow from the protocol or from the application; ``Limits`` holds those an
operator may set (SECRETUM_SERVE_*). ``Slots`` counts the connections each client holds,
``BodyMemory`` the request bodies held in memory, ``Refused`` the connections turned away.
``secretum.lib.front`` explains how they bound what a slow client can cost.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from http import HTTPStatus
from typing import Any

from secretum.lib.http1 import Refusal

# Not configurable: they follow from the protocol or from the application.
MAX_HEAD = 16 * 1024  # request line and fields; browsers send 1-3 KiB
KEEPALIVE_TIMEOUT = 5.0  # seconds an idle kept-alive connection waits for its next request
MIN_BODY_RATE = 1024  # bytes per second, over each body_timeout window of a body
SEND_TIMEOUT = 30.0  # seconds a client may take to accept the next part of a response
UPSTREAM_TIMEOUT = 120.0  # the workers' answer (gunicorn ends a request at 60 s)
RESPONSE_BUFFER = 1024 * 1024  # response bytes held for a slow reader before the worker waits
SMALL_BODY = 64 * 1024  # a body up to this size is never refused for memory (forms, logins)
CLOSE_TIMEOUT = 2.0  # a TLS close_notify, then the socket is closed anyway


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

    def __init__(self, log: logging.Logger) -> None:
        self.log = log
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
            self.log.warning(
                "refused %d connections over the per-client limit (%s) and %d over the overall "
                "limit",
                sum(self.per_client.values()),
                ", ".join(f"{k}: {n}" for k, n in worst) or "none",
                self.overall,
            )
        self.per_client, self.overall, self.since = {}, 0, time.monotonic()


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
        if not n:
            return 0  # a small body, or its first SMALL_BODY bytes
        if n > self.left or self.held.get(key, 0) + n > self.per_client:
            raise Refusal(HTTPStatus.SERVICE_UNAVAILABLE)
        self.left -= n
        self.held[key] = self.held.get(key, 0) + n
        return n

    def release(self, key: str, n: int) -> None:
        self.left += n
        left = self.held.pop(key, 0) - n
        if left > 0:
            self.held[key] = left
