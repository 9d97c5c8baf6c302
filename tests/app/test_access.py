"""Access control on one real worker: the router walked, every route x every role x
own/other tenant against the status it must answer; tokens expired and revoked; a
tenant cannot post for, or read by id, another's data; amtool with a bearer token or
basic auth through ``--http.config.file``, and refused without."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from app.access import LOCAL_ADMIN, Access, Authenticate, TokenAuth
from app.access_guards import FailedAuthLimit
from app.access_routes import Need
from app.login import PATH as LOGIN
from app.token_cli import TokenTopic, create
from models.access.failures import FailureWindow
from models.access.passwords import hash_password
from models.access.permissions import PUBLIC, READ, ROLES, Permission, grants
from models.access.tokens import TokenStore
from tests.compat.harness import AMTOOL
from tests.conftest import ROOT, Worker, eventually

pytestmark = pytest.mark.asyncio(loop_scope="module")

OWN, OTHER = "acme", "globex"
PASSWORD = "correct horse"
PIPELINES = """
route:
  receiver: ops
  group_wait: 200ms
receivers:
  - name: ops
access:
  users:
    - name: prom
      password_hash: "{hash}"
      roles: {{acme: viewer}}
  rate_limits:  # polling with a token the worker has not read yet is failing too
    failed_auth: {{limit: 100}}
