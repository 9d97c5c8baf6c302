"""The login, MFA step-up, trusted-proxy IP filter and rate limit on a real worker: what
``app.access.install`` wires into Faust's web server (the chain's logic itself is
tested in-process in test_access_guards.py)."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pyotp

from models.access.passwords import hash_password

SECRET = pyotp.random_base32()
PIPELINES = """
route:
  receiver: ops
receivers:
  - name: ops
access:
  users:
    - name: ann
      password_hash: "{hash}"
      roles: {{"*": admin}}
      totp_secret: {secret}
    - name: bob
      password_hash: "{hash}"
      roles: {{acme: viewer}}
  mfa: {{roles: [admin]}}
  sessions: {{key: "{key}", ttl: 5m}}
  ip_filter:
    allow: [127.0.0.1, 198.51.100.0/24]
    trusted_proxies: [127.0.0.1]
  rate_limits:
    credential: {{rate: 0.1, burst: 4}}  # a token per 10 s
"""


def basic(name: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:pw".encode()).decode()}


async def test_login_step_up_proxy_and_rate_limit_on_a_worker(make_worker: Any) -> None:
    worker = make_worker(
        PIPELINES.format(hash=hash_password("pw", n=16, r=1, p=1), secret=SECRET, key="k" * 32)
    )
    worker.start()
    await worker.ready()

    async with aiohttp.ClientSession(base_url=worker.url) as http:

        async def get(path: str, headers: dict[str, str]) -> tuple[int, Any]:
            async with http.get(path, headers=headers) as r:
                return r.status, await r.json()

        # ann holds admin: basic auth alone is asked to step up; bob (viewer) is not
        status, body = await get("/api/v2/status", basic("ann"))
        assert status == 401 and "second factor" in body["error"], body
        assert (await get("/api/v2/status", basic("bob")))[0] == 200
        login = {"user": "ann", "password": "pw", "code": pyotp.TOTP(SECRET).now()}
        async with http.post("/api/v1/login", json=login) as r:
            assert r.status == 200, await r.text()
            session = {"Authorization": f"Bearer {(await r.json())['token']}"}
        assert (await get("/api/v2/status", session))[0] == 200
        # behind our proxy (the test is 127.0.0.1): the forwarded client is filtered
        outside = {**session, "X-Forwarded-For": "203.0.113.5"}
        status, body = await get("/api/v2/status", outside)
        assert status == 403 and "203.0.113.5" in body["error"]
        inside = {**session, "X-Forwarded-For": "203.0.113.5, 198.51.100.7"}
        assert (await get("/api/v2/status", inside))[0] == 200
        # the session's burst is 4 and it has made 2 counted requests (the IP filter
        # refused one before the limit counts): two more, then 429
        statuses = [(await get("/api/v2/status", session))[0] for _ in range(3)]
        assert statuses == [200, 200, 429]
        async with http.get("/api/v2/status", headers=session) as r:
            assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
        assert (await get("/api/v2/status", basic("bob")))[0] == 200  # its own bucket
