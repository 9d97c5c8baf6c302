"""TOTP codes (RFC 6238) for local users' second factor at login.

A code is accepted one 30-second step either side of now (phones drift), and a code,
once accepted, cannot be used again by the same user: an observer who reads it over
a shoulder or from a log is one step too late.  The memory of used steps is this
worker's; a code replayed at another worker within its 90 seconds is not caught.
"""

from __future__ import annotations

import base64
import hmac
import time
from collections.abc import Callable

import pyotp


class TotpCheck:
    """Verifies a user's code against their secret (base32), once per time step."""

    def __init__(self, skew: int = 1, clock: Callable[[], float] = time.time):
        self.skew = skew
        self.clock = clock
        self.last_step: dict[str, int] = {}  # user -> the newest step a code was used for

    def verify(self, user: str, secret: str, code: str) -> bool:
        totp = pyotp.TOTP(secret)
        now = int(self.clock())
        step = now // totp.interval
        for offset in range(-self.skew, self.skew + 1):
            candidate = step + offset
            if candidate <= self.last_step.get(user, -1):
                continue
            if hmac.compare_digest(totp.at(candidate * totp.interval), code.strip()):
                self.last_step[user] = candidate
                return True
        return False


def check_secret(secret: str) -> str | None:
    """Why ``secret`` cannot be a TOTP secret, None if it can (base32, at least 80 bits)."""
    try:
        raw = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    except ValueError:  # binascii.Error
        return "a TOTP secret is base32 (pyotp.random_base32())"
    if len(raw) < 10:
        return "a TOTP secret needs at least 80 bits (16 base32 characters)"
    return None
