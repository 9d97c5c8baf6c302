import base64
import hashlib
import hmac

import orjson
import pytest
from conftest import make_notification

from app.config.receivers import Receiver
from channels.delivery import Deliverer
from channels.redaction import redact
from channels.webhook import WebhookChannel, WebhookConfig

# Alertmanager's webhook payload, version 4, written out by hand for make_notification's
# alerts (NOW = 2023-11-14T22:13:20Z, started 10 minutes before, resolved 5 s before);
# fingerprints are Alertmanager's FNV-1a of the label sets, computed outside the product.
FINGERPRINTS = {"web-1": "a888d4797c571513", "web-2": "39236261f20dcc98"}


def alertmanager_alert(instance: str, status: str) -> dict:
    return {
        "status": status,
        "labels": {
            "alertname": "HighCPU",
            "severity": "critical",
            "tenant": "acme",
            "instance": instance,
        },
        "annotations": {
            "summary": f"HighCPU on {instance}",
            "runbook_url": "https://runbooks.example/cpu",
        },
        "startsAt": "2023-11-14T22:03:20.000Z",
        "endsAt": "2023-11-14T22:13:15.000Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example/graph?g0.expr=cpu",
        "fingerprint": FINGERPRINTS[instance],
    }


def alertmanager_payload(status: str, reason: str) -> dict:
    return {
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="HighCPU"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "ops",
        "groupLabels": {"alertname": "HighCPU"},
        "commonLabels": {"alertname": "HighCPU", "severity": "critical", "tenant": "acme"},
        "commonAnnotations": {"runbook_url": "https://runbooks.example/cpu"},
        "externalURL": "http://alertstream.example",
        "alerts": [alertmanager_alert("web-1", status), alertmanager_alert("web-2", status)],
        # alertstream's additions
        "tenant": "acme",
        "notification_reason": reason,
    }


async def test_firing_and_resolved_arrive_as_alertmanager_payload(peer, session):
    p = await peer()
    rx = Receiver(
        name="ops",
        webhook_configs=[
            {
                "url": p.url("/alerts?token=s3cr3t"),
                "secret": "sign-me",
                "http_config": {"basic_auth": {"username": "am", "password": "hunter2pass"}},
            }
        ],
    )
    d = Deliverer({"ops": rx}, session)
    for i, (status, reason) in enumerate(
        [("firing", "first_notification"), ("resolved", "all_resolved")]
    ):
        n = make_notification("webhook", status, id=f"n-{i}", n_alerts=2)
        receipt = await d.deliver(n)
        assert receipt.status == "delivered", receipt
        req = p.requests[-1]
        assert req["method"] == "POST" and req["path"] == "/alerts"
        assert req["json"] == alertmanager_payload(status, reason)
        assert req["headers"]["Idempotency-Key"] == f"n-{i}"
        expected = hmac.new(b"sign-me", req["body"], hashlib.sha256).hexdigest()
        assert req["headers"]["X-Alertstream-Signature"] == "sha256=" + expected
        assert (
            req["headers"]["Authorization"]
            == "Basic " + base64.b64encode(b"am:hunter2pass").decode()
        )
        # nothing secret in the receipt
        text = repr(receipt) + orjson.dumps(receipt.to_wire()).decode()
        assert "s3cr3t" not in text and "hunter2pass" not in text
        assert "s3cr3t" not in receipt.destination
    assert len(p.requests) == 2


async def test_max_alerts_truncates_and_counts(peer, session):
    p = await peer()
    ch = WebhookChannel(WebhookConfig(url=p.url(), max_alerts=2), session)
    n = make_notification("webhook", n_alerts=5)
    rendered = ch.render(n)
    out = await ch.send(rendered)
    assert out.ok and out.status == 200
    body = p.requests[0]["json"]
    assert len(body["alerts"]) == 2 and body["truncatedAlerts"] == 3


def test_secrets_stay_out_of_repr_and_redacted_requests():
    cfg = WebhookConfig(
        url="https://hooks.example/T000/B000/XXXXSECRET",
        secret="sig",
        http_config={"authorization": {"credentials": "tok3n"}},
    )
    assert "XXXXSECRET" not in repr(cfg) and "tok3n" not in repr(cfg)
    rendered = WebhookChannel(cfg).render(make_notification())
    assert rendered["headers"]["Authorization"] == "Bearer tok3n"  # the DLQ copy replays
    shown = orjson.dumps(redact(rendered)).decode()
    assert "tok3n" not in shown and "XXXXSECRET" not in shown and "sha256=" not in shown
    assert "hooks.example" in shown


def test_config_errors():
    with pytest.raises(ValueError, match="url is required"):
        WebhookConfig()
    with pytest.raises(ValueError, match="http"):
        WebhookConfig(url="ftp://x")
    with pytest.raises(ValueError, match="Extra inputs"):
        WebhookConfig(url="http://x", urll="typo")


async def test_send_resolved_false_skips_all_resolved(peer, session):
    p = await peer()
    rx = Receiver(name="ops", webhook_configs=[{"url": p.url(), "send_resolved": False}])
    d = Deliverer({"ops": rx}, session)
    receipt = await d.deliver(make_notification("webhook", "resolved"))
    assert receipt.status == "skipped" and receipt.attempts == 0
    assert p.requests == []
