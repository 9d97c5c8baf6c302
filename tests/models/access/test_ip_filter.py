"""Allow/deny lists and the client address behind trusted proxies."""

from __future__ import annotations

from ipaddress import ip_address

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.access.ip_filter import IpFilter, Networks, client_address
from models.access.tokens import TokenRecord, TokenStore, new_token

PROXIES = Networks(["10.0.0.0/8", "fd00::/8"])


@pytest.mark.parametrize(
    ("allow", "deny", "address", "permitted"),
    [
        ([], [], "203.0.113.9", True),
        (["203.0.113.0/24"], [], "203.0.113.9", True),
        (["203.0.113.0/24"], [], "198.51.100.1", False),
        (["203.0.113.0/24"], ["203.0.113.9"], "203.0.113.9", False),  # deny wins
        ([], ["0.0.0.0/0"], "2001:db8::1", True),  # an IPv4 block never holds IPv6
        ([], ["::/0"], "2001:db8::1", False),
        (["127.0.0.1"], [], "::ffff:127.0.0.1", True),  # v4-mapped IPv6 peer
    ],
)
def test_permits(allow: list[str], deny: list[str], address: str, permitted: bool) -> None:
    assert IpFilter(Networks(allow), Networks(deny)).permits(ip_address(address)) is permitted


def test_bad_cidr_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Networks(["10.0.0.0/33"])


def test_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    got = client_address("198.51.100.7", ["1.2.3.4"], PROXIES)
    assert got == ip_address("198.51.100.7")


def test_trusted_proxy_chain_right_most_untrusted() -> None:
    # the client forged 1.1.1.1; the edge proxy appended the real address, then ours
    got = client_address("10.0.0.2", ["1.1.1.1, 198.51.100.7", "10.0.0.1"], PROXIES)
    assert got == ip_address("198.51.100.7")


def test_ports_and_all_trusted() -> None:
    assert client_address("10.0.0.2", ["198.51.100.7:5123"], PROXIES) == ip_address("198.51.100.7")
    assert client_address("fd00::2", ["[2001:db8::5]:443"], PROXIES) == ip_address("2001:db8::5")
    # nothing untrusted in the chain: the left-most hop is as far as we can see
    assert client_address("10.0.0.2", ["10.9.9.9, 10.0.0.1"], PROXIES) == ip_address("10.9.9.9")
    assert client_address("10.0.0.2", [], PROXIES) == ip_address("10.0.0.2")


def test_garbage_written_by_a_trusted_hop_is_an_error() -> None:
    with pytest.raises(ValueError):
        client_address("10.0.0.2", ["unknown"], PROXIES)


addresses = st.ip_addresses(v=4).map(str)
untrusted = addresses.filter(lambda a: ip_address(a) not in PROXIES)
trusted = st.integers(1, 2**24 - 2).map(lambda n: str(ip_address(0x0A000000 + n)))


@given(
    forged=st.lists(st.one_of(addresses, st.text(max_size=8)), max_size=4),
    client=untrusted,
    hops=st.lists(trusted, max_size=4),
    peer=trusted,
)
def test_client_cannot_choose_its_address(
    forged: list[str], client: str, hops: list[str], peer: str
) -> None:
    """Whatever the client puts in the header, the address our proxies saw wins."""
    header = ", ".join([*forged, client, *hops])
    assert client_address(peer, [header], PROXIES) == ip_address(client)


def test_a_tokens_networks_travel_with_it() -> None:
    token, record = new_token({"*": "viewer"}, 0.0, allow_from=("192.0.2.0/24",))
    again = TokenRecord.from_wire(record.to_wire())
    assert again.principal().allow_from == ("192.0.2.0/24",)
    store = TokenStore()
    store.apply(record.id.encode(), record.to_wire())
    assert store.authenticate(token, 1.0) == again.principal()
    bad = orjson.loads(record.to_wire()) | {"allow_from": ["192.0.2.0/33"]}
    with pytest.raises(ValueError, match="allow_from"):
        TokenRecord.from_wire(orjson.dumps(bad))
