"""The keyring file: created 0600 on first use, shared by processes (one re-reads what
another rotated), rotated once per interval under its lock, errors naming the file."""

from __future__ import annotations

import stat

import pytest

from models.protection.keyring import KeyringReadOnly
from tables.keys import EnvKeyring, KeyringError, KeyringFile


def test_created_0600_on_first_use_and_read_back_unchanged(tmp_path):
    path = tmp_path / "conf" / "keyring.json"
    first = KeyringFile(path).load()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyringFile(path).load() == first  # another process: the same keys


def test_a_rotation_by_one_process_is_seen_by_the_others(tmp_path):
    path = tmp_path / "keyring.json"
    worker, cli = KeyringFile(path), KeyringFile(path)
    before = worker.load()
    rotated = cli.rotate(now=before.current.created + 10)
    assert rotated is not None and len(rotated.keks) == 2
    assert worker.load().current == rotated.current  # re-read: the file changed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keyring.json", "keyring.json.lock"]


def test_scheduled_rotation_only_when_the_current_kek_is_old_enough(tmp_path):
    a, b = KeyringFile(tmp_path / "k.json"), KeyringFile(tmp_path / "k.json")
    created = a.load().current.created
    assert a.rotate(created + 50, older_than=100) is None
    assert a.rotate(created + 150, older_than=100) is not None
    assert b.rotate(created + 151, older_than=100) is None  # b sees a's fresh KEK
    assert len(b.load().keks) == 2


def test_retire_keeps_only_the_current_kek_and_refuses_if_it_changed(tmp_path):
    f = KeyringFile(tmp_path / "k.json")
    old = f.load().current.id
    new = f.rotate(now=1e10).current.id
    with pytest.raises(ValueError, match="no longer the current"):
        f.retire(old)
    assert [k.id for k in f.retire(new).keks] == [new]


def test_a_broken_keyring_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "keyring.json"
    path.write_text("{not json")
    with pytest.raises(KeyringError, match=f"{path}: not a keyring"):
        KeyringFile(path).load()
    with pytest.raises(KeyringError, match="ALERTSTREAM_KEYRING_JSON: not a keyring"):
        EnvKeyring("[]")


def test_a_keyring_from_the_environment_cannot_be_rotated(tmp_path):
    text = KeyringFile(tmp_path / "k.json").load().to_json().decode()
    env = EnvKeyring(text)
    assert env.load().current.id in text
    with pytest.raises(KeyringReadOnly, match="ALERTSTREAM_KEYRING_JSON"):
        env.rotate(0.0)
    with pytest.raises(KeyringReadOnly):
        env.retire(env.load().current.id)
