"""``outbound:``: where notifications may be sent (``models/access/destinations.py``).

```yaml
outbound:
  allow: [10.20.0.0/16]          # e.g. the tenants' webhooks on an internal network
  deny: [203.0.113.0/24]         # refused for every receiver the policy checks
  check_operator_receivers: false
```

The receivers a tenant sets (``PUT /api/v1/config/{tenant}``, the ``config`` topic) are
always checked; those of ``pipelines.yaml`` and its ``tenant_files:`` are the
operator's and trusted unless ``check_operator_receivers`` is true (the demo and
tests post to loopback receivers).
"""

from __future__ import annotations

from ipaddress import ip_network

from pydantic import BaseModel, ConfigDict, field_validator

from models.access.destinations import DestinationPolicy


class OutboundConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow: list[str] = []  # CIDR blocks (a bare address: /32, /128) opened despite the defaults
    deny: list[str] = []  # refused always, the defaults' exceptions included
    check_operator_receivers: bool = False

    @field_validator("allow", "deny")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ip_network(cidr, strict=False)  # ValueError names the bad block
        return value

    def policy(self) -> DestinationPolicy:
        return DestinationPolicy(self.allow, self.deny)
