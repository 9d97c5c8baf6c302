"""The audit log end to end on one real worker: an API call (silence create), a CLI
action (ack, run in this process) and SIGHUP reloads (refused, then installed) land in
the `audit` topic as chained entries under a signed checkpoint, signed with the key
beside the pipelines file; who, from where and on what are sealed for the tenant (no
identity in clear on the topics, `keys status` counts them), the keyring opens them;
`audit verify` passes on the log and names the first bad entry of a tampered copy in
each of the four ways; `audit query` filters it; after the tenant's keys are shredded
the log still verifies and `--actor` says which entries it could not open."""

from __future__ import annotations

import json
import signal

import aiohttp
import orjson

from app.audit_cli import read_topic
from app.cli import main
from app.settings import Settings
from models.protection.fields import open_fields
from tables.keys import open_protection
from tests.conftest import eventually

PIPELINES = """
route:
  receiver: ops
  group_wait: 1s
receivers:
  - name: ops
    webhook_configs:
      - url: ${HOOK}
"""
GROUP = ["--group-key", '{}:{alertname="Quiet"}']


def lines(path) -> list[dict]:  # type: ignore[no-untyped-def]
    return [orjson.loads(x) for x in path.read_bytes().splitlines() if x.strip()]


def write(path, records: list[dict]) -> str:  # type: ignore[no-untyped-def]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return str(path)


