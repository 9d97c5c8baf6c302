"""Password hashes for HTTP basic auth users: scrypt, salted, never the plain text.

A password is low-entropy, so its hash must be slow to brute-force: scrypt with
n=2**14, r=8, p=1 (about 16 MiB and tens of milliseconds). The encoded form is
``scrypt$n$r$p$salt_hex$hash_hex``, so the cost can be raised later without breaking
stored hashes. Prometheus sends the same password with every request; a verified
(user, password, hash) triple is remembered by its SHA-256 so the cost is paid once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "scrypt"
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    """The encoded scrypt hash of ``password`` with a fresh salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 << 20)
    return f"{SCHEME}${n}${r}${p}${salt.hex()}${digest.hex()}"


def check_hash(encoded: str) -> str | None:
    """Why ``encoded`` is not a hash ``hash_password`` made, None if it is one."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        return "expected scrypt$n$r$p$salt$hash (from `alertstream hash-password`)"
    try:
        n, r, p = (int(x) for x in parts[1:4])
        bytes.fromhex(parts[4])
        bytes.fromhex(parts[5])
    except ValueError:
        return "n, r, p must be integers and salt, hash hex"
    if n < 2 or n & (n - 1) or r < 1 or p < 1:
        return "n must be a power of two > 1, r and p positive"
    return None


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded`` (False for a malformed hash)."""
    if check_hash(encoded):
        return False
    _, n, r, p, salt, expected = encoded.split("$")
    digest = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), maxmem=64 << 20
    )
    return hmac.compare_digest(digest.hex(), expected)


class PasswordCheck:
    """``verify_password`` that remembers what it verified (a bounded set of digests
    of user, password and hash; a changed password or hash misses it)."""

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._good: dict[str, None] = {}

    def __call__(self, user: str, password: str, encoded: str) -> bool:
        key = hashlib.sha256(f"{user}\0{password}\0{encoded}".encode()).hexdigest()
        if key in self._good:
            return True
        if not verify_password(password, encoded):
            return False
        if len(self._good) >= self.size:
            self._good.pop(next(iter(self._good)))
        self._good[key] = None
        return True
