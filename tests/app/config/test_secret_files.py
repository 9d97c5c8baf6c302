"""Alertmanager's ``*_file`` secrets: read from files beside the config (relative paths)
or anywhere (absolute), never from a config posted to the API; errors name file, line
and key."""

from __future__ import annotations

import pytest

from app.config.loader import ConfigError, load_file, load_text
from app.config.tenants import load_all

RECEIVERS = """
route: {receiver: all}
receivers:
  - name: all
    webhook_configs:
      - url_file: secrets/hook_url
        http_config:
          basic_auth: {username: ops, password_file: secrets/password}
    slack_configs:
      - api_url_file: secrets/slack_url
    pagerduty_configs:
      - routing_key_file: secrets/routing_key
        http_config:
          authorization: {credentials_file: secrets/token}
    email_configs:
      - to: oncall@example.org
        from: am@example.org
        smarthost: smtp.example.org:587
        auth_password_file: ABSOLUTE
    msteamsv2_configs:
      - webhook_url_file: secrets/teams_url
    twilio_configs:
      - account_sid: AC1
        auth_token_file: secrets/token
        from: "+15550000000"
        to: "+15551111111"
"""
SECRETS = {
    "hook_url": "https://hooks.example.org/T0/B0/s3cret\n",
    "password": "  hunter2\n",
    "slack_url": "https://hooks.slack.com/services/T0/B0/X\n",
    "routing_key": "R0UT1NG\n",
    "token": "t0ken\n",
    "teams_url": "https://example.webhook.office.com/x\n",
    "smtp": "smtp-pass",
}


@pytest.fixture
def config_dir(tmp_path):
    (tmp_path / "secrets").mkdir()
    for name, value in SECRETS.items():
        (tmp_path / "secrets" / name).write_text(value)
    text = RECEIVERS.replace("ABSOLUTE", str(tmp_path / "secrets" / "smtp"))
    (tmp_path / "pipelines.yaml").write_text(text)
    return tmp_path


def test_every_integration_reads_its_secrets_from_files(config_dir):
    [r] = load_file(config_dir / "pipelines.yaml").receivers
    secret = lambda s: s.get_secret_value()  # noqa: E731
    hook = r.webhook_configs[0]
    assert secret(hook.url) == "https://hooks.example.org/T0/B0/s3cret"
    assert secret(hook.http_config.basic_auth.password) == "hunter2"  # whitespace stripped
    assert secret(r.slack_configs[0].api_url) == "https://hooks.slack.com/services/T0/B0/X"
    pd = r.pagerduty_configs[0]
    assert (pd.key(), secret(pd.http_config.authorization.credentials)) == ("R0UT1NG", "t0ken")
    assert secret(r.email_configs[0].auth_password) == "smtp-pass"
    assert secret(r.msteamsv2_configs[0].webhook_url) == "https://example.webhook.office.com/x"
    assert secret(r.twilio_configs[0].auth_token) == "t0ken"
    assert "s3cret" not in repr(r)


def test_tenant_files_read_secret_files_beside_them(config_dir):
    (config_dir / "acme.yaml").write_text(
        RECEIVERS.split("receivers:")[0] + "receivers:\n"
        "  - name: all\n    webhook_configs:\n      - url_file: secrets/hook_url\n"
    )
    base = config_dir / "pipelines.yaml"
    base.write_text(base.read_text() + "tenant_files: {acme: acme.yaml}\n")
    _, tenants = load_all(base)
    hook = tenants["acme"][1].receivers[0].webhook_configs[0]
    assert hook.url.get_secret_value().endswith("/s3cret")


def test_errors_name_the_file_line_and_key(config_dir):
    bad = config_dir / "bad.yaml"
    bad.write_text(
        "route: {receiver: a}\n"
        "receivers:\n"
        "  - name: a\n"
        "    webhook_configs:\n"
        "      - url_file: secrets/missing\n"
        "      - url: https://x.example.org/\n"
        "        url_file: secrets/hook_url\n"
        "      - url_file: secrets/password\n"
        "      - url: https://x.example.org/\n"
        "        token_file: secrets/token\n"
    )
    with pytest.raises(ConfigError) as err:
        load_file(bad)
    assert err.value.errors == [
        f"{bad}:5: receivers[0].webhook_configs[0]: url_file: cannot read "
        f"{config_dir}/secrets/missing: No such file or directory",
        f"{bad}:6: receivers[0].webhook_configs[1]: at most one of url and url_file",
        # the file's content is checked as the field would be
        f"{bad}:8: receivers[0].webhook_configs[2]: expected an http(s) URL",
        f"{bad}:10: receivers[0].webhook_configs[3].token_file: unknown key",
    ]


def test_a_config_posted_to_the_api_cannot_read_the_workers_files(config_dir):
    with pytest.raises(ConfigError) as err:
        load_text((config_dir / "pipelines.yaml").read_text(), "tenant acme")
    assert (
        "tenant acme:6: receivers[0].webhook_configs[0]: url_file: a config posted"
        in (err.value.errors[0])
    )
