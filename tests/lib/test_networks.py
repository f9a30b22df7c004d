"""The networks a client may come from (F1, F4), and who the client is behind a proxy."""

from __future__ import annotations

import ipaddress

import pytest

from secretum.lib.networks import (
    NetworkPolicy,
    RefusalThrottle,
    address_of,
    is_loopback,
    parse_networks,
    too_broad,
)

LAN = parse_networks(["192.168.1.0/24", "2001:db8:5::/48"], "TEST")
VPN = parse_networks(["10.8.0.0/24"], "TEST")
PROXY = parse_networks(["172.16.0.10"], "TEST")


def test_networks_are_read_in_both_families_and_single_addresses_are_networks() -> None:
    assert parse_networks([" 192.168.1.0/24", "", "2001:db8:5::/48 ", "172.16.0.10"], "X") == (
        ipaddress.ip_network("192.168.1.0/24"),
        ipaddress.ip_network("2001:db8:5::/48"),
        ipaddress.ip_network("172.16.0.10/32"),
    )


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("192.168.1.0/33", "'192.168.1.0/33' is not a network"),
        ("practice-lan", "'practice-lan' is not a network"),
        ("192.168.1.5/24", "has bits set after its prefix; did you mean 192.168.1.0/24?"),
        ("2001:db8:5::1/48", "did you mean 2001:db8:5::/48?"),
    ],
)
def test_an_entry_that_is_not_a_network_is_named_with_its_setting(entry: str, said: str) -> None:
    with pytest.raises(ValueError, match="SECRETUM_ALLOWED_NETWORKS") as refused:
        parse_networks(["10.0.0.0/8", entry], "SECRETUM_ALLOWED_NETWORKS")
    assert said in str(refused.value)


def test_nothing_configured_lets_every_address_in() -> None:
    policy = NetworkPolicy()
    assert not policy.configured
    assert policy.permits("203.0.113.9") and policy.permits("garbage")


@pytest.mark.parametrize(
    ("address", "zone"),
    [
        ("192.168.1.7", "practice"),
        ("2001:db8:5:1::7", "practice"),
        ("::ffff:192.168.1.7", "practice"),  # an IPv4 client on a dual-stack socket
        ("fe80::1%eth0", None),
        ("10.8.0.20", "remote"),
        ("192.168.2.7", None),
        ("203.0.113.9", None),
        ("2001:db8:6::1", None),
        ("", None),
        ("not an address", None),
    ],
)
def test_each_address_falls_in_its_zone_or_none(address: str, zone: str | None) -> None:
    policy = NetworkPolicy(LAN, VPN)
    assert policy.zone(address) == zone
    assert policy.permits(address) is (zone is not None)


def test_x_forwarded_for_is_never_read_without_a_trusted_proxy() -> None:
    """F1: a client writes what it likes in X-Forwarded-For; from anyone but a trusted proxy
    it is ignored."""
    policy = NetworkPolicy(LAN, VPN)
    assert policy.client_address("203.0.113.9", "192.168.1.7") == "203.0.113.9"
    assert not policy.permits(policy.client_address("203.0.113.9", "192.168.1.7") or "")


def test_behind_a_trusted_proxy_the_client_is_the_last_address_it_appended() -> None:
    policy = NetworkPolicy(LAN, VPN, PROXY)
    assert policy.client_address("172.16.0.10", "192.168.1.7") == "192.168.1.7"
    # The client wrote a practice address first; the proxy appended where it really came from.
    assert policy.client_address("172.16.0.10", "192.168.1.7, 203.0.113.9") == "203.0.113.9"
    # A chain of trusted proxies is walked through, right to left.
    assert policy.client_address("172.16.0.10", "10.8.0.3, 172.16.0.10") == "10.8.0.3"
    # No header: the proxy itself; a header of proxies only: the leftmost of them.
    assert policy.client_address("172.16.0.10", "") == "172.16.0.10"
    assert policy.client_address("172.16.0.10", " , 172.16.0.10") == "172.16.0.10"
    # Garbage where the client's address should be: no client.
    assert policy.client_address("172.16.0.10", "unknown") is None
    assert policy.client_address("172.16.0.10", "192.168.1.7, unknown") is None
    # Garbage further left, behind a real client address, is never read.
    assert policy.client_address("172.16.0.10", "unknown, 192.168.1.7") == "192.168.1.7"
    # A peer that is not a trusted proxy is the client, whatever it says.
    assert policy.client_address("172.16.0.11", "192.168.1.7") == "172.16.0.11"


def test_addresses_are_compared_as_the_application_sees_them() -> None:
    assert str(address_of("::ffff:10.8.0.1")) == "10.8.0.1"
    assert str(address_of("fe80::1%eth0")) == "fe80::1"
    assert address_of("example.be") is None
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.10") and is_loopback("::1")
    assert is_loopback("::ffff:127.0.0.1")
    assert not is_loopback("192.168.1.7") and not is_loopback("")


@pytest.mark.parametrize(
    ("network", "broad"),
    [
        ("0.0.0.0/0", True),
        ("::/0", True),
        ("203.0.113.0/24", False),
        ("198.18.0.0/15", False),  # reserved for benchmarks: not the Internet's
        ("81.240.0.0/12", True),  # an access provider's block: its other customers inside
        ("2a02:1810::/32", True),
        ("2a02:1810:4d02::/48", False),
        ("10.0.0.0/8", False),
        ("192.168.0.0/16", False),
        ("fd00::/8", False),
    ],
)
def test_networks_too_broad_for_one_practice(network: str, broad: bool) -> None:
    assert too_broad(ipaddress.ip_network(network)) is broad


def test_refusals_are_recorded_once_a_window_per_client_the_rest_counted() -> None:
    throttle = RefusalThrottle(window=60)
    assert throttle.note("203.0.113.9", 0.0) == ("203.0.113.9", 0)
    assert [throttle.note("203.0.113.9", t) for t in (1.0, 30.0, 59.9)] == [None] * 3
    assert throttle.note("198.51.100.1", 30.0) == ("198.51.100.1", 0)  # another client
    assert throttle.note("203.0.113.9", 60.0) == ("203.0.113.9", 3)  # the three it held back
    assert throttle.note("203.0.113.9", 200.0) == ("203.0.113.9", 0)


def test_a_flood_from_many_addresses_shares_one_entry_once_the_memory_is_full() -> None:
    throttle = RefusalThrottle(window=60, max_clients=3)
    assert [throttle.note(f"203.0.113.{n}", 0.0) for n in (1, 2, 3)] == [
        ("203.0.113.1", 0),
        ("203.0.113.2", 0),
        ("203.0.113.3", 0),
    ]
    assert throttle.note("203.0.113.4", 1.0) == (RefusalThrottle.OTHER, 0)
    assert throttle.note("203.0.113.5", 2.0) is None  # counted under "other"
    assert throttle.note("203.0.113.1", 3.0) is None  # still remembered
    # Once their window has passed, the old entries are forgotten to make room (with what they
    # held back: like the last window of any flood, it is counted in no event).
    assert throttle.note("203.0.113.6", 61.0) == ("203.0.113.6", 0)
    assert throttle.note("203.0.113.1", 62.0) == ("203.0.113.1", 0)
