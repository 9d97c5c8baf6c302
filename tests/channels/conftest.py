"""Loopback peers that speak the real services' protocols, and notification factories."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from models.alerting.alert import Alert
from models.notify.notification import Notification

NOW = 1_700_000_000.0


class Peer:
    """An aiohttp server on 127.0.0.1 (free port) recording requests; ``handler`` decides
    each answer: ``handler(request_record) -> web.Response``."""

    def __init__(self, handler: Callable[[dict[str, Any]], web.Response] | None = None):
        self.handler = handler or (lambda rec: web.Response(status=200, text="ok"))
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        rec: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": body,
            "at": time.monotonic(),
        }
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("application/json"):
            rec["json"] = orjson.loads(body)
        elif ctype.startswith("application/x-www-form-urlencoded"):
            rec["form"] = dict((await request.post()).items())
        self.requests.append(rec)
        result = self.handler(rec)
        if asyncio.iscoroutine(result):
            result = await result
        return result

    async def start(self) -> Peer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


@pytest.fixture
async def peer() -> AsyncIterator[Callable[..., Any]]:
    peers: list[Peer] = []

    async def make(handler=None) -> Peer:
        p = await Peer(handler).start()
        peers.append(p)
        return p

    yield make
    for p in peers:
        await p.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def alert(
    name: str = "HighCPU",
    severity: str = "critical",
    status: str = "firing",
    tenant: str = "acme",
    **labels: str,
) -> dict[str, Any]:
    a = Alert(
        tenant=tenant,
        labels={"alertname": name, "severity": severity, "tenant": tenant, **labels},
        annotations={
            "summary": f"{name} on {labels.get('instance', 'web-1')}",
            "runbook_url": "https://runbooks.example/cpu",
        },
        status=status,
        starts_at=NOW - 600,
        ends_at=NOW - 5 if status == "resolved" else 0.0,
        generator_url="http://prometheus.example/graph?g0.expr=cpu",
    )
    return a.to_webhook(NOW)


def make_notification(
    channel: str = "webhook",
    status: str = "firing",
    *,
    receiver: str = "ops",
    integration: int = 0,
    n_alerts: int = 1,
    id: str = "n-1",
    group_key: str = '{}/{severity="critical"}:{alertname="HighCPU"}',
    severity: str = "critical",
    extra: dict[str, Any] | None = None,
) -> Notification:
    alerts = [
        alert(severity=severity, status=status, instance=f"web-{i + 1}") for i in range(n_alerts)
    ]
    return Notification(
        id=id,
        tenant="acme",
        receiver=receiver,
        channel=channel,
        integration=integration,
        group_key=group_key,
        group_labels={"alertname": "HighCPU"},
        alerts=alerts,
        reason="first_notification" if status == "firing" else "all_resolved",
        external_url="http://alertstream.example",
        created_at=NOW,
        extra=extra or {},
    )


@pytest.fixture
def notification() -> Callable[..., Notification]:
    return make_notification
