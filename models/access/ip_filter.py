"""Which client addresses may call the API, and who the client is behind a proxy.

A request's direct peer is the client unless the peer is one of our own reverse
proxies (``trusted_proxies``); only then is ``X-Forwarded-For`` read, from the right,
skipping the proxies we trust, and the first address we do not trust is the client.
Everything left of it was written by the client itself and proves nothing (the
"right-most untrusted address" rule), so a caller cannot pick its own address by
sending the header.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

Address = IPv4Address | IPv6Address


class Networks:
    """A list of CIDR blocks (``10.0.0.0/8``, ``::1``); a bare address is a /32 or /128."""

    def __init__(self, cidrs: Iterable[str] = ()):
        self.cidrs = tuple(cidrs)
        self.networks = tuple(ip_network(c, strict=False) for c in self.cidrs)

    def __contains__(self, address: Address) -> bool:
        # an IPv4 peer on a dual-stack socket arrives as ::ffff:a.b.c.d
        address = _unmapped(address)
        return any(address in n for n in self.networks if n.version == address.version)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def __repr__(self) -> str:
        return f"Networks({list(self.cidrs)!r})"


def _unmapped(address: Address) -> Address:
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class IpFilter:
    """``deny`` wins over ``allow``; an empty ``allow`` allows every address not denied."""

    allow: Networks = field(default_factory=Networks)
    deny: Networks = field(default_factory=Networks)

    def permits(self, address: Address) -> bool:
        if address in self.deny:
            return False
        return not self.allow or address in self.allow

    def __bool__(self) -> bool:
        return bool(self.allow) or bool(self.deny)


def client_address(peer: str, forwarded_for: Iterable[str], trusted: Networks) -> Address:
    """The client's address: ``peer`` (the socket's), or, if the peer is a trusted proxy,
    the right-most address of the ``X-Forwarded-For`` headers that is not.  Raises
    ValueError for a hop that is no address: a proxy we trust wrote it, so there is no
    client address we could rely on."""
    client = _unmapped(ip_address(peer))
    if client not in trusted:
        return client
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        client = _unmapped(ip_address(_without_port(hop)))
        if client not in trusted:
            return client
    return client


def _without_port(hop: str) -> str:
    """``1.2.3.4:5678`` and ``[2001:db8::1]:443`` (some proxies add the port) as addresses."""
    if hop.startswith("["):
        return hop[1 : hop.find("]")]
    if hop.count(":") == 1:
        return hop.split(":")[0]
    return hop
