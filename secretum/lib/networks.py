"""The networks a client may reach Secretum from (F1, F4), and the client's own address.

Three lists of networks (CIDR, IPv4 and IPv6), each a ``SECRETUM_*`` setting:

* ``allowed``: the practice's own networks (its LAN; for a hosted instance, the practice's
  public address);
* ``remote``: the VPN's address range, the only way in for a device away from the practice (F4);
* ``proxies``: reverse proxies in front of ``secretum serve`` whose ``X-Forwarded-For`` is
  believed. Without one, that header is never read: a client writes what it likes in it.

With neither ``allowed`` nor ``remote`` set, every address may connect (the policy is "not
configured", and ``secretum check`` and the register say so). This module is plain Python: the
middleware that enforces the policy is ``secretum.access.networks``.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def parse_networks(values: Iterable[str], setting: str) -> tuple[Network, ...]:
    """The networks written in ``values`` (``192.168.1.0/24``, ``2001:db8:5::/48``, or a single
    address); ValueError names ``setting`` and the entry that is not a network."""
    networks: list[Network] = []
    for raw in values:
        value = raw.strip()
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value))
        except ValueError:
            try:  # host bits set: say which network was meant
                meant = ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(
                    f"{setting}: {value!r} is not a network; write it as an address and a "
                    "prefix length, e.g. 192.168.1.0/24 or 2001:db8:5::/48."
                ) from None
            raise ValueError(
                f"{setting}: {value!r} has bits set after its prefix; did you mean {meant}?"
            ) from None
    return tuple(networks)


def address_of(value: str) -> Address | None:
    """An address as the application compares it (IPv4-mapped IPv6 as IPv4, no zone), or None
    when ``value`` is not an IP address."""
    try:
        ip = ipaddress.ip_address(value.strip().split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def within(ip: Address, networks: Iterable[Network]) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)


@dataclass(frozen=True)
class NetworkPolicy:
    allowed: tuple[Network, ...] = ()
    remote: tuple[Network, ...] = ()
    proxies: tuple[Network, ...] = ()

    @property
    def configured(self) -> bool:
        """Whether the client's address is checked at all (F1, F4)."""
        return bool(self.allowed or self.remote)

    def zone(self, address: str) -> str | None:
        """ "practice", "remote" (the VPN), or None when the address may not connect. Every
        address is "practice" while nothing is configured."""
        if not self.configured:
            return "practice"
        ip = address_of(address)
        if ip is None:
            return None
        if within(ip, self.allowed):
            return "practice"
        if within(ip, self.remote):
            return "remote"
        return None

    def permits(self, address: str) -> bool:
        return self.zone(address) is not None

    def client_address(self, peer: str, forwarded_for: str) -> str | None:
        """The client's address: the connection's own (``peer``), unless ``peer`` is a trusted
        proxy; then the rightmost address of ``X-Forwarded-For`` that is not one (each proxy
        appends the address it received the request from, so entries further left may be the
        client's own inventions). None when a trusted proxy's header holds something that is not
        an address where the client's should be."""
        ip = address_of(peer)
        if ip is None or not within(ip, self.proxies):
            return peer
        client = str(ip)
        for entry in reversed([e for e in forwarded_for.split(",") if e.strip()]):
            hop = address_of(entry)
            if hop is None:
                return None
            client = str(hop)
            if not within(hop, self.proxies):
                break
        return client


def is_loopback(address: str) -> bool:
    ip = address_of(address)
    return ip is not None and within(ip, LOOPBACK)


def too_broad(network: Network) -> bool:
    """A network that holds the whole Internet, or a public block larger than one
    organisation's connection (IPv4 shorter than /24, IPv6 shorter than /48): other people's
    devices would be inside it (F4)."""
    if network.prefixlen == 0:
        return True
    if network.is_private or network.is_loopback or network.is_link_local:
        return False
    return network.prefixlen < (24 if network.version == 4 else 48)


class RefusalThrottle:
    """How often a refusal is written down: once per ``window`` seconds per client (an IPv4
    address, or an IPv6 /64), the refusals in between only counted, so that a flood of refused
    requests cannot flood the audit log (D1). ``note`` says when to record, and how many went
    unrecorded before.

    Per process (each worker keeps its own: at most one event per worker and window). The count
    rides on the client's next recorded refusal: the last window of a flood that stops is counted
    in none. At most ``max_clients`` are remembered: when full, those whose window has passed are
    forgotten; while a distributed flood keeps it full, the rest share one entry ("other").
    """

    OTHER = "other"

    def __init__(self, window: float = 60.0, max_clients: int = 10_000) -> None:
        self.window = window
        self.max_clients = max_clients
        self._seen: dict[str, tuple[float, int]] = {}  # client -> (last recorded, unrecorded)
        self._lock = threading.Lock()

    def note(self, client: str, now: float) -> tuple[str, int] | None:
        """None: count this refusal only. Otherwise record it, as (the client it is counted
        under, the refusals of that client left unrecorded since its last record)."""
        with self._lock:
            if client not in self._seen and len(self._seen) >= self.max_clients:
                self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.window}
                if len(self._seen) >= self.max_clients:
                    client = self.OTHER
            last = self._seen.get(client)
            if last is not None and now - last[0] < self.window:
                self._seen[client] = (last[0], last[1] + 1)
                return None
            self._seen[client] = (now, 0)
            return client, (last[1] if last is not None else 0)
