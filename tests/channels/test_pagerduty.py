import hashlib

import orjson
import pytest
from aiohttp import web
from conftest import make_notification

from app.config.receivers import Receiver
from channels.delivery import Deliverer
from channels.pagerduty import PagerdutyChannel, PagerdutyConfig

KEY = "R0UT1NGKEY0123456789012345678901"


def events_v2(rec):
    """Checks what PagerDuty's Events API v2 checks, answers as it does."""
    b = rec.get("json") or {}
    errors = []
    if len(b.get("routing_key", "")) != 32:
        errors.append("routing_key")
    if b.get("event_action") not in ("trigger", "acknowledge", "resolve"):
        errors.append("event_action")
    if b.get("event_action") == "trigger":
        pl = b.get("payload") or {}
        if not pl.get("summary") or len(pl["summary"]) > 1024:
            errors.append("payload.summary")
        if pl.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("payload.severity")
        if not pl.get("source"):
            errors.append("payload.source")
    elif not b.get("dedup_key"):
        errors.append("dedup_key")
    if errors:
        return web.json_response(
            {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
            status=400,
        )
    return web.json_response(
        {"status": "success", "message": "Event processed", "dedup_key": b["dedup_key"]},
        status=202,
    )


async def test_trigger_then_resolve_share_the_dedup_key(peer, session):
    p = await peer(events_v2)
    rx = Receiver(
        name="ops",
        pagerduty_configs=[
            {
                "routing_key": KEY,
                "url": p.url("/v2/enqueue"),
                "component": "{{ commonLabels.instance }}",
                "class": "cpu",
                "details": {"team": "infra"},
            }
        ],
    )
    d = Deliverer({"ops": rx}, session)
    n1 = make_notification("pagerduty", "firing", id="p1")
    r1 = await d.deliver(n1)
    r2 = await d.deliver(make_notification("pagerduty", "resolved", id="p2"))
    assert (r1.status, r1.http_status) == ("delivered", 202)
    assert r2.status == "delivered"
    trig, res = p.requests[0]["json"], p.requests[1]["json"]
    dedup = hashlib.sha256(n1.group_key.encode()).hexdigest()
    assert trig["dedup_key"] == res["dedup_key"] == dedup
    assert trig["event_action"] == "trigger" and res["event_action"] == "resolve"
    assert trig["payload"]["severity"] == "critical"
    assert trig["payload"]["summary"] == "[FIRING:1] HighCPU (web-1 critical)"
    assert trig["payload"]["source"] == "alertstream"
    assert trig["payload"]["component"] == "web-1" and trig["payload"]["class"] == "cpu"
    details = trig["payload"]["custom_details"]
    assert details["num_firing"] == 1 and details["team"] == "infra"
    assert {"href": "https://runbooks.example/cpu", "text": "Runbook"} in trig["links"]
    assert trig["client_url"] == "http://alertstream.example"
    assert "payload" not in res and set(res) == {"routing_key", "event_action", "dedup_key"}
    assert KEY not in repr(r1) + str(r1.to_wire())


def test_acknowledge_severity_mapping_and_summary_cut():
    ch = PagerdutyChannel(PagerdutyConfig(routing_key=KEY, description="x" * 5000))
    n = make_notification("pagerduty", severity="warning", extra={"event_action": "acknowledge"})
    body = orjson.loads(ch.render(n)["body"])
    assert body["event_action"] == "acknowledge" and "payload" not in body
    body = orjson.loads(ch.render(make_notification("pagerduty"))["body"])
    assert len(body["payload"]["summary"]) == 1024 and body["payload"]["summary"].endswith("…")
    for label, expected in [
        ("high", "error"),
        ("low", "info"),
        ("page-me", "error"),
        ("info", "info"),
    ]:
        n = make_notification("pagerduty", severity=label)
        assert orjson.loads(ch.render(n)["body"])["payload"]["severity"] == expected


async def test_400_gives_up_and_5xx_429_retry(peer, session):
    p = await peer(events_v2)
    ch = PagerdutyChannel(PagerdutyConfig(routing_key="short", url=p.url("/v2/enqueue")), session)
    out = await ch.send(ch.render(make_notification("pagerduty")))
    assert out.kind == "give_up" and out.status == 400
    for status in (429, 500, 502):
        p.handler = lambda rec, s=status: web.Response(status=s)
        out = await ch.send(ch.render(make_notification("pagerduty")))
        assert out.kind == "retry" and out.status == status


def test_config_needs_a_key():
    with pytest.raises(ValueError, match="missing service or routing key"):
        PagerdutyConfig()
    assert PagerdutyConfig(service_key="k").v1
