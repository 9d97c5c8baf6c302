"""The sealed-value format: round trip, tamper evidence, context binding, key ids."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.protection import envelope
from models.protection.envelope import SealError

KEY = bytes(range(32))
OTHER = bytes(32)


@given(st.binary(max_size=2048), st.text(min_size=1, max_size=40), st.text(max_size=40))
def test_round_trip_for_any_plaintext_and_context(plaintext, tenant, subject):
    ctx = envelope.context(tenant, subject)
    blob = envelope.seal(KEY, "kek-a", "dk-1", plaintext, ctx)
    assert envelope.is_sealed(blob)
    assert envelope.header(blob) == envelope.Header("kek-a", "dk-1")
    assert envelope.open_sealed(KEY, blob, ctx) == plaintext
    assert plaintext not in blob or len(plaintext) < 4


@given(st.data())
def test_any_flipped_byte_fails_to_open(data):
    ctx = envelope.context("acme")
    blob = envelope.seal(KEY, "kek-a", "dk-1", b"password=hunter2", ctx)
    at = data.draw(st.integers(1, len(blob) - 1))  # byte 0 is the version: its own error
    bit = data.draw(st.integers(0, 7))
    tampered = blob[:at] + bytes([blob[at] ^ (1 << bit)]) + blob[at + 1 :]
    with pytest.raises(SealError):
        envelope.open_sealed(KEY, tampered, ctx)


def test_truncated_wrong_key_and_wrong_context_fail():
    ctx = envelope.context("acme", "ref")
    blob = envelope.seal(KEY, "kek-a", "dk-1", b"x", ctx)
    for bad in (blob[:-1], blob[:20], blob[:3], b"\x01"):
        with pytest.raises(SealError):
            envelope.open_sealed(KEY, bad, ctx)
    with pytest.raises(SealError):
        envelope.open_sealed(OTHER, blob, ctx)
    with pytest.raises(SealError, match="authentication"):
        envelope.open_sealed(KEY, blob, envelope.context("globex", "ref"))
    with pytest.raises(SealError):
        envelope.open_sealed(KEY, blob, envelope.context("acme", "other"))
    # the context is length-prefixed: moving a byte between tenant and subject differs
    assert envelope.context("ab", "c") != envelope.context("a", "bc")


def test_json_and_empty_values_are_not_sealed():
    for raw in (b'[{"a":1}]', b'{"a":1}', b"", None, b" [1]", b'"x"'):
        assert not envelope.is_sealed(raw)
    with pytest.raises(SealError, match="not a sealed value"):
        envelope.header(b'{"a": 1}')


def test_wrapped_data_key_opens_only_under_its_kek_and_context():
    dk = envelope.new_key()
    ctx = envelope.wrap_context("acme", "", "dk-1")
    wrapped = envelope.wrap(KEY, "kek-a", "dk-1", dk, ctx)
    assert envelope.unwrap(KEY, wrapped, ctx) == dk
    with pytest.raises(SealError):
        envelope.unwrap(OTHER, wrapped, ctx)
    with pytest.raises(SealError):
        envelope.unwrap(KEY, wrapped, envelope.wrap_context("acme", "", "dk-2"))


def test_ids_must_fit_the_header():
    with pytest.raises(ValueError, match="kek id"):
        envelope.seal(KEY, "", "dk", b"x", b"")
    with pytest.raises(ValueError, match="data key id"):
        envelope.seal(KEY, "k", "d" * 256, b"x", b"")