"""
# the route table as the worker builds it: the same modules, Faust's pages included
ROUTES = """
import json, sys
import app.worker
from app.access_routes import Permissions
from app.faust_app import app
from app.pipeline import pipeline_config
app.web.init_server()
table = Permissions(app, pipeline_config().access.public_metrics).table()
json.dump([(m, p, n and [n.permission, n.every_tenant], s) for m, p, n, s in table], sys.stdout)
"""
SELF_CHECKED = {
    "/healthz",
    "/api/v1/slack/interactions",
    "/api/v1/actions/{token}",
    "/api/v1/login",
}
PARAMS = {  # a value for each path parameter the router holds (others: "x")
    "fingerprint": "0123456789abcdef",
    "silence_id": str(uuid.uuid4()),
    "op": "ack",
    "action": "ack",
    "name": "alerts",
}


class Scope:
    def __init__(self, worker: Worker, tokens: dict[str, str], routes: list, expired: str):
        self.worker, self.tokens, self.routes, self.expired = worker, tokens, routes, expired

    async def call(
        self, method: str, path: str, token: str | None = None, tenant: str | None = None, **kw
    ) -> tuple[int, str]:
        headers = {"X-Scope-OrgID": tenant} if tenant else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, self.worker.url + path, headers=headers, **kw) as r,
        ):
            return r.status, await r.text()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def scope(broker: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Scope]:
    tmp = tmp_path_factory.mktemp("access")
    pipelines = tmp / "pipelines.yaml"
    pipelines.write_text(PIPELINES.format(hash=hash_password(PASSWORD, n=16, r=1, p=1)))
    worker = Worker(broker, pipelines, tmp, {})
    worker.start()  # it follows the tokens topic: tokens made while it starts count
    topic = TokenTopic(broker, worker.topic("tokens"), "", 2)
    # one token per role bound to OWN, and two holding every tenant
    grants_ = {f"{role}@{OWN}": {OWN: role} for role in ROLES}
    grants_ |= {"admin@*": {"*": "admin"}, "viewer@*": {"*": "viewer"}}

    def make_tokens() -> tuple[dict[str, str], str]:
        tokens = {name: create(topic, roles, name)[0] for name, roles in grants_.items()}
        return tokens, create(topic, {"*": "admin"}, "old", ttl=-1.0)[0]

    env = {**worker.env, "ALERTSTREAM_DATA_DIR": str(tmp / "routes")}
    walk = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ROUTES, cwd=ROOT, env=env, stdout=subprocess.PIPE
    )
    (tokens, expired), (out, _) = await asyncio.gather(
        asyncio.to_thread(make_tokens), walk.communicate()
    )
    try:
        await worker.ready()
        s = Scope(worker, tokens, json.loads(out), expired)
        # the worker has read the tokens topic: the admin token works
        ready = lambda: _status(s, "GET", "/api/v2/status", tokens["admin@*"])  # noqa: E731
        assert await eventually(ready, timeout=30), worker.log()
        yield s
    finally:
        worker.kill()  # nothing here needs a clean stop


async def _status(s: Scope, method: str, path: str, token: str) -> bool:
    return (await s.call(method, path, token))[0] == 200


def concrete(path: str, tenant: str) -> str:
    """A request path for a route pattern: its parameters filled in."""
    out, rest = "", path
    while "{" in rest:
        head, _, tail = rest.partition("{")
        name, _, rest = tail.partition("}")
        out += head + (tenant if name == "tenant" else PARAMS.get(name, "x"))
    return out + rest


def expected(
    need: list | None, served: bool, roles: dict[str, str] | None, tenant: str
) -> int | None:
    """401, 403 or 405 where the request must be refused, None where it must get through."""
    if not served:
        return 405  # HEAD where the view has no GET: for every caller, before credentials
    if need is None:
        return 403  # declared nothing: deny by default
    permission, every_tenant = Permission(need[0]), need[1]
    if permission is PUBLIC:
        return None
    if roles is None:
        return 401
    role = roles.get(tenant) or roles.get("*")
    if "*" not in roles and tenant not in roles:
        return 403  # a credential bound to other tenants
    if every_tenant:
        role = roles.get("*")
    return None if role is not None and grants(role, permission) else 403


async def test_every_route_every_role_own_and_other_tenant(scope: Scope) -> None:
    assert len(scope.routes) > 40  # the walk saw the whole router (ours and Faust's)
    principals: dict[str, tuple[str | None, dict[str, str] | None]] = {"anonymous": (None, None)}
    for name, token in scope.tokens.items():
        role, _, tenant = name.partition("@")
        principals[name] = (token, {tenant: role})
    cases = [
        (method, path, need, served, who, tenant)
        for method, path, need, served in scope.routes
        for who in principals
        for tenant in (OWN, OTHER)
    ]
    gate = asyncio.Semaphore(8)

    async def check(case: tuple) -> tuple[tuple, int, int | None]:
        method, path, need, served, who, tenant = case
        token, roles = principals[who]
        async with gate:
            status, _ = await scope.call(method, concrete(path, tenant), token, tenant)
        return case, status, expected(need, served, roles, tenant)

    results = await asyncio.gather(*(check(c) for c in cases))
    wrong = [
        (case[:2], case[4:], status, want)
        for case, status, want in results
        if (status in (401, 403, 405)) != (want is not None)
        or (want is not None and status != want)
    ]
    assert not wrong, f"{len(wrong)} of {len(results)} answered otherwise: {wrong[:20]}"
    # none is open without a credential but the health page and the views that check
    # a credential of their own (Slack's signature, signed links, the login form)
    open_ = {(c[0], c[1]) for c, status, _ in results if c[4] == "anonymous" and status < 400}
    public = {(m, p) for m, p, need, _ in scope.routes if need and need[0] == PUBLIC}
    assert open_ <= public
    assert {p for _, p in public} <= SELF_CHECKED
    print(
        f"access matrix: {len(scope.routes)} routes x {len(principals)} callers x 2 tenants"
        f" = {len(results)} requests, all as expected"
    )


async def test_expired_revoked_and_unknown_credentials_get_401(scope: Scope) -> None:
    status, body = await scope.call("GET", "/api/v2/alerts", scope.expired)
    assert status == 401 and "expired" in body
    assert (await scope.call("GET", "/api/v2/alerts", "ast_00000000_nope"))[0] == 401
    status, _ = await scope.call("GET", "/api/v2/alerts", None)
    assert status == 401
    wrong = "Basic " + base64.b64encode(b"prom:no").decode()
    async with (
        aiohttp.ClientSession() as http,
        http.get(scope.worker.url + "/api/v2/alerts", headers={"Authorization": wrong}) as r,
    ):
        assert r.status == 401 and "Basic" in r.headers["WWW-Authenticate"]
    topic = TokenTopic(scope.worker.env["ALERTSTREAM_BROKER"], scope.worker.topic("tokens"), "", 2)
    token, record = create(topic, {OWN: "viewer"}, "short-lived")
    assert await eventually(lambda: _status(scope, "GET", "/api/v2/alerts", token))
    assert record.id in {r.id for r in topic.read().records.values()}
    topic.write(record.id, None)  # `alertstream token revoke`
    assert await eventually(lambda: _refused(scope, token))


async def _refused(scope: Scope, token: str) -> bool:
    return (await scope.call("GET", "/api/v2/alerts", token))[0] == 401


async def test_a_tenant_cannot_post_for_or_read_by_id_another_tenant(scope: Scope) -> None:
    producer = scope.tokens[f"producer@{OWN}"]
    alert = {"labels": {"alertname": "X"}, "tenant": OTHER}
    status, body = await scope.call("POST", "/api/v2/alerts", producer, json=[alert])
    assert status == 403 and OTHER in body
    status, _ = await scope.call("POST", "/api/v1/alerts", producer, json=alert)
    assert status == 403
    # the tenant comes from the credential: no header needed, the own tenant is used
    assert (await scope.call("POST", "/api/v2/alerts", producer, json=[alert | {"tenant": OWN}]))[
        0
    ] == 200
    ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    silence = {
        "matchers": [{"name": "alertname", "value": "X", "isRegex": False}],
        "startsAt": "2020-01-01T00:00:00Z",
        "endsAt": ends,
        "createdBy": "test",
        "comment": "other tenant's",
    }
    status, body = await scope.call(
        "POST", "/api/v2/silences", scope.tokens["admin@*"], OTHER, json=silence
    )
    assert status == 200, body
    sid = json.loads(body)["silenceID"]
    admin_own = scope.tokens[f"admin@{OWN}"]
    assert (await scope.call("GET", f"/api/v2/silence/{sid}", admin_own))[0] == 404
    assert (await scope.call("DELETE", f"/api/v2/silence/{sid}", admin_own))[0] == 404
    status, body = await scope.call("GET", "/api/v2/silences", admin_own)
    assert status == 200 and sid not in body
    status, body = await scope.call("GET", f"/api/v2/silence/{sid}", scope.tokens["viewer@*"])
    assert status == 200 and sid in body
    # an alert of the other tenant: not listed for the own tenant, its history 404
    admin_all = scope.tokens["admin@*"]
    y = [{"labels": {"alertname": "Y"}}]
    assert (await scope.call("POST", "/api/v2/alerts", admin_all, OTHER, json=y))[0] == 200
    fp = await eventually(lambda: _fingerprint(scope, admin_all, OTHER, "Y"))
    history = f"/api/v1/alerts/{fp}/history"
    assert await eventually(lambda: _has_history(scope, history, admin_all, OTHER))
    viewer_own = scope.tokens[f"viewer@{OWN}"]
    assert (await scope.call("GET", history, viewer_own))[0] == 404
    assert (await scope.call("GET", history, viewer_own, OTHER))[0] == 403
    assert await _fingerprint(scope, viewer_own, None, "Y") is None
    own_fp = await eventually(lambda: _fingerprint(scope, viewer_own, None, "X"))
    assert own_fp and await _has_history(scope, f"/api/v1/alerts/{own_fp}/history", viewer_own)


async def _fingerprint(scope: Scope, token: str, tenant: str | None, name: str) -> str | None:
    status, body = await scope.call("GET", "/api/v2/alerts", token, tenant)
    assert status == 200, body
    found = [a["fingerprint"] for a in json.loads(body) if a["labels"]["alertname"] == name]
    return found[0] if found else None


async def _has_history(scope: Scope, path: str, token: str, tenant: str | None = None) -> bool:
    status, body = await scope.call("GET", path, token, tenant)
    return status == 200 and bool(json.loads(body)["data"])


@pytest.mark.skipif(AMTOOL is None, reason="amtool missing (Debian prometheus-alertmanager)")
async def test_amtool_with_a_bearer_token_or_basic_auth_and_without(
    scope: Scope, tmp_path: Path
) -> None:
    def amtool(*config: str) -> subprocess.CompletedProcess[str]:
        args = [str(AMTOOL), f"--alertmanager.url={scope.worker.url}", *config, "alert", "query"]
        return subprocess.run(args, capture_output=True, text=True, timeout=30)

    bearer, basic = tmp_path / "bearer.yml", tmp_path / "basic.yml"
    bearer.write_text(f"authorization:\n  credentials: {scope.tokens[f'viewer@{OWN}']}\n")
    basic.write_text(f"basic_auth:\n  username: prom\n  password: {PASSWORD}\n")
    for config in (bearer, basic):
        done = await asyncio.to_thread(amtool, f"--http.config.file={config}")
        assert done.returncode == 0, (config.name, done.stderr)
    done = await asyncio.to_thread(amtool)
    assert done.returncode != 0 and "401" in done.stderr + done.stdout, done.stderr


def _request(remote: str) -> web.Request:
    return make_mocked_request("GET", "/api/v2/alerts", transport=_Peer(remote))


class _Peer:
    """The one thing make_mocked_request needs of a transport: the peer's address."""

    def __init__(self, address: str) -> None:
        self.address = address

    def get_extra_info(self, name: str, default: object = None) -> object:
        return (self.address, 40000) if name == "peername" else default


