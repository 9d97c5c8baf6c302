import aiohttp
import orjson
from aiohttp import web
from conftest import make_notification

from app.config.receivers import Receiver
from channels.delivery import Deliverer
from channels.slack import SlackChannel, SlackConfig


def slack_webhook(rec):
    body = rec.get("json")
    ok = isinstance(body, dict) and isinstance(body.get("text"), str)
    ok = ok and (body.get("blocks") or body.get("attachments"))
    return (
        web.Response(status=200, text="ok")
        if ok
        else web.Response(status=400, text="invalid_payload")
    )


def slack_web_api(rec):
    if rec["headers"].get("Authorization") != "Bearer xoxb-test":
        return web.json_response({"ok": False, "error": "invalid_auth"})
    body = rec["json"]
    if rec["path"].endswith("/chat.postMessage"):
        return web.json_response({"ok": True, "channel": "C024BE91L", "ts": "1700000000.000100"})
    if rec["path"].endswith("/chat.update"):
        if body.get("ts") != "1700000000.000100" or body.get("channel") != "C024BE91L":
            return web.json_response({"ok": False, "error": "message_not_found"})
        return web.json_response({"ok": True, "channel": body["channel"], "ts": body["ts"]})
    return web.json_response({"ok": False, "error": "unknown_method"}, status=404)


def attachment(body):
    (att,) = body["attachments"]
    return att


async def test_incoming_webhook_firing_and_resolved(peer, session):
    p = await peer(slack_webhook)
    rx = Receiver(
        name="ops",
        slack_configs=[
            {"api_url": p.url("/services/T0/B0/XYZ"), "channel": "#ops", "send_resolved": True}
        ],
    )
    d = Deliverer({"ops": rx}, session)
    r1 = await d.deliver(make_notification("slack", "firing", id="s1"))
    r2 = await d.deliver(make_notification("slack", "resolved", id="s2"))
    assert r1.status == r2.status == "delivered"
    assert "XYZ" not in r1.destination
    firing, resolved = p.requests[0]["json"], p.requests[1]["json"]
    assert firing["channel"] == "#ops"
    assert firing["text"] == "[FIRING:1] HighCPU (web-1 critical)"
    assert firing["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "[FIRING:1] HighCPU (web-1 critical)"},
    }
    att = attachment(firing)
    assert att["color"] == "#E01E5A"  # critical
    kinds = [b["type"] for b in att["blocks"]]
    assert kinds == ["section", "section", "context", "actions"]
    fields = att["blocks"][1]["fields"]
    assert {"type": "mrkdwn", "text": "*severity*\ncritical"} in fields
    buttons = att["blocks"][-1]["elements"]
    labels = [b["text"]["text"] for b in buttons]
    assert labels == ["Acknowledge", "Resolve", "Silence 1h", "Runbook", "Source"]
    values = [orjson.loads(b["value"]) for b in buttons[:3]]
    assert values[0] == {
        "action": "ack",
        "tenant": "acme",
        "group_key": make_notification().group_key,
    }
    assert values[2]["action"] == "silence" and values[2]["duration"] == 3600.0
    assert buttons[3]["url"] == "https://runbooks.example/cpu"
    # resolved: green, no command buttons
    att = attachment(resolved)
    assert att["color"] == "#2EB67D"
    actions = [b for b in att["blocks"] if b["type"] == "actions"]
    assert all("value" not in e for blk in actions for e in blk["elements"])


async def test_web_api_posts_then_updates_the_message_on_resolve(peer, session):
    p = await peer(slack_web_api)
    rx = Receiver(
        name="ops",
        slack_configs=[
            {
                "api_url": p.url("/api/chat.postMessage"),
                "http_config": {"authorization": {"credentials": "xoxb-test"}},
                "channel": "#ops",
                "send_resolved": True,
            }
        ],
    )
    d = Deliverer({"ops": rx}, session)
    r1 = await d.deliver(make_notification("slack", "firing", id="w1"))
    assert r1.status == "delivered"
    assert r1.state == {"channel": "C024BE91L", "ts": "1700000000.000100"}
    assert p.requests[0]["path"] == "/api/chat.postMessage"
    assert p.requests[0]["json"]["channel"] == "#ops"
    r2 = await d.deliver(make_notification("slack", "resolved", id="w2"))
    assert r2.status == "delivered", r2
    upd = p.requests[1]
    assert upd["path"] == "/api/chat.update"
    assert upd["json"]["ts"] == "1700000000.000100" and upd["json"]["channel"] == "C024BE91L"
    assert attachment(upd["json"])["color"] == "#2EB67D"
    assert "xoxb-test" not in repr(r2) + str(r2.to_wire())


async def test_after_a_restart_the_state_the_caller_kept_edits_the_message(peer, session):
    p = await peer(slack_web_api)
    rx = Receiver(
        name="ops",
        slack_configs=[
            {
                "token": "xoxb-test",
                "api_base_url": p.url("/api"),
                "channel": "C024BE91L",
                "send_resolved": True,
            }
        ],
    )
    before = Deliverer({"ops": rx}, session)
    fired = await before.deliver(make_notification("slack", "firing", id="f1"))
    kept = fired.state  # what a caller keeps across restarts (the receipt carries it)
    assert kept == {"channel": "C024BE91L", "ts": "1700000000.000100"}
    # the worker restarts: a new Deliverer and HTTP session, no memory of the post
    async with aiohttp.ClientSession() as fresh:
        after = Deliverer({"ops": rx}, fresh)
        assert not after.states
        resolved = make_notification("slack", "resolved", id="r1", extra={"channel_state": kept})
        receipt = await after.deliver(resolved)
    assert receipt.status == "delivered", receipt
    assert [r["path"] for r in p.requests] == ["/api/chat.postMessage", "/api/chat.update"]
    assert p.requests[1]["json"]["ts"] == kept["ts"]


async def test_web_api_errors_are_classified(peer, session):
    p = await peer(lambda rec: web.json_response({"ok": False, "error": "channel_not_found"}))
    ch = SlackChannel(
        SlackConfig(token="xoxb-test", api_base_url=p.url("/api"), channel="#x"), session
    )
    out = await ch.send(ch.render(make_notification("slack")))
    assert out.kind == "give_up" and "channel_not_found" in out.detail
    p.handler = lambda rec: web.json_response(
        {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "3"}
    )
    out = await ch.send(ch.render(make_notification("slack")))
    assert out.kind == "retry" and out.retry_after == 3.0 and out.throttled


def test_config_needs_a_target_and_valid_templates():
    import pytest

    with pytest.raises(ValueError, match="api_url"):
        SlackConfig()
    with pytest.raises(ValueError, match="channel is required"):
        SlackConfig(token="xoxb-1")
    with pytest.raises(ValueError, match="Go template"):
        SlackConfig(
            api_url="https://hooks.slack.com/services/x", title="{{ .CommonLabels.alertname }}"
        )
    assert SlackConfig(api_url="https://hooks.slack.com/services/x").send_resolved is False
