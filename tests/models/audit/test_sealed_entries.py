"""Audit entries with who, from where, on what and the details sealed for the tenant:
nothing identifying in clear, the chain verifies without keys, the keys open them, and
shredding a tenant's keys leaves its entries verifiable but unreadable."""

from __future__ import annotations

from functools import partial

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from models.audit.chain import TenantChain
from models.audit.entry import AuditError, check_request, request, sealed_request
from models.audit.signing import key_id, sign_checkpoint
from models.audit.verify import matches, verify
from models.protection.fields import SEALED, open_fields
from models.protection.keyring import Shredded
from tests.models.protection.test_keyring import SharedKeyring, Topic, process

KEY = Ed25519PrivateKey.generate()
KEYS = {key_id(KEY.public_key()): KEY.public_key()}
IDENTITIES = (b"token:bob", b"10.0.0.7", b"carol", b"tok-42")


def actions(tenant: str) -> list[dict]:
    return [
        request(tenant=tenant, at=1.0, actor="token:bob", action="silence.put", source="10.0.0.7"),
        request(
            tenant=tenant,
            at=2.0,
            actor="escalation",
            action="escalation.page",
            detail={"who": "carol"},
        ),
        request(
            tenant=tenant,
            at=3.0,
            actor="cli:root",
            action="cli.token.revoke",
            target="tok-42",
            outcome="error",
        ),
    ]


@pytest.fixture
def log():
    keys = process(SharedKeyring(), Topic())
    chains, records, clear = {}, [], {}
    for tenant in ("acme", "beta"):
        chain = chains.setdefault(tenant, TenantChain())
        for i, req in enumerate(actions(tenant)):
            sealed = sealed_request(req, partial(keys.seal, tenant))
            entry = chain.append(check_request(orjson.loads(orjson.dumps(sealed))), f"0:{i}:0")
            records.append(entry)
            clear[(tenant, entry["seq"])] = req
        records.append(sign_checkpoint(KEY, tenant, chain.seq, chain.tree.root(), 9.0))
    return keys, records, clear


def located(records: list[dict]) -> list[tuple[str, dict]]:
    return [(f"line {i + 1}", r) for i, r in enumerate(records)]


def test_nothing_identifying_is_stored_in_clear_and_the_log_verifies_without_keys(log):
    _, records, _ = log
    stored = b"".join(orjson.dumps(r) for r in records)
    assert [x for x in IDENTITIES if x in stored] == []
    entries = [r for r in records if r["kind"] == "entry"]
    assert {frozenset(e) for e in entries} == {
        frozenset(
            {"kind", "tenant", "at", "action", "outcome", SEALED, "seq", "prev", "origin", "hash"}
        )
    }
    report = verify(located(records), KEYS)
    assert report.ok and report.entries == {"acme": 3, "beta": 3}
    assert [e["seq"] for e in entries if matches(e, tenant="acme", action="cli")] == [3]


def test_the_keys_open_every_entry_to_the_request_it_was(log):
    keys, records, clear = log
    for e in (r for r in records if r["kind"] == "entry"):
        opened = open_fields(e, partial(keys.unseal, tenant=e["tenant"]))
        want = clear[(e["tenant"], e["seq"])]
        assert {k: opened[k] for k in want} == want
    acme = [
        open_fields(e, keys.unseal)
        for e in records
        if e.get("tenant") == "acme" and e["kind"] == "entry"
    ]
    assert [e["seq"] for e in acme if matches(e, actor="token:bob")] == [1]


def test_a_tampered_sealed_field_is_an_edited_entry(log):
    _, records, _ = log
    i = next(i for i, r in enumerate(records) if r["tenant"] == "beta" and r.get("seq") == 2)
    blob = records[i][SEALED]
    records[i] = {**records[i], SEALED: blob[:-8] + ("A" * 8 if blob[-8:] != "A" * 8 else "B" * 8)}
    [problem] = verify(located(records), KEYS).problems
    assert (problem.tenant, problem.seq, problem.kind) == ("beta", 2, "edited")


def test_shredding_a_tenant_leaves_its_entries_verifiable_but_unreadable(log):
    keys, records, _ = log
    keys.shred("acme")
    assert verify(located(records), KEYS).ok
    for e in (r for r in records if r["kind"] == "entry"):
        if e["tenant"] == "acme":
            with pytest.raises(Shredded):
                open_fields(e, partial(keys.unseal, tenant="acme"))
        else:
            assert open_fields(e, keys.unseal)["actor"]


def test_a_sealed_request_keeps_only_its_blob_and_a_bad_one_lists_every_reason():
    req = request(tenant="acme", at=1.0, actor="a", action="x", target="t")
    sealed = {**sealed_request(req, lambda raw: raw), "actor": "clear?", "detail": {"x": 1}}
    assert "actor" not in check_request(sealed) and "detail" not in check_request(sealed)
    with pytest.raises(AuditError) as exc:
        check_request({"tenant": "acme", "at": 1.0, SEALED: 5})
    assert str(exc.value).split("; ") == [
        "action: required",
        "sealed: expected a sealed value (base64)",
    ]
