"""Which topics get which retention.ms: the configured ones, and the audit topics kept
for good whatever the file says (a retention for them is a config error)."""

from __future__ import annotations

import pytest

from agents.retention import FOREVER, topic_retention
from app.config.data_protection import RetentionConfig
from app.config.loader import ConfigError, load_text

BASE = """
route: {receiver: ops}
receivers: [{name: ops, webhook_configs: [{url: "http://127.0.0.1:9/ops"}]}]
"""


def test_the_audit_topics_are_kept_for_good_and_others_as_configured():
    assert topic_retention(RetentionConfig(), "p.") == {
        "p.audit": FOREVER,
        "p.audit.checkpoints": FOREVER,
    }
    wanted = topic_retention(RetentionConfig(dead_letters=3600, inputs=60), "")
    assert wanted["audit"] == wanted["audit.checkpoints"] == FOREVER
    assert (wanted["dlq"], wanted["alerts"], wanted["metrics"]) == (3600, 60, 60)
    assert "history" not in wanted


def test_a_retention_for_the_audit_log_is_refused_naming_file_line_and_key():
    text = BASE + "retention:\n  dead_letters: 1d\n  audit: 30d\n"
    with pytest.raises(ConfigError) as exc:
        load_text(text, "p.yaml", {})
    [error] = exc.value.errors
    assert error.startswith("p.yaml:6: retention.audit: ")
    assert "kept for good" in error and "audit export" in error
