"""API tokens and basic auth passwords: what is stored, what authenticates, what not."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.access.passwords import PasswordCheck, check_hash, hash_password, verify_password
from models.access.principal import CredentialRefused
from models.access.tokens import PREFIX, TokenRecord, TokenStore, check_roles, new_token

FAST = {"n": 16, "r": 1, "p": 1}  # the same code path as the default cost, for speed


def test_a_token_is_stored_as_its_hash_and_authenticates_until_revoked() -> None:
    token, record = new_token({"acme": "viewer"}, now=100.0, name="grafana")
    assert token.startswith(PREFIX + record.id + "_")
    assert token not in record.to_wire().decode()  # the secret is never stored
    store = TokenStore()
    store.apply(record.id.encode(), record.to_wire())
    principal = store.authenticate(token, now=200.0)
    assert principal is not None
    assert (principal.id, principal.roles) == (f"token:{record.id}", {"acme": "viewer"})
    # a token of the same id with another secret, or any other string, is not it
    assert store.authenticate(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), 200.0) is None
    assert store.authenticate("ast_" + record.id, 200.0) is None
    assert store.authenticate("Bearer " + token, 200.0) is None
    store.apply(record.id.encode(), None)  # the tombstone `token revoke` writes
    assert store.authenticate(token, 200.0) is None


def test_an_expired_token_is_refused_with_the_reason() -> None:
    token, record = new_token({"*": "admin"}, now=0.0, expires=60.0)
    store = TokenStore()
    store.apply(record.id.encode(), record.to_wire())
    assert store.authenticate(token, 59.0) is not None
    with pytest.raises(CredentialRefused, match="expired"):
        store.authenticate(token, 60.0)


def test_records_read_back_from_the_wire_and_bad_ones_are_refused() -> None:
    _, record = new_token({"a": "editor", "b": "viewer"}, now=5.0, name="ci", expires=99.0)
    assert TokenRecord.from_wire(record.to_wire()) == record
    for raw, reason in [
        (b"{", "not JSON"),
        (b"[]", "JSON object"),
        (b'{"id": "x", "sha256": "y", "roles": {}}', "at least one"),
        (b'{"id": "x", "sha256": "y", "roles": {"a": "root"}}', "unknown role"),
        (b'{"roles": {"a": "viewer"}}', "id: required"),
    ]:
        with pytest.raises(ValueError, match=reason):
            TokenRecord.from_wire(raw)
    assert check_roles({"*": "admin", "t": "producer"}) == []


def test_passwords_hash_with_a_fresh_salt_and_verify() -> None:
    one, two = hash_password("hunter2", **FAST), hash_password("hunter2", **FAST)
    assert one != two and "hunter2" not in one
    assert check_hash(one) is None
    assert verify_password("hunter2", one) and not verify_password("hunter3", one)
    assert check_hash("hunter2") and check_hash("scrypt$15$8$1$00$00")  # n not a power of 2
    assert not verify_password("hunter2", "plain:hunter2")


def test_the_password_check_remembers_only_what_verified() -> None:
    encoded = hash_password("pw", **FAST)
    check = PasswordCheck(size=2)
    assert not check("u", "wrong", encoded)
    assert check("u", "pw", encoded) and check("u", "pw", encoded)
    assert not check("u", "pw", hash_password("other", **FAST))  # a changed hash misses
    for i in range(3):  # bounded: old entries make room
        check(f"u{i}", "pw", encoded)
    assert len(check._good) == 2


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_any_password_verifies_only_itself(password: str) -> None:
    encoded = hash_password(password, **FAST)
    assert verify_password(password, encoded)
    assert not verify_password(password + "x", encoded)
