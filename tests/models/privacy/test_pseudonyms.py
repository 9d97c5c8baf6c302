"""Pseudonyms: personal values out of alerts, back at delivery, gone after forgetting."""

from __future__ import annotations

import itertools

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.alerting.alert import Alert
from models.alerting.fingerprint import fingerprint
from models.privacy.pseudonyms import ERASED, TOKEN_RE, Pseudonyms, Subject


def counter_tokens() -> Pseudonyms:
    n = itertools.count(1)
    return Pseudonyms(["user", "email"], new_token=lambda: f"pii-{next(n):016x}")


def alert(tenant: str = "acme", **labels: str) -> Alert:
    return Alert(
        tenant,
        {"alertname": "LoginFailures", **labels},
        {"summary": f"failed logins for {labels.get('user', 'nobody')}"},
    )


def test_personal_values_become_one_token_per_subject_and_tenant() -> None:
    p = counter_tokens()
    a1, a2, b1, other = p.apply(
        [
            alert(user="alice@x.org", host="h1"),
            alert(user="alice@x.org", host="h2"),
            alert("beta", user="alice@x.org"),
            alert(user="bob"),
        ]
    )
    assert a1.labels["user"] == a2.labels["user"] == "pii-0000000000000001"
    assert b1.labels["user"] == "pii-0000000000000002"  # another tenant, another token
    assert other.labels["user"] == "pii-0000000000000003"
    assert a1.annotations["summary"] == "failed logins for pii-0000000000000001"
    assert a1.labels["host"] == "h1"
    assert a1.fingerprint == fingerprint(a1.labels)  # recomputed over the tokens
    assert p.fingerprints["pii-0000000000000001"] == {a1.fingerprint, a2.fingerprint}
    assert p.drain() == {"pii-0000000000000001", "pii-0000000000000002", "pii-0000000000000003"}
    assert p.drain() == set()
    # the same alert again: same token, same fingerprint, nothing new to store
    again = p.apply([alert(user="alice@x.org", host="h1")])[0]
    assert again.fingerprint == a1.fingerprint and p.drain() == set()


def test_alert_without_personal_labels_is_passed_on_unchanged() -> None:
    p = counter_tokens()
    a = Alert("acme", {"alertname": "HighCpu", "host": "h1"})
    assert p.apply([a])[0] is a
    assert len(p) == 0


def test_token_values_are_not_pseudonymised_twice() -> None:
    p = counter_tokens()
    first = p.apply([alert(user="alice")])[0]
    assert p.apply([first])[0].labels == first.labels


def test_reveal_bytes_puts_values_back_json_escaped_and_erased_ones_marked() -> None:
    p = counter_tokens()
    tokens = [
        p.token("acme", Subject("user", 'al"ice')),
        p.token("acme", Subject("email", "bob@x.org")),
    ]
    raw = orjson.dumps({"labels": {"user": tokens[0], "email": tokens[1]}})
    assert orjson.loads(p.reveal_bytes(raw)) == {"labels": {"user": 'al"ice', "email": "bob@x.org"}}
    assert p.forget(tokens[0]) == ("acme", Subject("user", 'al"ice'))
    assert orjson.loads(p.reveal_bytes(raw))["labels"]["user"] == "[erased]"
    assert p.tokens_of("acme", Subject("user", 'al"ice')) == []
    assert p.tokens_of("acme") == [tokens[1]]


@given(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8))
def test_reveal_inverts_apply(values: list[str]) -> None:
    p = Pseudonyms(["user"])
    out = p.apply([alert(user=v, n=str(i)) for i, v in enumerate(values)])
    assert all(TOKEN_RE.fullmatch(a.labels["user"]) for a in out)
    assert [orjson.loads(p.reveal_bytes(orjson.dumps(a.labels)))["user"] for a in out] == values
    assert len({a.labels["user"] for a in out}) == len(set(values))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("user=alice@x.org", Subject("user", "alice@x.org")),
        ('email="a@b"', Subject("email", "a@b")),
    ],
)
def test_subject_parse(text: str, expected: Subject) -> None:
    assert Subject.parse(text) == expected
    assert str(expected) == f"{expected.label}={expected.value}"


@pytest.mark.parametrize("text", ["alice", "=alice", "user=", ""])
def test_subject_parse_says_what_is_wrong(text: str) -> None:
    with pytest.raises(ValueError, match="LABEL=VALUE"):
        Subject.parse(text)


def test_an_alert_from_before_an_erasure_gets_no_new_pseudonym() -> None:
    erasures = {("acme", Subject("user", "alice")): 100.0}

    def erased_since(tenant: str, subject: Subject, started: float) -> bool:
        at = erasures.get((tenant, subject))
        return at is not None and started <= at

    p = Pseudonyms(["user"], erased_since=erased_since)
    replayed = Alert("acme", {"alertname": "A", "user": "alice"}, {"s": "for alice"}, starts_at=90)
    later = Alert("acme", {"alertname": "A", "user": "alice"}, starts_at=110)
    other = Alert("beta", {"alertname": "A", "user": "alice"}, starts_at=90)
    out = p.apply([replayed, later, other])
    assert out[0].labels["user"] == ERASED and out[0].annotations == {"s": "for [erased]"}
    assert TOKEN_RE.fullmatch(out[1].labels["user"])  # started after: a new record
    assert TOKEN_RE.fullmatch(out[2].labels["user"])  # another tenant's Alice
    assert p.tokens_of("acme") == [out[1].labels["user"]]
    assert p.apply([out[0]])[0] is out[0]
