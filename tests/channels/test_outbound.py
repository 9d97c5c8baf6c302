"""Deliveries to receivers a tenant set go through the checked session: a refused
address is a dead letter naming the reason, sent nowhere; the operator's receivers and
allowed networks are delivered (real loopback peers, real connections)."""

from __future__ import annotations

import dataclasses
import socket

from aiohttp import web
from aiosmtpd.controller import Controller
from conftest import make_notification

from app.config.deliverer import build_deliverer
from app.config.loader import load_text
from app.config.receivers import Receiver
from channels.delivery import Deliverer
from channels.outbound import OutboundSessions
from channels.policy import DeliveryPolicy, RetryPolicy
from models.access.destinations import DestinationPolicy

ONE_TRY = DeliveryPolicy(retry=RetryPolicy(initial=0.05, max_delay=0.1, budget=2.0))


def deliverer(url: str, session, policy: DestinationPolicy, tenant_set: bool) -> Deliverer:
    sessions = OutboundSessions(session, policy, lambda tenant: tenant_set)
    receivers = {"ops": Receiver(name="ops", webhook_configs=[{"url": url}])}
    return Deliverer(receivers, session, ONE_TRY, sessions=sessions)


async def refused(url: str, session) -> str:
    d = deliverer(url, session, DestinationPolicy(), tenant_set=True)
    receipt = await d.deliver(make_notification())
    try:
        assert (receipt.status, receipt.attempts) == ("dead", 1)  # given up, not retried
        assert receipt.dead_letter and receipt.dead_letter["reason"] == "rejected"
        return receipt.last_error
    finally:
        await d.close()


async def test_tenant_receivers_at_internal_addresses_are_refused(peer, session):
    p = await peer()
    assert "127.0.0.1 is loopback" in await refused(p.url(), session)
    assert "169.254.169.254 is cloud metadata" in await refused(
        "http://169.254.169.254/latest/meta-data/", session
    )
    # a name is judged by what it resolves to at send time
    reason = await refused(f"http://localhost:{p.port}/hook", session)
    assert "refused by the outbound policy" in reason and "loopback" in reason
    assert p.requests == []


async def test_redirect_to_a_refused_address_is_refused(peer, session):
    target = await peer()
    p = await peer(
        lambda rec: web.Response(
            status=307, headers={"Location": f"http://127.0.0.2:{target.port}/"}
        )
    )
    policy = DestinationPolicy(allow=["127.0.0.1/32"])
    d = deliverer(p.url(), session, policy, tenant_set=True)
    receipt = await d.deliver(make_notification())
    await d.close()
    assert receipt.status == "dead" and "127.0.0.2 is loopback" in receipt.last_error
    assert len(p.requests) == 1 and target.requests == []


async def test_allowed_network_and_operator_receivers_are_delivered(peer, session):
    p = await peer()
    allowed = deliverer(p.url(), session, DestinationPolicy(allow=["127.0.0.0/8"]), True)
    assert (await allowed.deliver(make_notification(id="a"))).status == "delivered"
    await allowed.close()
    operator = deliverer(p.url(), session, DestinationPolicy(), tenant_set=False)
    assert (await operator.deliver(make_notification(id="b"))).status == "delivered"
    assert [r["json"]["alerts"][0]["labels"]["alertname"] for r in p.requests] == ["HighCPU"] * 2


async def test_outbound_config_decides_who_is_checked(peer, session):
    p = await peer()
    text = f"""
route: {{receiver: ops}}
receivers: [{{name: ops, webhook_configs: [{{url: "{p.url()}"}}]}}]
outbound: {{check_operator_receivers: %s, allow: [%s]}}
"""
    own = {"acme"}
    cases = [
        ("false", "", "globex", "delivered"),
        ("false", "", "acme", "dead"),
        ("true", "", "globex", "dead"),
        ("true", "127.0.0.1", "acme", "delivered"),
    ]
    for check, allow, tenant, want in cases:
        config = load_text(text % (check, allow), "pipelines.yaml", {})
        d = build_deliverer(config, session, set_by_tenant=own.__contains__)
        n = dataclasses.replace(make_notification(id=f"{check}-{tenant}"), tenant=tenant)
        receipt = await d.deliver(n)
        await d.close()
        assert receipt.status == want, (check, allow, tenant, receipt.last_error)


class Inbox:
    def __init__(self) -> None:
        self.rcpts: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        self.rcpts.append(list(envelope.rcpt_tos))
        return "250 OK"


async def test_tenant_smtp_smarthost_is_checked_too(session):
    inbox = Inbox()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        config = {"to": "ops@example.com", "from": "am@example.com", "require_tls": False}
        receivers = {
            "ops": Receiver(
                name="ops", email_configs=[{**config, "smarthost": f"localhost:{port}"}]
            )
        }
        receipts = []
        for allow in ([], ["127.0.0.1"]):
            sessions = OutboundSessions(session, DestinationPolicy(allow=allow), lambda t: True)
            d = Deliverer(receivers, session, ONE_TRY, sessions=sessions)
            receipts.append(
                await d.deliver(make_notification(channel="email", id=f"mail-{len(allow)}"))
            )
            await sessions.close()
        refused, allowed = receipts
        assert (refused.status, refused.attempts) == ("dead", 1)
        assert "127.0.0.1 is loopback" in refused.last_error
        assert allowed.status == "delivered", allowed.last_error
        assert inbox.rcpts == [["ops@example.com"]]  # only the allowed one arrived
    finally:
        controller.stop()
