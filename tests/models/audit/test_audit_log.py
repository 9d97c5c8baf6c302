"""The audit log's pure model: Merkle heads, chains, signed checkpoints, and the
verifier naming the first bad entry for each way of tampering."""

from __future__ import annotations

import copy

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from models.audit.chain import TenantChain
from models.audit.entry import AuditError, check_request, entry_hash, request
from models.audit.merkle import EMPTY_ROOT, Frontier, leaf_hash, tree_root
from models.audit.signing import key_id, sign_checkpoint
from models.audit.verify import matches, verify

KEY = Ed25519PrivateKey.generate()
KEYS = {key_id(KEY.public_key()): KEY.public_key()}


def build(n: int, every: int = 4, tenant: str = "acme") -> tuple[list[dict], dict]:
    """A log of ``n`` entries with a checkpoint after every ``every``-th, and the final
    checkpoint over all of them (what a verifier keeps apart from the log)."""
    chain, log = TenantChain(), []
    for i in range(n):
        req = request(tenant=tenant, at=1000.0 + i, actor=f"token:u{i % 3}", action="silence.put")
        log.append(chain.append(check_request(req), f"0:{i}:0"))
        if chain.seq % every == 0:
            log.append(sign_checkpoint(KEY, tenant, chain.seq, chain.tree.root(), 1000.0 + i))
    return log, sign_checkpoint(KEY, tenant, chain.seq, chain.tree.root(), 2000.0)


def located(log: list[dict]) -> list[tuple[str, dict]]:
    return [(f"line {i + 1}", r) for i, r in enumerate(log)]


def entry_index(log: list[dict], seq: int) -> int:
    return next(i for i, r in enumerate(log) if r["kind"] == "entry" and r["seq"] == seq)


def first_problem(log: list[dict], trusted: dict | None = None):
    report = verify(located(log), KEYS, [trusted] if trusted else [])
    assert len(report.problems) == 1, report.problems
    return report.problems[0]


# --- Merkle tree heads ----------------------------------------------------------------
def test_rfc6962_known_hashes() -> None:
    # Certificate Transparency's test vectors: the empty tree and the empty leaf
    assert EMPTY_ROOT == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@given(st.lists(st.binary(max_size=8), max_size=70))
def test_frontier_root_is_the_rfc6962_root(leaves: list[bytes]) -> None:
    hashes = [leaf_hash(x) for x in leaves]
    f = Frontier()
    for i, h in enumerate(hashes):
        f.append(h)
        assert f.root() == tree_root(hashes[: i + 1])
    assert Frontier.from_wire(f.to_wire()).root() == tree_root(hashes)


# --- requests and chains ----------------------------------------------------------------
def test_bad_request_lists_every_reason() -> None:
    with pytest.raises(AuditError) as exc:
        check_request({"tenant": 3, "at": "now", "detail": []})
    assert str(exc.value).split("; ") == [
        "tenant: expected a string",
        "actor: required",
        "action: required",
        "at: expected epoch seconds",
        "detail: expected an object",
    ]


def test_a_chain_rebuilt_from_a_snapshot_and_the_tail_continues_identically() -> None:
    log, _ = build(10)
    snapshot = TenantChain()
    for r in log[:5]:
        assert snapshot.follow(r)
    restored = TenantChain.from_wire(snapshot.to_wire())
    for r in log:  # the topic read from before the snapshot: known records are skipped
        assert restored.follow(r)
    full = TenantChain()
    for r in log:
        full.follow(r)
    assert restored.to_wire() == full.to_wire()
    assert restored.seq == 10 and restored.signed == 8
    nxt = restored.append(check_request(request(tenant="acme", at=1.0, actor="a", action="x")), "")
    assert nxt["seq"] == 11 and nxt["prev"] == log[-1]["hash"]
    assert not restored.follow({**nxt, "seq": 13})  # a gap is refused


# --- verification ------------------------------------------------------------------------
def test_untouched_log_passes_with_every_entry_and_checkpoint() -> None:
    log, final = build(10, tenant="acme")
    other, _ = build(3, tenant="beta")
    report = verify(located(log + other), KEYS, [final])
    assert report.ok, report.problems
    assert report.entries == {"acme": 10, "beta": 3}
    assert report.checkpoints == {"acme": 10, "beta": 0}


