"""The escalation views' request checks: every reason a body is refused, named at once."""

from __future__ import annotations

from app.escalation_api import command_from

NOW = 1_700_000_000.0
KEY = '{}:{alertname="X"}'


def test_a_good_reassign_becomes_one_command_with_an_id():
    cmd = command_from("reassign", KEY, {"to": "bob", "user": "ada", "why": "db"}, "acme", NOW)
    assert isinstance(cmd, dict)
    assert {k: cmd[k] for k in ("op", "tenant", "group_key", "to", "user", "why")} == {
        "op": "reassign",
        "tenant": "acme",
        "group_key": KEY,
        "to": "bob",
        "user": "ada",
        "why": "db",
    }
    assert len(cmd["id"]) == 32


def test_every_reason_is_listed():
    assert command_from("reassign", KEY, {}, None, NOW) == [
        "tenant: required (body, X-Scope-OrgID header or ?tenant=)",
        "to: required (the user or receiver to reassign to)",
    ]
    body = {"tenant": "acme", "until": NOW - 1, "duration": -5}
    assert command_from("snooze", KEY, body, None, NOW) == [
        "until: must be in the future",
        "duration: a positive number of seconds",
    ]
    assert command_from("ack", KEY, [1], "acme", NOW) == ["body: expected a JSON object"]
