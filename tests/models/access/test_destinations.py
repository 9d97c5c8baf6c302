"""The outbound policy's verdicts, address by address."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.access.destinations import DEFAULT_DENIED, DestinationPolicy

DEFAULT = DestinationPolicy()


@pytest.mark.parametrize(
    ("address", "what"),
    [
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped: judged as the IPv4 address
        ("10.1.2.3", "private"),
        ("172.31.255.1", "private"),
        ("192.168.0.10", "private"),
        ("fd12:3456::1", "unique local"),
        ("169.254.10.1", "link-local"),
        ("fe80::1%eth0", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("64:ff9b::a00:1", "NAT64"),
    ],
)
def test_default_refuses(address: str, what: str) -> None:
    reason = DEFAULT.refusal(address)
    assert reason is not None and f" is {what} (" in reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "172.32.0.1"])
def test_default_allows_public_addresses(address: str) -> None:
    assert DEFAULT.refusal(address) is None


def test_allow_opens_a_range_but_not_the_metadata_address_inside_it() -> None:
    policy = DestinationPolicy(allow=["127.0.0.0/8", "169.254.0.0/16"])
    assert policy.refusal("127.0.0.1") is None
    assert policy.refusal("169.254.1.1") is None
    assert "cloud metadata" in (policy.refusal("169.254.169.254") or "")
    assert DestinationPolicy(allow=["169.254.169.254"]).refusal("169.254.169.254") is None


def test_operator_deny_wins_over_allow_and_public() -> None:
    policy = DestinationPolicy(allow=["10.0.0.0/8"], deny=["10.5.0.0/16", "8.8.8.8"])
    assert policy.refusal("10.4.0.1") is None
    assert "denied by the operator (10.5.0.0/16)" in (policy.refusal("10.5.0.1") or "")
    assert "denied by the operator" in (policy.refusal("8.8.8.8") or "")
    # a more specific allow does not undo a deny
    assert DestinationPolicy(allow=["10.5.5.0/24"], deny=["10.5.0.0/16"]).refusal("10.5.5.5")


@given(st.ip_addresses())
def test_verdict_follows_the_default_networks(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """Any address: refused exactly when a default network holds it (mapped IPv6 as
    its IPv4 address)."""
    plain = ip.ipv4_mapped if ip.version == 6 and ip.ipv4_mapped else ip
    held = any(
        plain in ipaddress.ip_network(n)
        for n, _ in DEFAULT_DENIED
        if ipaddress.ip_network(n).version == plain.version
    )
    assert (DEFAULT.refusal(str(ip)) is not None) == held
