"""Which addresses a notification may be sent to (server-side request forgery).

Once tenants set their own receivers, a webhook URL is a way into the worker's own
network: ``http://169.254.169.254/...`` reads the cloud instance's credentials,
``http://127.0.0.1:6066/...`` the worker's own API. The policy judges the address
a connection is about to be made to (``channels.outbound`` asks it for every address
a name resolves to, at connect time), not the URL's host name.

By default loopback, link-local, private (RFC 1918, IPv6 unique local), carrier-grade
NAT, multicast, unspecified and reserved addresses and the cloud metadata endpoints are
refused. The operator's ``allow`` and ``deny`` lists change that; the most specific
network that holds the address decides, an operator's ``deny`` over everything, an
``allow`` over a default of the same size. So allowing ``169.254.0.0/16`` does not
open ``169.254.169.254`` (its own /32 is more specific): that takes allowing it by name.

    >>> policy = DestinationPolicy(allow=["10.1.0.0/16"])
    >>> policy.refusal("10.1.2.3") is None
    True
    >>> policy.refusal("10.2.0.1")
    '10.2.0.1 is private (10.0.0.0/8)'
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

Network = IPv4Network | IPv6Network

DEFAULT_DENIED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "unspecified"),
    ("127.0.0.0/8", "loopback"),
    ("10.0.0.0/8", "private"),
    ("172.16.0.0/12", "private"),
    ("192.168.0.0/16", "private"),
    ("100.64.0.0/10", "carrier-grade NAT"),
    ("169.254.0.0/16", "link-local"),
    ("192.0.0.0/24", "reserved"),
    ("198.18.0.0/15", "reserved"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
    ("64:ff9b::/96", "NAT64"),  # reaches any IPv4 address, private ones included
    ("169.254.169.254/32", "cloud metadata"),  # AWS, GCP, Azure, OpenStack, ...
    ("fd00:ec2::254/128", "cloud metadata"),  # AWS over IPv6
    ("100.100.100.200/32", "cloud metadata"),  # Alibaba Cloud
)
"""(network, what it is): refused unless the operator allows them."""

ALLOW, DENY = "allow", "deny"


class DestinationPolicy:
    """``refusal(address)``: why a connection to the address is refused, None if not."""

    def __init__(self, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> None:
        self.rules: list[tuple[Network, int, str]] = [  # (network, precedence, why)
            (ip_network(n), 0, what) for n, what in DEFAULT_DENIED
        ]
        self.rules += [(ip_network(n, strict=False), 1, ALLOW) for n in allow]
        self.rules += [(ip_network(n, strict=False), 2, DENY) for n in deny]

    def refusal(self, address: str) -> str | None:
        ip = ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the zone is no part of it
        if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1
            ip = ip.ipv4_mapped
        holding = [(n, p, why) for n, p, why in self.rules if n.version == ip.version and ip in n]
        if not holding:
            return None
        network, _, why = max(holding, key=lambda r: (r[1] == 2, r[0].prefixlen, r[1]))
        if why == ALLOW:
            return None
        if why == DENY:
            return f"{ip} is denied by the operator ({network})"
        return f"{ip} is {why} ({network})"