def test_edited_entry_is_named() -> None:
    log, final = build(10)
    log[entry_index(log, 6)]["actor"] = "token:someone-else"
    p = first_problem(log, final)
    assert (p.seq, p.kind, p.where) == (6, "edited", f"line {entry_index(log, 6) + 1}")


def test_edited_and_rehashed_chain_is_caught_by_the_signed_root() -> None:
    log, final = build(10)
    chain = TenantChain()
    for r in log:  # rewrite entry 6 and recompute every hash after it
        if r["kind"] != "entry":
            continue
        if r["seq"] == 6:
            r["outcome"] = "denied"
        r["prev"] = chain.last
        r["hash"] = entry_hash(r)
        chain.follow(r)
    p = first_problem(log, final)
    assert (p.seq, p.kind) == (5, "edited")  # first entry after the last matching root (4)
    assert "entries 5..8" in p.reason


def test_deleted_entry_is_named() -> None:
    log, final = build(10)
    del log[entry_index(log, 3)]
    p = first_problem(log, final)
    assert (p.seq, p.kind) == (3, "deleted")


def test_reordered_entries_are_named() -> None:
    log, final = build(10)
    i, j = entry_index(log, 6), entry_index(log, 7)
    log[i], log[j] = log[j], log[i]
    p = first_problem(log, final)
    assert (p.seq, p.kind) == (6, "reordered")


def test_truncated_log_is_named_against_the_last_signed_checkpoint() -> None:
    log, final = build(10)
    cut = log[: entry_index(log, 7)]  # entries 7..10 and the checkpoint of 8 are gone
    assert verify(located(cut), KEYS).ok  # without a checkpoint from elsewhere: undetectable
    p = first_problem(cut, final)
    assert (p.seq, p.kind) == (7, "truncated")


def test_forged_checkpoint_is_refused() -> None:
    log, final = build(8)
    forged = {**final, "size": 5}
    p = first_problem(log, forged)
    assert (p.kind, p.reason) == ("checkpoint", "bad signature")
    other = Ed25519PrivateKey.generate()
    p = first_problem(log, sign_checkpoint(other, "acme", 8, final["root"], 1.0))
    assert p.reason.startswith("signed by unknown key")


TAMPER = st.sampled_from(["edit", "delete", "swap", "truncate"])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 30), every=st.integers(1, 7), how=TAMPER, data=st.data())
def test_any_tamper_anywhere_names_the_first_bad_entry(n, every, how, data) -> None:
    log, final = build(n, every)
    pristine = copy.deepcopy(log)
    k = data.draw(st.integers(1, n - 1 if how == "swap" else n), label="entry")
    i = entry_index(log, k)
    if how == "edit":
        field = data.draw(st.sampled_from(["actor", "action", "target", "at", "tenant"]))
        log[i][field] = 7.5 if field == "at" else "x"
        want = "edited"
        if field == "tenant":  # moved to another tenant's chain: gone from this one
            want = "truncated" if k == n else "deleted"
    elif how == "delete":
        del log[i]
        want = "truncated" if k == n else "deleted"  # the last one: the tail is cut
    elif how == "swap":
        j = entry_index(log, k + 1)
        log[i], log[j] = log[j], log[i]
        want = "reordered"
    else:
        log = log[:i]
        want = "truncated"
    problems = verify(located(log), KEYS, [final]).problems
    acme = [p for p in problems if p.tenant == "acme"]
    assert [(p.seq, p.kind) for p in acme] == [(k, want)]
    assert verify(located(pristine), KEYS, [final]).ok


def test_query_filters_by_actor_action_tenant_and_time() -> None:
    log, _ = build(9)
    found = [e["seq"] for e in log if matches(e, actor="token:u1", action="silence", since=1003)]
    assert found == [5, 8]
    assert not [e for e in log if matches(e, tenant="beta")]
    assert [e["seq"] for e in log if matches(e, until=1002)] == [1, 2]
