"""The access chain's OIDC, MFA, login, IP filter and rate limit steps, through the real
middleware and ``build_chain`` over aiohttp's test client (views that declare their
permission); OIDC keys from a loopback JWKS endpoint whose key rotates mid-test."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import jwt
import pyotp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import ec

from app.access import AccessControl, middleware
from app.access_routes import Need
from app.config.access import AccessConfig
from app.login import PATH as LOGIN
from app.login import LoginView
from app.web import principal_of, tenant_of
from models.access.passwords import hash_password
from models.access.permissions import ADMIN, PUBLIC, READ, Permission
from models.access.sessions import Sessions
from models.access.tokens import TokenStore

# the middleware leaves the caller on the request under typed keys (web.RequestKey)
pytestmark = pytest.mark.filterwarnings("error::aiohttp.web_exceptions.NotAppKeyWarning")
SECRET = pyotp.random_base32()
PASSWORD_HASH = hash_password("s3cret", n=2)  # cheap scrypt: the cost is not under test


class Views:
    """The permission of each test route (what ``app.access.Permissions`` reads from
    the views of a worker), and the methods each serves (Faust routes HEAD on all)."""

    needs: dict[str, Permission] = {
        "/read": READ,
        "/admin": ADMIN,
        "/health": PUBLIC,
        "/post": READ,
        LOGIN: PUBLIC,
    }
    public_metrics = False

    def need(self, resource: Any, method: str) -> Need | None:
        return Need(self.needs[resource.canonical], False)

    def methods(self, resource: Any) -> set[str]:
        post_only = resource.canonical in ("/post", LOGIN)
        return {"POST", "HEAD"} if post_only else {"GET", "HEAD"}


CONTROL = web.AppKey("control", AccessControl)


async def whoami(request: web.Request) -> web.Response:
    principal = principal_of(request)
    return web.json_response(
        {
            "id": principal and principal.id,
            "mfa": principal and principal.mfa,
            "tenant": tenant_of(request),
        }
    )


Client = Callable[[dict[str, Any]], Awaitable[TestClient]]


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    """``await client(access)``: a test client for a server with this ``access:``."""
    made: list[TestClient] = []

    async def make(access: dict[str, Any]) -> TestClient:
        config = AccessConfig.model_validate(access)
        tokens = TokenStore()
        tokens.ready = True
        control = AccessControl(config, tokens, False, Views())
        control.login.sessions = Sessions(ttl=60)
        app = web.Application(middlewares=[middleware(control)])
        app[CONTROL] = control
        for path in ("/read", "/admin", "/health"):
            app.router.add_get(path, whoami)
        app.router.add_post("/post", whoami)
        app.router.add_route("HEAD", "/post", whoami)  # as Faust routes every view
        view = type("LoginView", (LoginView,), {"login": control.login})(None, None)
        app.router.add_post(LOGIN, view.post)
        app.router.add_route("HEAD", LOGIN, view.post)
        test_client = TestClient(TestServer(app))
        await test_client.start_server()
        made.append(test_client)
        return test_client

    yield make
    for test_client in made:
        await test_client.close()


def user(name: str = "ann", roles: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name, "password_hash": PASSWORD_HASH, "roles": roles or {"*": "admin"}, **extra}


def basic(name: str, password: str = "s3cret") -> dict[str, str]:
    """``Authorization: Basic`` (aiohttp.BasicAuth is deprecated)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


ANN = basic("ann")


