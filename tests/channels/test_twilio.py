import base64

import pytest
from aiohttp import web
from conftest import make_notification

from app.config.receivers import Receiver
from channels.delivery import Deliverer
from channels.twilio import SMS_RATE, TwilioConfig

SID = "AC00000000000000000000000000000001"
TOKEN = "twilio-auth-token"


def messages_api(rec):
    expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    if rec["headers"].get("Authorization") != expected:
        return web.json_response({"code": 20003, "message": "Authenticate"}, status=401)
    if rec["path"] != f"/2010-04-01/Accounts/{SID}/Messages.json":
        return web.json_response({"code": 20404}, status=404)
    form = rec.get("form") or {}
    if not form.get("To") or not form.get("From") or not form.get("Body"):
        return web.json_response({"code": 21604, "message": "'To' is required"}, status=400)
    return web.json_response({"sid": "SM1", "status": "queued", "body": form["Body"]}, status=201)


async def test_firing_and_resolved_sms(peer, session):
    p = await peer(messages_api)
    rx = Receiver.model_validate(
        {
            "name": "ops",
            "twilio_configs": [
                {
                    "account_sid": SID,
                    "auth_token": TOKEN,
                    "from": "+15005550006",
                    "to": "+15551234567",
                    "api_url": p.base,
                }
            ],
        }
    )
    d = Deliverer({"ops": rx}, session)
    r1 = await d.deliver(make_notification("twilio", "firing", id="sms1"))
    r2 = await d.deliver(make_notification("twilio", "resolved", id="sms2"))
    assert (r1.status, r1.http_status) == ("delivered", 201)
    assert r2.status == "delivered"
    f1, f2 = p.requests[0]["form"], p.requests[1]["form"]
    assert f1["To"] == "+15551234567" and f1["From"] == "+15005550006"
    assert f1["Body"] == "FIRING: HighCPU [critical] HighCPU on web-1"
    assert f2["Body"].startswith("RESOLVED: HighCPU [critical]")
    assert TOKEN not in repr(r1) + str(r1.to_wire())
    # paced for the number pair: at most 15 messages in 30 s (Twilio's carrier filter)
    gap = p.requests[1]["at"] - p.requests[0]["at"]
    assert gap >= 1 / SMS_RATE.rate - 0.1, gap


async def test_long_sms_is_cut_to_one_segment_and_bad_number_gives_up(peer, session):
    p = await peer(messages_api)
    cfg = TwilioConfig.model_validate(
        {"account_sid": SID, "auth_token": TOKEN, "from": "+1500", "to": "+1555", "api_url": p.base}
    )
    from channels.twilio import TwilioChannel

    ch = TwilioChannel(cfg, session)
    n = make_notification("twilio", n_alerts=3)
    n.alerts[0]["annotations"]["summary"] = "disk " * 100
    rendered = ch.render(n)
    assert (await ch.send(rendered)).ok
    body = p.requests[0]["form"]["Body"]
    assert len(body) == 160 and body.startswith("FIRING x3: HighCPU [critical] disk")
    p.handler = lambda rec: web.json_response(
        {"code": 21211, "message": "Invalid 'To'"}, status=400
    )
    assert (await ch.send(rendered)).kind == "give_up"


def test_config_requires_from():
    with pytest.raises(ValueError, match="from is required"):
        TwilioConfig.model_validate({"account_sid": SID, "auth_token": TOKEN, "to": "+1"})
