import pytest
from aiohttp import web
from conftest import make_notification

from app.config.receivers import Receiver
from channels.delivery import Deliverer
from channels.msteams import MSTeamsConfig, MSTeamsV2Channel, MSTeamsV2Config


def teams(rec):
    b = rec.get("json") or {}
    try:
        (att,) = b["attachments"]
        card = att["content"]
        ok = (
            b["type"] == "message"
            and att["contentType"] == "application/vnd.microsoft.card.adaptive"
            and card["type"] == "AdaptiveCard"
            and tuple(map(int, card["version"].split("."))) >= (1, 4)
            and isinstance(card["body"], list)
        )
    except (KeyError, ValueError, TypeError):
        ok = False
    return web.Response(status=202) if ok else web.Response(status=400, text="Bad payload")


@pytest.mark.parametrize("kind", ["msteams", "msteamsv2"])
async def test_adaptive_card_firing_and_resolved(peer, session, kind):
    p = await peer(teams)
    rx = Receiver.model_validate(
        {"name": "ops", f"{kind}_configs": [{"webhook_url": p.url("/workflows/abc?sig=SECRET")}]}
    )
    d = Deliverer({"ops": rx}, session)
    r1 = await d.deliver(make_notification(kind, "firing", id="t1"))
    r2 = await d.deliver(make_notification(kind, "resolved", id="t2"))  # send_resolved default true
    assert r1.status == r2.status == "delivered"
    assert "SECRET" not in r1.destination
    firing = p.requests[0]["json"]["attachments"][0]["content"]
    resolved = p.requests[1]["json"]["attachments"][0]["content"]
    head = firing["body"][0]
    assert head["type"] == "Container" and head["style"] == "attention"
    assert head["items"][0]["text"] == "[FIRING:1] HighCPU (web-1 critical)"
    assert resolved["body"][0]["style"] == "good"
    facts = next(b for b in firing["body"] if b["type"] == "FactSet")["facts"]
    assert {"title": "severity", "value": "critical"} in facts
    urls = {a["title"]: a["url"] for a in firing["actions"]}
    assert urls["Runbook"] == "https://runbooks.example/cpu"
    assert urls["Source"].startswith("http://prometheus.example/")
    assert all(a["type"] == "Action.OpenUrl" for a in firing["actions"])


async def test_warning_style_and_connector_throttling_inside_200(peer, session):
    ch = MSTeamsV2Channel(MSTeamsV2Config(webhook_url="https://x.example/hook"))
    card = ch.card(make_notification("msteamsv2", severity="warning"))
    assert card["body"][0]["style"] == "warning"
    p = await peer(
        lambda rec: web.Response(
            status=200,
            text="Webhook message delivery failed with error: "
            "Microsoft Teams endpoint returned HTTP error 429",
        )
    )
    ch = MSTeamsV2Channel(MSTeamsV2Config(webhook_url=p.url()), session)
    out = await ch.send(ch.render(make_notification("msteamsv2")))
    assert out.kind == "retry" and out.status == 429


def test_config():
    with pytest.raises(ValueError, match="webhook_url is required in msteams_configs"):
        MSTeamsConfig()
    with pytest.raises(ValueError, match="template syntax error"):
        MSTeamsV2Config(webhook_url="https://x.example", text="{{ unclosed")