class Provider:
    """An identity provider on loopback: discovery document and JWKS, one EC key at a
    time (rotating replaces it), counting what it serves."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = "k0"
        self.served: list[str] = []
        self.server: TestServer | None = None

    @property
    def issuer(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def rotate(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.kid = f"k{int(self.kid[1:]) + 1}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/keys", self.jwks)
        self.server = TestServer(app)
        await self.server.start_server()

    async def discovery(self, request: web.Request) -> web.Response:
        self.served.append("discovery")
        return web.json_response({"issuer": self.issuer, "jwks_uri": f"{self.issuer}/keys"})

    async def jwks(self, request: web.Request) -> web.Response:
        self.served.append(self.kid)
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return web.json_response({"keys": [{**jwk, "kid": self.kid, "use": "sig"}]})

    def token(self, alg: str = "ES256", **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": self.issuer,
            "aud": "alertstream",
            "sub": "alice",
            "exp": now + 60,
            "groups": ["sre"],
            "amr": ["pwd", "otp"],
            **claims,
        }
        key = None if alg == "none" else self.key
        return jwt.encode(body, key, algorithm=alg, headers={"kid": self.kid})


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    idp = Provider()
    await idp.start()
    yield idp
    assert idp.server is not None
    await idp.server.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def status_and_error(client: TestClient, path: str, **kw: Any) -> tuple[int, str]:
    async with client.get(path, **kw) as response:
        body = await response.json()
        return response.status, body.get("error") or body.get("id")


async def test_oidc_tokens_from_a_loopback_provider(client: Client, provider: Provider) -> None:
    server = await client(
        {
            "users": [user()],
            "oidc": {
                "issuer": provider.issuer,
                "audience": ["alertstream"],
                "roles": {"sre": {"team-a": "responder"}},
                "keys_min_refresh": "10ms",
            },
        }
    )
    ok = await server.get("/read", headers=bearer(provider.token()))
    assert ok.status == 200
    assert await ok.json() == {"id": "oidc:alice", "mfa": True, "tenant": "team-a"}
    assert provider.served == ["discovery", "k0"]
    refused = {
        "expired": provider.token(exp=int(time.time()) - 600),
        "audience": provider.token(aud="another-app"),
        "issuer": provider.token(iss="https://evil.example"),
        "'none' is not accepted": provider.token(alg="none"),
    }
    for reason, token in refused.items():
        status, error = await status_and_error(server, "/read", headers=bearer(token))
        assert (status, reason.lower() in error.lower()) == (401, True), (reason, error)
    assert (await server.get("/admin", headers=bearer(provider.token()))).status == 403
    # the provider rotates its key: the first token with the new kid reads the JWKS once
    old = provider.token()
    provider.rotate()
    await asyncio.sleep(0.02)  # past keys_min_refresh
    responses = await asyncio.gather(
        *(server.get("/read", headers=bearer(provider.token())) for _ in range(5))
    )
    assert [r.status for r in responses] == [200] * 5
    assert provider.served == ["discovery", "k0", "k1"]
    status, error = await status_and_error(server, "/read", headers=bearer(old))
    assert status == 401 and "no signing key 'k0'" in error
    # an API token, basic auth and a session are not mistaken for OIDC
    assert (await server.get("/read", headers=ANN)).status == 200


async def test_mfa_by_totp_login_and_by_oidc_amr(client: Client, provider: Provider) -> None:
    server = await client(
        {
            "users": [user(totp_secret=SECRET), user("bob", {"team-a": "viewer"})],
            "mfa": {"roles": ["admin"]},
            "oidc": {
                "issuer": provider.issuer,
                "audience": ["alertstream"],
                "roles": {"sre": {"*": "admin"}},
            },
        }
    )
    # basic auth is one factor: the admin role asks to step up, viewer does not
    response = await server.get("/admin", headers=ANN)
    assert response.status == 401
    assert "insufficient_user_authentication" in response.headers["WWW-Authenticate"]
    assert (await server.get("/read", headers=basic("bob"))).status == 200
    # the login: every missing field named, wrong code, then a session with mfa
    response = await server.post(LOGIN, json={"user": "ann"})
    assert response.status == 400
    assert (await response.json())["error"] == "password: required string; code: required string"
    totp = pyotp.TOTP(SECRET)
    wrong = str((int(totp.now()) + 1) % 1_000_000).zfill(6)
    body = {"user": "ann", "password": "s3cret", "code": wrong}
    assert (await server.post(LOGIN, json=body)).status == 401
    for name, password in (("ann", "nope"), ("nobody", "s3cret"), ("bob", "s3cret")):
        body = {"user": name, "password": password, "code": totp.now()}
        assert (await server.post(LOGIN, json=body)).status == 401, name
    body = {"user": "ann", "password": "s3cret", "code": totp.now()}
    response = await server.post(LOGIN, json=body)
    assert response.status == 200
    session = await response.json()
    assert session["mfa"] is True
    response = await server.get("/admin", headers=bearer(session["token"]))
    assert response.status == 200
    assert (await response.json())["id"] == "session:ann"
    assert (await server.post(LOGIN, json=body)).status == 401  # the code was used
    tampered = session["token"][:-2] + ("AA" if session["token"][-2:] != "AA" else "BB")
    assert (await server.get("/admin", headers=bearer(tampered))).status == 401
    # OIDC: amr shows the second factor, or the request is asked to step up
    assert (await server.get("/admin", headers=bearer(provider.token()))).status == 200
    response = await server.get("/admin", headers=bearer(provider.token(amr=["pwd"])))
    assert response.status == 401
    assert "second factor" in (await response.json())["error"]


def forwarded(chain: str) -> dict[str, str]:
    return {"X-Forwarded-For": chain, **ANN}


async def test_ip_filter_through_a_trusted_proxy(client: Client) -> None:
    # the test client connects from 127.0.0.1: here it plays our reverse proxy
    server = await client(
        {
            "users": [user()],
            "ip_filter": {
                "allow": ["198.51.100.0/24"],
                "deny": ["198.51.100.66"],
                "trusted_proxies": ["127.0.0.1", "10.0.0.0/8"],
            },
        }
    )
    expected = {
        "198.51.100.7": 200,
        "203.0.113.5": 403,
        "198.51.100.66": 403,  # denied inside the allowed block
        "203.0.113.5, 198.51.100.7, 10.1.2.3": 200,  # right-most untrusted: .7
        "198.51.100.7, 203.0.113.5": 403,  # the client wrote .7 itself
        "not-an-address": 400,
    }
    for chain, status in expected.items():
        assert (await server.get("/read", headers=forwarded(chain))).status == status, chain
    assert (await server.get("/read", headers=ANN)).status == 403  # the proxy itself: not allowed


async def test_ip_filter_through_an_untrusted_proxy(client: Client) -> None:
    server = await client(
        {
            "users": [user(), user("eve", allow_from=["192.0.2.0/24"])],
            "ip_filter": {
                "allow": ["198.51.100.0/24", "127.0.0.1"],
                "trusted_proxies": ["10.0.0.1"],
            },
        }
    )
    # 127.0.0.1 is not a trusted proxy: its X-Forwarded-For is ignored, whatever it says
    response = await server.get("/read", headers=forwarded("203.0.113.5"))
    assert response.status == 200
    assert (await response.json())["id"] == "basic:ann"
    # a user allowed from elsewhere only is refused here, with the right password
    status, error = await status_and_error(server, "/read", headers=basic("eve"))
    assert status == 403 and "basic:eve may not be used from 127.0.0.1" in error


async def test_rate_limits_answer_429_and_recover(client: Client) -> None:
    server = await client(
        {
            "users": [user(), user("bob", {"team-a": "viewer"}), user("cy", {"team-a": "viewer"})],
            "rate_limits": {
                "credential": {"rate": 20, "burst": 3},
                "tenant": {"rate": 20, "burst": 4},
            },
        }
    )
    statuses = [(await server.get("/read", headers=ANN)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = await server.get("/read", headers=ANN)
    assert response.status == 429
    assert response.headers["Retry-After"] == "1"
    await asyncio.sleep(0.06)  # one request's worth at 20/s
    assert (await server.get("/read", headers=ANN)).status == 200
    # team-a's bucket (4) is shared by its users: bob takes 3, cy gets 1 and then 429
    bob, cy = basic("bob"), basic("cy")
    assert [(await server.get("/read", headers=bob)).status for _ in range(3)] == [200] * 3
    assert [(await server.get("/read", headers=cy)).status for _ in range(2)] == [200, 429]
    response = await server.get("/read", headers=cy)
    assert "tenant team-a" in (await response.json())["error"]


async def test_address_limit_slows_guessing(client: Client) -> None:
    server = await client({"users": [user()], "rate_limits": {"address": {"rate": 1, "burst": 3}}})
    guesses = [basic("ann", f"guess{n}") for n in range(4)]
    statuses = [(await server.get("/read", headers=guess)).status for guess in guesses]
    assert statuses == [401, 401, 401, 429]
    body = {"user": "ann", "password": "s3cret", "code": "123456"}
    assert (await server.post(LOGIN, json=body)).status == 429


def test_request_limiter_forgets_full_buckets_only() -> None:
    from app.access_guards import RequestLimiter
    from channels.rate_limit import RateLimit

    now = [0.0]
    limiter = RequestLimiter(RateLimit(rate=1.0, burst=2.0), clock=lambda: now[0], keep=2)
    assert [limiter.wait("a"), limiter.wait("a"), limiter.wait("a")] == [0.0, 0.0, 1.0]
    assert limiter.wait("b") == 0.0
    now[0] = 1.5  # b is full again, a is not (it was 1 short and got 1.5)
    assert limiter.wait("c") == 0.0  # a third key: the full ones are forgotten first
    assert sorted(limiter.buckets) == ["a", "c"]
    assert limiter.wait("a") == 0.0 and limiter.wait("a") == pytest.approx(0.5)


async def test_jwks_url_given_or_discovery_naming_another_issuer(
    client: Client, provider: Provider
) -> None:
    oidc = {
        "issuer": provider.issuer,
        "audience": ["alertstream"],
        "roles": {"sre": {"*": "viewer"}},
    }
    server = await client({"oidc": {**oidc, "jwks_url": f"{provider.issuer}/keys"}})
    assert (await server.get("/read", headers=bearer(provider.token()))).status == 200
    assert provider.served == ["k0"]  # no discovery
    # a provider whose discovery document names another issuer is not believed
    server = await client({"oidc": {**oidc, "issuer": provider.issuer + "/"}})
    token = provider.token(iss=provider.issuer + "/")
    status, error = await status_and_error(server, "/read", headers=bearer(token))
    assert status == 401 and "not ours" in error, error


async def test_a_method_the_view_does_not_serve_is_405_with_allow_for_anyone(
    client: Client,
) -> None:
    server = await client({"users": [user()]})
    for headers in ({}, ANN, basic("ann", "wrong")):
        for method, path, allow in (
            ("HEAD", "/post", "POST"),  # routed (Faust routes HEAD everywhere), no GET
            ("PUT", "/post", "POST"),  # not routed: aiohttp's 405, its HEAD dropped too
            ("DELETE", "/read", "GET, HEAD"),
            ("HEAD", LOGIN, "POST"),
        ):
            response = await server.request(method, path, headers=headers)
            assert (response.status, response.headers.get("Allow")) == (405, allow), (
                method,
                path,
                headers,
            )
    # the methods it serves still ask for a credential
    assert (await server.head("/read")).status == 401
    assert (await server.head("/read", headers=ANN)).status == 200
    assert (await server.post("/post")).status == 401


async def test_the_loopback_admin_without_credentials_counts_as_mfa(client: Client) -> None:
    server = await client({"mfa": {"roles": ["admin"]}})  # and no credential configured
    response = await server.get("/admin")
    assert response.status == 200
    assert await response.json() == {"id": "local", "mfa": True, "tenant": None}


async def test_failed_authentications_per_address_get_429_and_recover(client: Client) -> None:
    assert AccessConfig().rate_limits.failed_auth.limit == 10  # on by default
    server = await client(
        {
            "users": [user()],
            "rate_limits": {"failed_auth": {"limit": 3, "window": "300ms"}},
        }
    )
    # successful requests, and requests without a credential, never count
    for _ in range(12):
        assert (await server.get("/read", headers=ANN)).status == 200
        assert (await server.get("/read")).status == 401
    wrong = basic("ann", "guess")
    assert [(await server.get("/read", headers=wrong)).status for _ in range(2)] == [401] * 2
    body = {"user": "ann", "password": "guess", "code": "123456"}
    assert (await server.post(LOGIN, json=body)).status == 401  # the third failure
    for headers in (wrong, ANN):  # the right password too: it would tell the guesser
        response = await server.get("/read", headers=headers)
        assert response.status == 429 and response.headers["Retry-After"] == "1"
        assert "failed authentications from 127.0.0.1" in (await response.json())["error"]
    assert (await server.post(LOGIN, json=body)).status == 429
    assert (await server.get("/health")).status == 200  # public pages read without one
    await asyncio.sleep(0.35)  # the window has passed
    assert (await server.get("/read", headers=ANN)).status == 200


async def test_reload_swaps_users_lists_and_limits_and_keeps_them_on_a_bad_file(
    client: Client, tmp_path: Any
) -> None:
    server = await client({"users": [user()]})
    control = server.app[CONTROL]
    path = tmp_path / "pipelines.yaml"

    def write(access: str) -> None:
        path.write_text(f"route:\n  receiver: ops\nreceivers:\n  - name: ops\naccess:\n{access}")

    bob = f"    - name: bob\n      password_hash: {PASSWORD_HASH}\n      roles: {{acme: viewer}}\n"
    write(f"  users:\n{bob}  rate_limits:\n    credential: {{rate: 0.2, burst: 2}}\n")
    assert control.reload(str(path)) == []
    assert (await server.get("/read", headers=ANN)).status == 401  # ann is gone
    statuses = [(await server.get("/read", headers=basic("bob"))).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    write(f"  users:\n{bob.replace('viewer', 'overlord')}  ip_filter: {{deny: [nonsense]}}\n")
    errors = control.reload(str(path))
    assert len(errors) == 2 and all(e.startswith(f"{path}:") for e in errors), errors
    assert "overlord" in errors[0] + errors[1] and "nonsense" in errors[0] + errors[1]
    assert (await server.get("/read", headers=basic("bob"))).status == 429  # still limited
    write(f"  users:\n{bob}  ip_filter: {{deny: [127.0.0.0/8]}}\n")
    assert control.reload(str(path)) == []
    status, error = await status_and_error(server, "/read", headers=basic("bob"))
    assert status == 403 and "127.0.0.1 is not allowed" in error
