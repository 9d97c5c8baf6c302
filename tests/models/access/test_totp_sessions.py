"""TOTP codes (skew, one use each), session tokens and which roles need MFA."""

from __future__ import annotations

import time

import jwt
import pyotp
import pytest

from models.access.mfa import MfaPolicy
from models.access.principal import Principal
from models.access.sessions import SessionError, Sessions, is_session
from models.access.totp import TotpCheck, check_secret

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DP"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_totp_accepts_one_step_of_skew_and_each_code_once() -> None:
    totp = pyotp.TOTP(SECRET)
    clock = Clock(1_700_000_000.0)
    check = TotpCheck(clock=clock)
    assert check.verify("ann", SECRET, totp.at(clock.now - 30))  # the phone is behind
    assert not check.verify("ann", SECRET, totp.at(clock.now - 30))  # replayed
    assert not check.verify("ann", SECRET, totp.at(clock.now - 60))  # older than the used one
    assert check.verify("ann", SECRET, totp.at(clock.now))
    assert check.verify("bob", SECRET, totp.at(clock.now))  # another user's own memory
    assert not check.verify("cat", SECRET, totp.at(clock.now + 90))  # too far ahead
    assert not check.verify("cat", SECRET, "000000" if totp.at(clock.now) != "000000" else "1")


def test_totp_secret_check() -> None:
    assert check_secret(SECRET) is None
    assert check_secret(pyotp.random_base32()) is None
    assert "base32" in (check_secret("not base32!") or "")
    assert "80 bits" in (check_secret("JBSWY3DP") or "")


def test_session_round_trip_and_refusals() -> None:
    sessions = Sessions(b"k" * 32, ttl=60)
    token, _ = sessions.issue("ann", mfa=True)
    assert is_session(token)
    checked = sessions.check(token)
    assert (checked.user, checked.mfa) == ("ann", True)
    assert abs(checked.expires - (time.time() + 60)) < 5
    with pytest.raises(SessionError):
        Sessions(b"x" * 32).check(token)  # another key
    expired, _ = Sessions(b"k" * 32, ttl=60, clock=lambda: time.time() - 120).issue("ann", True)
    with pytest.raises(SessionError, match="expired"):
        sessions.check(expired)
    foreign = jwt.encode(
        {"iss": "https://idp", "aud": "alertstream-session", "sub": "ann", "exp": time.time() + 9},
        b"k" * 32,
        algorithm="HS256",
    )
    assert not is_session(foreign)
    with pytest.raises(SessionError, match=r"(?i)issuer"):
        sessions.check(foreign)
    assert not is_session("ast_0123abcd_secret")


@pytest.mark.parametrize(
    ("roles", "mfa", "tenant", "missing"),
    [
        ({"*": "admin"}, False, "a", "admin"),
        ({"*": "admin"}, True, "a", None),
        ({"a": "viewer", "*": "admin"}, False, "a", None),  # acts as viewer on a
        ({"a": "viewer", "*": "admin"}, False, "b", "admin"),
        ({"a": "viewer", "b": "admin"}, False, None, "admin"),  # tenant-less: every role
        ({"a": "viewer"}, False, None, None),
        ({}, False, "a", None),
    ],
)
def test_mfa_policy(roles: dict[str, str], mfa: bool, tenant: str | None, missing: str) -> None:
    policy = MfaPolicy(frozenset({"admin", "editor"}))
    assert policy.missing(Principal("p", roles, mfa), tenant) == missing
    assert MfaPolicy().missing(Principal("p", roles, mfa), tenant) is None