async def test_api_and_cli_actions_are_chained_signed_and_verified(
    make_worker, receiver, broker, tmp_path, monkeypatch, capsys
):
    env = {"ALERTSTREAM_AUDIT_CHECKPOINT_EVERY": "0.5"}
    w = make_worker(PIPELINES, {"HOOK": receiver.url, **env})
    w.start()
    await w.ready()
    silence = {
        "matchers": [{"name": "alertname", "value": "Quiet", "isRegex": False}],
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": "2099-01-01T00:00:00Z",
        "createdBy": "e2e",
        "comment": "audited",
    }
    headers = {"X-Scope-OrgID": "acme"}

    async def create_silence() -> str:
        async with (
            aiohttp.ClientSession() as http,
            http.post(w.url + "/api/v2/silences", json=silence, headers=headers) as r,
        ):
            assert r.status == 200, await r.text()
            return (await r.json())["silenceID"]

    silence_id = await create_silence()
    # the CLI, in this process, against the worker's topics and public key
    for name in ("ALERTSTREAM_BROKER", "ALERTSTREAM_TOPIC_PREFIX", "ALERTSTREAM_PIPELINES"):
        monkeypatch.setenv(name, w.env[name])
    assert main(["ack", "--tenant", "acme", "--user", "bob", *GROUP]) == 0
    # SIGHUP with a broken pipelines file (refused), then with the good one (installed)
    pipelines = tmp_path / "pipelines.yaml"
    good = pipelines.read_text()
    settings = Settings.from_env(w.env)

    def reloads() -> list[str]:
        return [
            e["outcome"]
            for _, e in read_topic(settings, "audit", 10)
            if e.get("action") == "config.reload"
        ]

    for text, outcomes in ((good + "route: [\n", ["error"]), (good, ["error", "ok"])):
        pipelines.write_text(text)
        w.proc.send_signal(signal.SIGHUP)
        assert await eventually(lambda outcomes=outcomes: reloads() == outcomes, 30), w.log()

    want = {"http.post", "silence.put", "cli.ack", "ack"}

    def acme() -> tuple[list, list]:
        records = [r for _, r in read_topic(Settings.from_env(w.env), "audit", 10)]
        entries = [r for r in records if r["tenant"] == "acme" and r["kind"] == "entry"]
        signed = [r["size"] for r in records if r["tenant"] == "acme" and r["kind"] != "entry"]
        return entries, signed

    async def chained_and_signed(silences: int = 1) -> bool:
        entries, signed = acme()
        actions = [e["action"] for e in entries]
        return (
            set(actions) >= want
            and actions.count("silence.put") >= silences
            and max(signed, default=0) >= len(entries)
        )

    assert await eventually(chained_and_signed, 60), w.log()
    entries, _ = acme()
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    for name in ("audit", "audit.requests"):  # no identity in clear where they are stored
        stored = b"".join(orjson.dumps(r) for _, r in read_topic(settings, name, 10))
        assert [x for x in (b"bob", b"127.0.0.1", b"cli:", b"local") if x in stored] == []
    protection = open_protection(settings)
    by_action = {e["action"]: open_fields(e, protection.unseal) for e in entries}
    assert by_action["http.post"]["actor"] == "local"  # loopback, no credential configured
    assert by_action["http.post"]["target"] == "/api/v2/silences"
    assert by_action["http.post"]["source"] == "127.0.0.1"
    assert by_action["silence.put"]["target"] == silence_id
    assert by_action["cli.ack"]["actor"].startswith("cli:")
    assert (by_action["ack"]["actor"], by_action["ack"]["target"]) == (
        "bob",
        '{}:{alertname="Quiet"}',
    )
    key = tmp_path / "audit-signing.key"  # beside the pipelines file: one for all workers
    assert key.stat().st_mode & 0o777 == 0o600

    capsys.readouterr()
    assert main(["keys", "status", "--json"]) == 0
    sealed = json.loads(capsys.readouterr().out)["sealed"][w.topic("audit")]
    assert sum(r["values"] for r in sealed if r["tenant"] == "acme") == len(entries)
    assert main(["audit", "verify"]) == 0
    out = capsys.readouterr().out
    assert "audit log intact" in out and f"tenant 'acme': {len(entries)} entries" in out
    assert main(["audit", "query", "--tenant", "acme", "--action", "silence"]) == 0
    found = capsys.readouterr().out.splitlines()
    assert len(found) == 1 and f"silence.put {silence_id}" in found[0]

    assert main(["audit", "export"]) == 0
    log = write(
        tmp_path / "audit.jsonl", [orjson.loads(x) for x in capsys.readouterr().out.split()]
    )
    assert main(["audit", "export", "--only-checkpoints"]) == 0
    cps = write(tmp_path / "cps.jsonl", [orjson.loads(x) for x in capsys.readouterr().out.split()])
    original = lines(tmp_path / "audit.jsonl")

    def at(seq: int) -> int:
        return next(
            i
            for i, r in enumerate(original)
            if r["kind"] == "entry" and r["tenant"] == "acme" and r["seq"] == seq
        )

    def verify_copy(records: list[dict]) -> str:
        path = write(tmp_path / "tampered.jsonl", records)
        assert main(["audit", "verify", "--from-file", path, "--checkpoints", cps]) == 1
        return capsys.readouterr().out

    assert main(["audit", "verify", "--from-file", log, "--checkpoints", cps]) == 0
    capsys.readouterr()
    edited = [dict(r) for r in original]
    edited[at(2)]["outcome"] = "denied"
    assert f"tenant 'acme' entry 2 (line {at(2) + 1}): edited" in verify_copy(edited)
    deleted = [r for i, r in enumerate(original) if i != at(2)]
    assert "tenant 'acme' entry 2 (before line" in verify_copy(deleted)
    assert ": deleted:" in verify_copy(deleted)
    swapped = list(original)
    swapped[at(2)], swapped[at(3)] = swapped[at(3)], swapped[at(2)]
    assert "tenant 'acme' entry 2 (" in (out := verify_copy(swapped)) and "reordered" in out
    cut = [r for i, r in enumerate(original) if r["tenant"] != "acme" or i < at(3)]
    out = verify_copy(cut)
    assert "tenant 'acme' entry 3 (end of log): truncated" in out

    # the tenant erased: its keys shredded; the log verifies, its actors cannot be read
    assert main(["audit", "query", "--actor", "bob"]) == 0
    assert "acme#" in capsys.readouterr().out
    protection.shred("acme")
    assert main(["audit", "verify"]) == 0
    assert "audit log intact" in capsys.readouterr().out
    assert main(["audit", "query", "--actor", "bob"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert f"{len(entries)} entries could not be opened (not searched by --actor)" in err
    assert "was shredded" in err