@pytest.mark.parametrize(
    ("remote", "insecure", "status"),
    [
        ("127.0.0.1", False, None),
        ("::1", False, None),
        ("10.1.2.3", False, 403),
        ("10.1.2.3", True, None),
    ],
)
async def test_without_credentials_only_loopback_is_served(
    remote: str, insecure: bool, status: int | None
) -> None:
    tokens = TokenStore()
    tokens.ready = True
    failures = FailedAuthLimit(FailureWindow(limit=10, window=60.0))
    step = Authenticate([TokenAuth(tokens)], tokens, insecure, failures)
    request = _request(remote)
    ctx = Access(client=request.remote or "", need=Need(READ))
    refused = await step.check(request, ctx)
    assert (refused.status if refused else None) == status
    assert ctx.principal == (None if status else LOCAL_ADMIN)


async def test_an_unserved_method_is_405_with_allow_whoever_asks(scope: Scope) -> None:
    for token in (None, "ast_00000000_nope", scope.tokens["admin@*"]):
        for method in ("HEAD", "PUT"):  # HEAD: routed by Faust; PUT: by no route
            status, body = await scope.call(method, "/api/v1/login", token)
            assert status == 405, (method, token, body)
        async with (
            aiohttp.ClientSession() as http,
            http.put(scope.worker.url + "/api/v2/alerts") as r,
        ):
            assert (r.status, r.headers["Allow"]) == (405, "GET, HEAD, POST")
        async with aiohttp.ClientSession() as http, http.head(scope.worker.url + LOGIN) as r:
            assert r.headers["Allow"] == "POST"
