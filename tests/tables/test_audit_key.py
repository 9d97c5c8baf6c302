"""The audit signing key file: beside the pipelines file by default, created 0600 by
whichever of several processes starting together comes first (one key for all), and
public keys read from files that may hold several."""

from __future__ import annotations

import multiprocessing
import stat

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.settings import Settings
from models.audit.signing import key_id, public_pem
from tables.audit_key import key_path, load_or_create_key, load_public_keys, public_path
from tables.private_files import PrivateFileError


def _key_id_of(path, out) -> None:  # type: ignore[no-untyped-def]
    out.put(key_id(load_or_create_key(path).public_key()))


def test_beside_the_pipelines_file_unless_named(tmp_path):
    pipelines = str(tmp_path / "conf" / "pipelines.yaml")
    settings = Settings.from_env({"ALERTSTREAM_PIPELINES": pipelines})
    assert key_path(settings) == tmp_path / "conf" / "audit-signing.key"
    named = Settings.from_env({"ALERTSTREAM_PIPELINES": pipelines, "ALERTSTREAM_AUDIT_KEY": "/k"})
    assert str(key_path(named)) == "/k"


def test_processes_starting_together_create_one_key_0600(tmp_path):
    path = tmp_path / "conf" / "audit-signing.key"
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_key_id_of, args=(path, out)) for _ in range(4)]
    for p in procs:
        p.start()
    ids = [out.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(30)
    assert len(set(ids)) == 1, ids
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_id(load_or_create_key(path).public_key()) == ids[0]  # read, not replaced
    assert list(load_public_keys([public_path(path)])) == ids[:1]


def test_public_keys_from_several_files_each_holding_several(tmp_path):
    keys = [Ed25519PrivateKey.generate().public_key() for _ in range(3)]
    (tmp_path / "old.pub").write_bytes(public_pem(keys[0]) + b"\n" + public_pem(keys[1]))
    (tmp_path / "new.pub").write_bytes(public_pem(keys[2]))
    found = load_public_keys([tmp_path / "old.pub", tmp_path / "new.pub"])
    assert sorted(found) == sorted(key_id(k) for k in keys)
    (tmp_path / "empty.pub").write_bytes(b"nothing here")
    with pytest.raises(ValueError, match=r"empty\.pub: no PEM public key"):
        load_public_keys([tmp_path / "empty.pub"])
    with pytest.raises(PrivateFileError, match=r"missing\.pub: cannot read"):
        load_public_keys([tmp_path / "missing.pub"])


def test_a_broken_key_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "audit-signing.key"
    path.write_bytes(b"not a key")
    with pytest.raises(PrivateFileError, match=f"{path}:"):
        load_or_create_key(path)
