"""The producer API round trip: create_alert / send_alert reach a webhook through a worker."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from conftest import ROOT, read_topic

from app.client import AlertSeverity, get_alerts_system, security_config

PIPELINES = """
route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}
receivers: [{name: hook, webhook_configs: [{url: "${HOOK}"}]}]
"""


async def test_create_and_send_alert_round_trip(make_worker, receiver, broker):
    worker = make_worker(PIPELINES, {"HOOK": receiver.url})
    worker.start()
    await worker.ready()
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
    [payload] = await receiver.wait_for(1, timeout=30)
    [got] = payload["alerts"]
    assert got["labels"] == {
        "alertname": "DiskFull",
        "host": "db-1",
        "severity": "high",
        "tenant": "acme",
    }
    assert got["annotations"] == {"description": "disk / is 97% full"}
    assert got["fingerprint"] == alert.fingerprint
    assert payload["tenant"] == "acme" and payload["status"] == "firing"


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
