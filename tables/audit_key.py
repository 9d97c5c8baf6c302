"""The audit checkpoint signing key: one file for every worker of the pipeline.

By default ``audit-signing.key`` beside the pipelines file, as ``keyring.json`` is
(``ALERTSTREAM_AUDIT_KEY`` names another), so every worker started with the same
pipelines file signs with one key and a verifier needs one public key.  Whichever
process needs it first creates it (mode 0600, under a lock: ``tables/private_files.py``);
``<file>.pub`` beside it holds the public key, for ``alertstream audit verify``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.settings import Settings
from models.audit.signing import private_key, private_pem, public_keys, public_pem
from tables.private_files import PrivateFileError, create_once, write_private

log = logging.getLogger(__name__)

NAME = "audit-signing.key"


def key_path(settings: Settings) -> Path:
    return Path(settings.audit_key) if settings.audit_key else settings.pipelines.parent / NAME


def public_path(path: Path) -> Path:
    return path.with_name(path.name + ".pub")


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The signing key in ``path`` (PEM, PKCS#8), created 0600 if it does not exist;
    ``<path>.pub`` holds its public key.  PrivateFileError naming the file otherwise."""
    if create_once(path, lambda: private_pem(Ed25519PrivateKey.generate())):
        log.warning("created the audit signing key %s (mode 0600)", path)
    try:
        key = private_key(path.read_bytes(), str(path))
    except (OSError, ValueError) as exc:
        raise PrivateFileError(f"{path}: {exc}") from None
    pub, pem = public_path(path), public_pem(key.public_key())
    if not pub.exists() or pub.read_bytes() != pem:
        write_private(pub, pem)
    return key


def load_public_keys(paths: list[Path]) -> dict[str, Ed25519PublicKey]:
    """Key id -> key of every public key in the files (each may hold several)."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in paths:
        try:
            keys.update(public_keys(path.read_bytes(), str(path)))
        except OSError as exc:
            raise PrivateFileError(f"{path}: cannot read: {exc.strerror}") from None
    return keys
