"""Envelope encryption's record format: AES-256-GCM ciphertexts that name their keys.

A sealed value is self-describing, so a reader years later knows which keys it needs
and whether it is sealed at all (JSON never starts with byte 0x01)::

    0x01 | len(kek id) | kek id | len(data key id) | data key id | nonce (12) | ciphertext+tag

The key-encryption key (KEK) id is the one that wrapped the data key when the value
was sealed (after a rotation the data key is wrapped by a newer one: the id says what
the value was written under, for ``keys status``).  The associated data is the header
plus the context (tenant, and subject reference when the key is a subject's), so a
tampered header, body or a value moved to another tenant's context fails to open::

    >>> key = bytes(32)
    >>> blob = seal(key, "kek-1", "dk-1", b"secret", context("acme"))
    >>> header(blob)
    Header(kek_id='kek-1', data_key_id='dk-1')
    >>> open_sealed(key, blob, context("acme"))
    b'secret'

The same format wraps data keys under a KEK (``wrap``/``unwrap``), with its own context.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = 1
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce; random per value (fine well below 2**32 per key)
MAX_ID = 255


class SealError(ValueError):
    """A value that is not a sealed value of a version we read, or fails authentication
    (tampered, truncated, wrong key or wrong context)."""


@dataclass(frozen=True, slots=True)
class Header:
    kek_id: str
    data_key_id: str


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def is_sealed(raw: bytes | None) -> bool:
    """Whether ``raw`` is a sealed value (rather than JSON, text or nothing)."""
    return bool(raw) and raw[0] == VERSION  # type: ignore[index]


def context(tenant: str, subject_ref: str = "") -> bytes:
    """The associated data naming whose value it is (length-prefixed: unambiguous)."""
    t, s = tenant.encode(), subject_ref.encode()
    return len(t).to_bytes(4, "big") + t + len(s).to_bytes(4, "big") + s


def _id_bytes(name: str, value: str) -> bytes:
    raw = value.encode()
    if not raw or len(raw) > MAX_ID:
        raise ValueError(f"{name} must be 1..{MAX_ID} bytes, got {len(raw)}")
    return bytes([len(raw)]) + raw


def _split(blob: bytes) -> tuple[Header, bytes, bytes, bytes]:
    """(header, the header's bytes, nonce, ciphertext) of a sealed value."""
    if not is_sealed(blob):
        raise SealError("not a sealed value (unknown version byte)")
    try:
        at = 1
        ids = []
        for _ in range(2):
            n = blob[at]
            ids.append(blob[at + 1 : at + 1 + n].decode())
            at += 1 + n
    except (IndexError, UnicodeDecodeError) as exc:
        raise SealError("sealed value truncated or malformed") from exc
    nonce, body = blob[at : at + NONCE_BYTES], blob[at + NONCE_BYTES :]
    if len(nonce) < NONCE_BYTES or len(body) < 16:
        raise SealError("sealed value truncated")
    return Header(ids[0], ids[1]), blob[:at], nonce, body


def header(blob: bytes) -> Header:
    """The key ids a sealed value names (no key needed)."""
    return _split(blob)[0]


def seal(key: bytes, kek_id: str, data_key_id: str, plaintext: bytes, ctx: bytes) -> bytes:
    """``plaintext`` encrypted under ``key`` (the data key), bound to ``ctx``."""
    head = bytes([VERSION]) + _id_bytes("kek id", kek_id) + _id_bytes("data key id", data_key_id)
    nonce = os.urandom(NONCE_BYTES)
    return head + nonce + AESGCM(key).encrypt(nonce, plaintext, head + ctx)


def open_sealed(key: bytes, blob: bytes, ctx: bytes) -> bytes:
    """The plaintext of ``blob``; SealError if anything of it or ``ctx`` differs."""
    _, head, nonce, body = _split(blob)
    try:
        return AESGCM(key).decrypt(nonce, body, head + ctx)
    except InvalidTag as exc:
        raise SealError(
            "sealed value fails authentication (tampered, or wrong key or context)"
        ) from exc


def wrap_context(tenant: str, subject_ref: str, data_key_id: str) -> bytes:
    """The associated data of a wrapped data key: whose key it is, and its id."""
    return b"data-key:" + context(tenant, subject_ref) + data_key_id.encode()


def wrap(kek: bytes, kek_id: str, data_key_id: str, data_key: bytes, ctx: bytes) -> bytes:
    """A data key encrypted under a KEK (the same format as a sealed value)."""
    return seal(kek, kek_id, data_key_id, data_key, ctx)


def unwrap(kek: bytes, wrapped: bytes, ctx: bytes) -> bytes:
    key = open_sealed(kek, wrapped, ctx)
    if len(key) != KEY_BYTES:
        raise SealError("wrapped data key has the wrong length")
    return key
