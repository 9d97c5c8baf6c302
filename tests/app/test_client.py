"""The producer API round trip: create_alert / send_alert reach a webhook through a worker,
as the seed's examples write them; the seed's notification_channels become receivers."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid

import orjson
import pytest
from conftest import ROOT, read_topic

from app.client import (
    AlertSeverity,
    ClientError,
    create_alert,
    get_alerts_system,
    security_config,
    send_alert,
)
from app.config.seed_channels import ChannelsError, receivers_from_channels, tenant_config

PIPELINES = """
route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}
receivers: [{name: hook, webhook_configs: [{url: "${HOOK}"}]}]
outbound: {allow: [127.0.0.0/8]}  # the receivers the client seeds are loopback peers
"""


async def test_create_and_send_alert_round_trip(make_worker, receiver, broker, monkeypatch):
    worker = make_worker(PIPELINES, {"HOOK": receiver.url})
    worker.start()
    await worker.ready()
    # the seed's example, but for the import line: no address in the code, the broker
    # from the environment as the worker takes it
    monkeypatch.setenv("ALERTSTREAM_BROKER", broker)
    monkeypatch.setenv("ALERTSTREAM_TOPIC_PREFIX", worker.namespace + ".")
    get_alerts_system({"tenant": "acme"})
    alert = create_alert(
        name="LoginFailures",
        description="5 failed logins for ada in 5 minutes",
        severity=AlertSeverity.HIGH,
        source="auth-service",
        tenant_id="acme",
        labels={"user": "ada"},
    )
    assert send_alert(alert) is True
    [payload] = await receiver.wait_for(1, timeout=30)
    [got] = payload["alerts"]
    assert got["labels"] == {
        "alertname": "LoginFailures",
        "user": "ada",
        "severity": "high",
        "tenant": "acme",
    }
    assert got["annotations"] == {
        "description": "5 failed logins for ada in 5 minutes",
        "source": "auth-service",
    }
    system = get_alerts_system({"broker": broker, "topic_prefix": worker.namespace + "."})
    alert = system.create_alert(
        "DiskFull",
        "disk / is 97% full",
        severity=AlertSeverity.HIGH,
        source="cron",
        tenant_id="acme",
        labels={"host": "db-1"},
    )
    assert system.send_alert(alert) is True
    payload = (await receiver.wait_for(2, timeout=30))[1]
    [got] = payload["alerts"]
    assert got["labels"] == {
        "alertname": "DiskFull",
        "host": "db-1",
        "severity": "high",
        "tenant": "acme",
    }
    assert got["annotations"] == {"description": "disk / is 97% full", "source": "cron"}
    assert got["fingerprint"] == alert.fingerprint
    assert payload["tenant"] == "acme" and payload["status"] == "firing"

    # the seed's second example: its channels become tenant sec's receivers through the
    # worker's API (ALERTSTREAM_URL), before its first alert goes out
    monkeypatch.setenv("ALERTSTREAM_URL", worker.url)
    get_alerts_system(
        {
            "notification_channels": {
                "slack": {
                    "enabled": True,
                    "webhook_url": receiver.url,
                    "default_channel": "#security",
                },
                "email": {"enabled": False},
            }
        }
    )
    alert = create_alert(
        name="PrivilegeEscalation",
        description="ada became admin, then exported the customer table",
        severity=AlertSeverity.CRITICAL,
        source="audit-log",
        tenant_id="sec",
        labels={"user": "ada"},
    )
    assert await asyncio.to_thread(send_alert, alert) is True
    arrived = await receiver.wait_for(3, timeout=30)
    assert len(arrived) == 3, worker.log()
    slack = arrived[2]
    assert slack["channel"] == "#security"
    assert "PrivilegeEscalation" in slack["text"]  # the title
    shown = orjson.dumps(slack["attachments"]).decode()
    assert "ada became admin, then exported the customer table" in shown


def test_create_alert_rejects_what_the_pipeline_would_reject():
    system = get_alerts_system({"broker": "kafka://127.0.0.1:9"})
    with pytest.raises(ValueError, match="alertname: required"):
        system.create_alert("", "no name")


def test_security_config_forms():
    assert security_config("") == {}
    assert security_config("ssl") == {"security.protocol": "SSL"}
    assert security_config("ssl+sasl_scram512:u:p:w") == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "u",
        "sasl.password": "p:w",
    }
    with pytest.raises(ValueError, match="unknown SASL mechanism"):
        security_config("sasl_gssapi:u:p")


def test_ack_command_from_the_cli_lands_on_the_commands_topic(broker):
    prefix = f"ack{uuid.uuid4().hex[:6]}."
    env = {**os.environ, "ALERTSTREAM_BROKER": broker, "ALERTSTREAM_TOPIC_PREFIX": prefix}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "ack",
            "--tenant",
            "acme",
            "--group-key",
            '{}:{alertname="HighCpu"}',
            "--for",
            "2h",
            "--user",
            "ada",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    [command] = read_topic(broker, prefix + "commands", want=1)
    assert command == {
        "op": "ack",
        "tenant": "acme",
        "group_key": '{}:{alertname="HighCpu"}',
        "user": "ada",
        "duration": 7200.0,
    }


SEED_CHANNELS = {
    "email": {
        "enabled": True,
        "smtp_host": "smtp.example.com",
        "smtp_port": 587,
        "username": "alerts@example.com",
        "password": "s3cret",
        "to_emails": ["ops@example.com", "sec@example.com"],
    },
    "slack": {
        "enabled": True,
        "webhook_url": "https://hooks.slack.com/services/T/B/X",
        "default_channel": "#alerts",
    },
    "webhook": {"enabled": False},
}


def test_seed_channels_become_receivers_checked_by_the_receiver_schema():
    email, slack = receivers_from_channels(SEED_CHANNELS)
    assert email == {
        "name": "email",
        "email_configs": [
            {
                "to": "ops@example.com, sec@example.com",
                "from": "alerts@example.com",
                "smarthost": "smtp.example.com:587",
                "auth_username": "alerts@example.com",
                "auth_password": "s3cret",
                "require_tls": True,
                "send_resolved": True,
            }
        ],
    }
    assert slack["slack_configs"][0]["api_url"] == SEED_CHANNELS["slack"]["webhook_url"]
    assert slack["slack_configs"][0]["channel"] == "#alerts"
    config = tenant_config([email, slack])
    assert config["route"]["group_wait"] == "0s"
    assert config["route"]["routes"] == [
        {"receiver": "email", "continue": True},
        {"receiver": "slack", "continue": True},
    ]


def test_unknown_or_missing_channel_keys_are_refused_with_every_reason():
    with pytest.raises(ChannelsError) as exc:
        receivers_from_channels(
            {
                "email": {"enabled": True, "smtp_host": "mail", "smtp_prot": 25},
                "slack": {"enabled": True, "webhook_url": "not a url"},
                "pager": {"enabled": True},
            }
        )
    errors = exc.value.errors
    assert "email.smtp_prot: unknown key" in errors
    assert any(e.startswith("slack: ") for e in errors)
    assert any(e.startswith("pager: unknown channel") for e in errors)
    with pytest.raises(ChannelsError, match=r"email\.to_emails: required"):
        receivers_from_channels({"email": {"smtp_host": "mail"}})


def test_the_client_refuses_unknown_keys_and_names_what_it_could_not_reach():
    with pytest.raises(ValueError, match="unknown key notification_channel "):
        get_alerts_system({"notification_channel": {}})
    with pytest.raises(ClientError, match="ALERTSTREAM_URL"):
        get_alerts_system(
            {"notification_channels": SEED_CHANNELS},
        )
    system = get_alerts_system(
        {
            "broker": "kafka://127.0.0.1:9",
            "url": "http://127.0.0.1:9",
            "timeout": 1,
            "notification_channels": SEED_CHANNELS,
        }
    )
    alert = create_alert("DiskFull", "disk / is 97% full", tenant_id="acme")
    with pytest.raises(
        ClientError, match=r"could not reach the worker's API at http://127\.0\.0\.1:9"
    ):
        send_alert(alert)
    system.receivers = []  # no channels: the alert goes to the broker, which is not there
    assert send_alert(alert) is False
    assert system.last_error.startswith("the broker at kafka://127.0.0.1:9 did not take alerts")
