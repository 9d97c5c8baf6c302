"""Reads answered across workers: by the worker that owns the named tenant (the
request is forwarded there), or gathered from every worker when none is named."""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from typing import Any

import aiohttp
import orjson
from faust.web import Request

from app.faust_app import app
from app.settings import settings
from app.tls import client_context
from app.web import tenant_of
from tables import alerts as alerts_table

LOCAL = "X-Alertstream-Local"  # set on forwarded requests: answer from this worker only


def _self_url() -> str:
    return str(app.conf.canonical_url).rstrip("/")


def _workers() -> list[str]:
    urls = {str(u).rstrip("/") for u in app.router.tables_metadata()}
    urls.add(_self_url())
    return sorted(urls)


def owner_url(tenant: str) -> str | None:
    """The URL of the worker that owns the tenant's partition; None if it is this one
    (or no owner is known yet)."""
    me = _self_url()
    try:
        owner = str(app.router.key_store(alerts_table.table.name, tenant.encode())).rstrip("/")
    except (KeyError, IndexError):
        return None
    return None if owner == me else owner


def _peer_tls() -> ssl.SSLContext:
    """How this worker reaches another over TLS: ALERTSTREAM_TLS_CA, its own pair under
    mTLS (built again only when the certificate file changed: SIGHUP renewals)."""
    stamp = os.stat(settings.tls_cert).st_mtime_ns if settings.tls_cert else 0
    return _peer_context(stamp)


@functools.lru_cache(maxsize=1)
def _peer_context(stamp: int) -> ssl.SSLContext:
    return client_context(os.environ, settings)


def _peer_headers(request: Request) -> dict[str, str]:
    headers = {LOCAL: "1"}  # the caller's credential goes along: the owner checks it again
    if tenant := tenant_of(request):
        headers["X-Scope-OrgID"] = tenant
    if request.headers.get("Authorization"):
        headers["Authorization"] = request.headers["Authorization"]
    return headers


async def _fetch(url: str, request: Request) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            url + request.path_qs,
            headers=_peer_headers(request),
            timeout=aiohttp.ClientTimeout(10),
            ssl=_peer_tls() if url.startswith("https:") else True,
        ) as r,
    ):
        return await r.json(loads=orjson.loads)


async def forward(url: str, request: Request, body: bytes) -> tuple[int, bytes]:
    """A change the owning worker at ``url`` must make (a POST with a JSON body), with
    the caller's credential: its status and body."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url + request.path_qs,
            data=body,
            headers={**_peer_headers(request), "Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(30),
            ssl=_peer_tls() if url.startswith("https:") else True,
        ) as r,
    ):
        return r.status, await r.read()


async def gathered(request: Request, local: Any) -> list[Any]:
    """This worker's answer (a list) plus every other worker's, or the owner's alone
    when a tenant is named."""
    if request.headers.get(LOCAL):
        return local()
    me = _self_url()
    tenant = tenant_of(request)
    if tenant:
        owner = owner_url(tenant)
        return local() if owner is None else await _fetch(owner, request)
    others = [u for u in _workers() if u != me]
    out = list(local())
    for part in await asyncio.gather(*(_fetch(u, request) for u in others), return_exceptions=True):
        if isinstance(part, list):
            out.extend(part)
    return out
