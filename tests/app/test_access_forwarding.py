"""Access control across two workers of one app: a read forwarded to the worker that
owns the tenant carries the caller's credential and is checked again there; a token
bound to one tenant is refused another's wherever it asks; a ``*`` viewer gathers from
both; tokens made before a worker restarts work after it; SIGHUP reloads ``access:``
and keeps it when the new one is bad."""

from __future__ import annotations

import asyncio
import base64
import signal
from typing import Any

import aiohttp
from aiokafka.partitioner import murmur2

from app.gather import LOCAL
from app.token_cli import TokenTopic, create
from models.access.passwords import hash_password
from tests.conftest import Worker, eventually

PIPELINES = """
route:
  receiver: ops
  group_wait: 100ms
receivers:
  - name: ops
"""
BOB = f"""
access:
  users:
    - name: bob
      password_hash: "{hash_password("pw", n=16, r=1, p=1)}"
      roles: {{acme: {{role}}}}
"""
A = "acme"


def partition(tenant: str) -> int:
    """Kafka's default partitioner (the workers' producers key alerts by tenant)."""
    return (murmur2(tenant.encode()) & 0x7FFFFFFF) % 2


B = next(t for t in ("globex", "initech", "umbrella", "hooli") if partition(t) != partition(A))


def bearer(token: str, tenant: str | None = None, local: bool = False) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if tenant:
        headers["X-Scope-OrgID"] = tenant
    if local:
        headers[LOCAL] = "1"  # this worker's own alerts only
    return headers


async def test_forwarded_reads_tenant_binding_restart_and_reload(
    make_worker: Any, broker: str, tmp_path: Any
) -> None:
    one = make_worker(PIPELINES)
    (tmp_path / "two").mkdir()
    (tmp_path / "two" / "pipelines.yaml").write_text(PIPELINES)  # its own: one's is reloaded
    two = Worker(broker, tmp_path / "two" / "pipelines.yaml", tmp_path / "two", {})
    two.env["ALERTSTREAM_APP_ID"] = two.namespace = one.namespace
    two.env["ALERTSTREAM_TOPIC_PREFIX"] = one.namespace + "."
    topic = TokenTopic(broker, one.topic("tokens"), "", 2)
    tokens = {
        name: create(topic, roles, name)[0]
        for name, roles in {
            "a": {A: "viewer"},
            "all": {"*": "viewer"},
            "admin": {"*": "admin"},
        }.items()
    }
    one.start()
    two.start()
    try:
        await asyncio.gather(one.ready(), two.ready())
        async with aiohttp.ClientSession() as http:
            await _scenario(http, one, two, tokens)
            two.kill()  # the restart: its tokens come back from the topic, not from a group
            two.start()
            await _reload(http, one)
            await two.ready()
            statuses: list[int] = []

            async def works() -> bool:
                async with http.get(two.url + "/api/v2/status", headers=bearer(tokens["a"])) as r:
                    statuses.append(r.status)
                    return r.status == 200

            assert await eventually(works, 30), two.log()
            assert 401 not in statuses, statuses  # never refused: at most "not loaded yet"
    finally:
        two.kill()


async def _scenario(http: aiohttp.ClientSession, one: Worker, two: Worker, tokens: dict) -> None:
    async def get(url: str, headers: dict[str, str]) -> tuple[int, Any]:
        async with http.get(url + "/api/v2/alerts", headers=headers) as r:
            return r.status, await r.json()

    def tenants(alerts: list[dict]) -> set[str]:
        return {a["labels"]["tenant"] for a in alerts}

    async def split() -> bool:  # both workers own a partition
        return all([await w.partitions() for w in (one, two)])

    assert await eventually(split, 40), one.log() + two.log()
    admin = bearer(tokens["admin"])
    for tenant in (A, B):
        alert = [{"labels": {"alertname": "Up", "tenant": tenant}}]
        async with http.post(one.url + "/api/v2/alerts", json=alert, headers=admin) as r:
            assert r.status == 200, await r.text()

    # a * viewer, naming no tenant, gathers both workers' alerts on either worker
    async def gathered() -> bool:
        status, body = await get(one.url, bearer(tokens["all"]))
        return status == 200 and tenants(body) == {A, B}

    assert await eventually(gathered), one.log() + two.log()
    assert tenants((await get(two.url, bearer(tokens["all"])))[1]) == {A, B}
    # ... each worker holds one tenant: a read of the other one is forwarded
    own = [tenants((await get(w.url, bearer(tokens["all"], local=True)))[1]) for w in (one, two)]
    assert sorted(own, key=sorted) == sorted([{A}, {B}], key=sorted), own
    # the token bound to A reads A's alerts on both (one of them forwards, with it)
    for w in (one, two):
        for headers in (bearer(tokens["a"]), bearer(tokens["a"], A)):
            status, body = await get(w.url, headers)
            assert (status, tenants(body)) == (200, {A}), (w.url, body)
        # ... and naming B it is refused, by B's owner and by the worker that would forward
        status, body = await get(w.url, bearer(tokens["a"], B))
        assert status == 403 and B in body["error"], (w.url, body)
        assert (await get(w.url, bearer(tokens["a"], B, local=True)))[0] == 403


async def _reload(http: aiohttp.ClientSession, one: Worker) -> None:
    """SIGHUP on one: a user added to ``access:`` works; a bad ``access:`` is refused
    with its reasons in the log and the running one stays."""
    pipelines = one.env["ALERTSTREAM_PIPELINES"]
    basic = {"Authorization": "Basic " + base64.b64encode(b"bob:pw").decode()}

    async def bob() -> int:
        async with http.get(one.url + "/api/v2/status", headers=basic) as r:
            return r.status

    assert await bob() == 401
    assert one.proc is not None
    with open(pipelines, "a") as f:
        f.write(BOB.replace("{role}", "viewer"))
    one.proc.send_signal(signal.SIGHUP)  # (no polling with bob: each 401 is a failure)
    log = lambda: one.log_path.read_text(errors="replace")  # noqa: E731  (the whole of it)
    assert await eventually(lambda: "access: reloaded from" in log(), 15), one.log()
    assert await bob() == 200
    with open(pipelines, "w") as f:
        f.write(PIPELINES + BOB.replace("{role}", "overlord"))
    one.proc.send_signal(signal.SIGHUP)
    assert await eventually(lambda: "access: reload of" in log(), 15), one.log()
    assert "unknown role 'overlord'" in log()
    assert await bob() == 200
