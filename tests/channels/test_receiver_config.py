from pathlib import Path

import pytest
from conftest import make_notification

from app.config.receivers import Receiver
from channels.registry import CHANNELS
from channels.templating import check_template

ROOT = Path(__file__).resolve().parents[2]

ALERTMANAGER_BLOCK = {
    "name": "team-x",
    "email_configs": [
        {
            "to": "team-x@example.org",
            "from": "am@example.org",
            "smarthost": "smtp.example.org:587",
            "auth_username": "am",
            "auth_password": "pw",
            "require_tls": True,
        }
    ],
    "slack_configs": [
        {
            "api_url": "https://hooks.slack.com/services/T/B/X",
            "channel": "#alerts",
            "send_resolved": True,
        }
    ],
    "pagerduty_configs": [
        {"routing_key": "0123456789abcdef0123456789abcdef", "severity": "critical"}
    ],
    "webhook_configs": [{"url": "http://127.0.0.1:5001/", "max_alerts": 10}],
    "sns_configs": [
        {"topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts", "sigv4": {"region": "us-east-1"}}
    ],
    "msteamsv2_configs": [{"webhook_url": "https://example.webhook.office.com/x"}],
}


def test_channels_is_the_package_and_lists_every_integration():
    """tests/channels must not shadow the package (pytest's ``pythonpath = ["."]`` puts the
    project root on sys.path), and the registry needs no import order to be complete."""
    import channels

    assert Path(channels.__file__).resolve() == ROOT / "channels" / "__init__.py"
    assert sorted(CHANNELS) == [
        "email",
        "msteams",
        "msteamsv2",
        "pagerduty",
        "slack",
        "sns",
        "twilio",
        "webhook",
    ]


def test_every_registered_channel_has_a_receiver_field():
    for kind, cls in CHANNELS.items():
        assert cls.config_key in Receiver.model_fields, kind
        assert Receiver.model_fields[cls.config_key].annotation == list[cls.Config]


def test_an_alertmanager_receiver_pastes_in():
    rx = Receiver.model_validate(ALERTMANAGER_BLOCK)
    kinds = [(k, i) for k, i, _ in rx.integrations()]
    assert kinds == [
        ("webhook", 0),
        ("email", 0),
        ("slack", 0),
        ("msteamsv2", 0),
        ("pagerduty", 0),
        ("sns", 0),
    ]
    assert "auth_password=SecretStr('**********')" in repr(rx)


def test_typos_and_unsupported_integrations_are_errors():
    with pytest.raises(ValueError, match="Extra inputs"):
        Receiver.model_validate({"name": "x", "webhook_config": [{"url": "http://a"}]})
    with pytest.raises(ValueError, match="opsgenie_configs: this Alertmanager integration"):
        Receiver.model_validate({"name": "x", "opsgenie_configs": [{"api_key": "k"}]})
    with pytest.raises(ValueError, match="url is required"):
        Receiver.model_validate({"name": "x", "webhook_configs": [{}]})


def test_template_errors_are_reported_with_the_line():
    with pytest.raises(ValueError, match="line 2"):
        check_template("ok\n{% for x in %}")
    check_template("{{ commonLabels.alertname }} {{ alerts|length }}")


def test_user_templates_see_the_payload_fields():
    from channels.templating import context, render_string

    n = make_notification()
    out = render_string(
        "{{ receiver }} {{ status }} {{ tenant }} {{ groupLabels.alertname }} "
        "{{ commonAnnotations.runbook_url }} {{ externalURL }} {{ alerts|length }} "
        "{{ commonLabels.missing }}",
        context(n),
    )
    assert (
        out == "ops firing acme HighCPU https://runbooks.example/cpu http://alertstream.example 1"
    )


def test_sandbox_blocks_unsafe_attribute_access():
    from channels.templating import TemplateRenderError, context, render_string

    with pytest.raises(TemplateRenderError):
        render_string(
            "{{ alerts.__class__.__mro__ }}{{ ''.__class__.__subclasses__() }}",
            context(make_notification()),
        )
