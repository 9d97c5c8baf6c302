"""Signed checkpoints: an Ed25519 signature over a tenant's Merkle tree head.

A checkpoint says "the tenant's log had ``size`` entries with this root at ``at``",
signed by the workers' audit key. A verifier holding the public key can then tell a
truncated log (fewer entries than a checkpoint it trusts) and a rewritten one (a root
that differs) from an intact one, even if the rewriter recomputed every chain hash.

The private key lives in one file, created with mode 0600 on first use (by whichever
worker needs it first: the file is linked into place atomically, so concurrent first
uses agree on one key); its public key is written next to it as ``<file>.pub`` (PEM),
for verifiers. A key id (the first 16 hex digits of the SHA-256 of the raw public key)
names the key in each checkpoint, so keys can be rotated and old checkpoints verified.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
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


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The signing key in ``path`` (PEM, PKCS#8), created 0600 if it does not exist;
    ``<path>.pub`` holds the public key."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        try:
            os.link(tmp, path)  # fails if another process created the key first
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    pub = path.with_name(path.name + ".pub")
    pem = public_pem(key.public_key())
    if not pub.exists() or pub.read_bytes() != pem:
        pub.write_bytes(pem)
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key


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
