import socket

import boto3
import pytest
from conftest import make_notification
from moto.server import ThreadedMotoServer
from moto.sns.models import sns_backends

from app.config.receivers import Receiver
from channels.delivery import Deliverer
from channels.sns import SMS_RATE, SNSChannel, SNSConfig

ACCOUNT = "123456789012"
REGION = "eu-west-1"


@pytest.fixture(scope="module")
def moto_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def sigv4():
    return {"region": REGION, "access_key": "AKIDTEST", "secret_key": "wJalrXUtnFEMI/SECRET"}


async def test_topic_publish_firing_and_resolved(moto_url):
    client = boto3.client(
        "sns",
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="x",
    )
    topic = client.create_topic(Name="alerts")["TopicArn"]
    rx = Receiver.model_validate(
        {
            "name": "ops",
            "sns_configs": [
                {
                    "api_url": moto_url,
                    "sigv4": sigv4(),
                    "topic_arn": topic,
                    "attributes": {"severity": "{{ commonLabels.severity }}"},
                }
            ],
        }
    )
    d = Deliverer({"ops": rx}, session=None)
    r1 = await d.deliver(make_notification("sns", "firing", id="sns1"))
    r2 = await d.deliver(make_notification("sns", "resolved", id="sns2"))
    assert r1.status == r2.status == "delivered", (r1, r2)
    sent = sns_backends[ACCOUNT][REGION].topics[topic].sent_notifications
    (_, m1, subj1, attrs1, _), (_, m2, subj2, _, _) = sent[-2:]
    assert subj1 == "[FIRING:1] HighCPU (web-1 critical)" and subj2.startswith("[RESOLVED]")
    assert "HighCPU [critical]: HighCPU on web-1" in m1
    assert "Resolved (1):" in m2
    assert attrs1["severity"] == {"Type": "String", "Value": "critical"}  # moto's storage form
    assert "SECRET" not in repr(r1) + str(r1.to_wire())


async def test_sms_is_one_segment_with_name_and_severity_first(moto_url):
    cfg = SNSConfig.model_validate(
        {"api_url": moto_url, "sigv4": sigv4(), "phone_number": "+15551234567"}
    )
    ch = SNSChannel(cfg)
    n = make_notification("sns")
    n.alerts[0]["annotations"]["summary"] = "very long " * 40
    out = await ch.send(ch.render(n))
    assert out.ok, out
    phone, text = list(sns_backends[ACCOUNT][REGION].sms_messages.values())[-1]
    assert phone == "+15551234567"
    assert len(text) == 160 and text.startswith("FIRING: HighCPU [critical] very long")


async def test_missing_topic_gives_up(moto_url):
    cfg = SNSConfig.model_validate(
        {"api_url": moto_url, "sigv4": sigv4(), "topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:nope"}
    )
    ch = SNSChannel(cfg)
    out = await ch.send(ch.render(make_notification("sns")))
    assert out.kind == "give_up" and "NotFound" in out.detail


async def test_unreachable_endpoint_retries():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = SNSConfig.model_validate(
        {
            "api_url": f"http://127.0.0.1:{port}",
            "sigv4": sigv4(),
            "topic_arn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t",
            "timeout": 2,
        }
    )
    ch = SNSChannel(cfg)
    out = await ch.send(ch.render(make_notification("sns")))
    assert out.kind == "retry"


def test_exactly_one_target():
    with pytest.raises(ValueError, match="either a Target ARN, Topic ARN, or Phone Number"):
        SNSConfig.model_validate({"topic_arn": "arn:a", "phone_number": "+1"})
    with pytest.raises(ValueError, match="either"):
        SNSConfig.model_validate({})


def test_sms_is_paced_per_phone_number_and_topics_are_not():
    sms = SNSChannel(SNSConfig.model_validate({"sigv4": sigv4(), "phone_number": "+15551234567"}))
    scope, limit = SNSChannel.rate_scope(sms.render(make_notification("sns")))
    assert (scope, limit) == ("sns-sms:+15551234567", SMS_RATE)
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
    topic = SNSChannel(SNSConfig.model_validate({"sigv4": sigv4(), "topic_arn": topic_arn}))
    assert SNSChannel.rate_scope(topic.render(make_notification("sns")))[1].unlimited
