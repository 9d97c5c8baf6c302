"""Signed checkpoints: an Ed25519 signature over a tenant's Merkle tree head.

A checkpoint says "the tenant's log had ``size`` entries with this root at ``at``",
signed by the workers' audit key. A verifier holding the public key can then tell a
truncated log (fewer entries than a checkpoint it trusts) and a rewritten one (a root
that differs) from an intact one, even if the rewriter recomputed every chain hash.

The private key lives in one file shared by every worker (``tables/audit_key.py``);
its public key is written next to it as ``<file>.pub`` (PEM), for verifiers. A key id
(the first 16 hex digits of the SHA-256 of the raw public key) names the key in each
checkpoint, so keys can be rotated and old checkpoints verified.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from models.audit.entry import CHECKPOINT

CONTEXT = b"alertstream-audit-checkpoint/v1\n"
SIGNED_FIELDS = ("tenant", "size", "root", "at", "key")


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_key(pem: bytes, where: str) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{where}: not an Ed25519 private key")
    return key


def public_keys(pem: bytes, where: str) -> dict[str, Ed25519PublicKey]:
    """Key id -> key of every PEM public key in ``pem`` (one file may hold the keys of
    every signer a log has had, one after the other); ValueError if none, or one is
    not an Ed25519 key."""
    blocks = re.findall(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", pem, re.S)
    if not blocks:
        raise ValueError(f"{where}: no PEM public key")
    out = {}
    for n, block in enumerate(blocks, 1):
        key = serialization.load_pem_public_key(block)
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"{where}: key {n} is not an Ed25519 public key")
        out[key_id(key)] = key
    return out


def _message(cp: dict[str, Any]) -> bytes:
    return CONTEXT + orjson.dumps({k: cp[k] for k in SIGNED_FIELDS}, option=orjson.OPT_SORT_KEYS)


def sign_checkpoint(
    key: Ed25519PrivateKey, tenant: str, size: int, root: str, at: float
) -> dict[str, Any]:
    """A checkpoint record over a tree head, signed with ``key``."""
    cp: dict[str, Any] = {
        "kind": CHECKPOINT,
        "tenant": tenant,
        "size": size,
        "root": root,
        "at": at,
        "key": key_id(key.public_key()),
    }
    cp["sig"] = key.sign(_message(cp)).hex()
    return cp


def check_signature(cp: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> str | None:
    """Why ``cp`` is not a valid checkpoint under one of ``keys`` (by key id), or None."""
    try:
        message = _message(cp)
        signature = bytes.fromhex(cp["sig"])
    except (KeyError, TypeError, ValueError):
        return "malformed checkpoint"
    public = keys.get(cp["key"])
    if public is None:
        return f"signed by unknown key {cp['key']}"
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return "bad signature"
    return None
