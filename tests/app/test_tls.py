"""The worker's HTTP API over TLS, one real worker: TLS 1.3 only, client certificates
required (mTLS), the certificate reloaded on SIGHUP, and the command line's client
reaching it over https. The same worker shows the outbound policy in place: a receiver
a tenant set at a loopback address is refused, the operator's is delivered."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
from pathlib import Path

import aiohttp
import pytest

from app.worker_api import call
from tests.conftest import eventually
from tests.tls_certs import CA, Pair

PIPELINES = """
route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}
receivers: [{name: hook, webhook_configs: [{url: "${HOOK}"}]}]
"""


def client_tls(ca: CA, pair: Pair | None, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(ca.path))
    if maximum is not None:
        context.maximum_version = maximum
    if pair is not None:
        context.load_cert_chain(str(pair.cert), str(pair.key))
    return context


async def served_name(port: int, context: ssl.SSLContext) -> str:
    """The common name of the certificate the worker presents now."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        subject = writer.get_extra_info("ssl_object").getpeercert()["subject"]
        return dict(x[0] for x in subject)["commonName"]
    finally:
        writer.close()


async def get(url: str, context: ssl.SSLContext) -> int:
    async with aiohttp.ClientSession() as http, http.get(url, ssl=context) as r:
        return r.status


async def test_tls13_mtls_reload_and_outbound_policy(make_worker, receiver, tmp_path, monkeypatch):
    ca = CA(tmp_path)
    server = ca.issue("worker")
    client = ca.issue("client", client=True)
    worker = make_worker(
        PIPELINES,
        {
            "ALERTSTREAM_TLS_CERT": str(server.cert),
            "ALERTSTREAM_TLS_KEY": str(server.key),
            "ALERTSTREAM_TLS_CLIENT_CA": str(ca.path),
            "HOOK": receiver.url,
        },
    )
    worker.start()
    base = f"https://127.0.0.1:{worker.port}"
    good = client_tls(ca, client)

    async def up() -> bool:
        assert worker.proc and worker.proc.poll() is None, worker.log()
        try:
            return await get(base + "/healthz", good) == 200
        except (aiohttp.ClientError, OSError):
            return False

    assert await eventually(up, timeout=90, every=0.3), worker.log()

    # other workers are told to reach this one by https (Faust's router, once assigned)
    async def routed() -> bool:
        async with aiohttp.ClientSession() as http, http.get(base + "/router/", ssl=good) as r:
            return f'"{base}"' in await r.text()

    assert await eventually(routed, timeout=30)

    # a TLS 1.2 client is refused at the handshake (an alert, or the connection reset)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await served_name(worker.port, client_tls(ca, client, ssl.TLSVersion.TLSv1_2))
    # TLS 1.3 without a client certificate: the server refuses it (after the handshake)
    with pytest.raises((aiohttp.ClientError, ssl.SSLError, ConnectionError)):
        await get(base + "/healthz", client_tls(ca, None))
    # plain http to the TLS port gets nothing
    with pytest.raises(aiohttp.ClientError):
        await get(f"http://127.0.0.1:{worker.port}/healthz", good)

    # the command line's client over https with the CA and its own certificate
    monkeypatch.setenv("ALERTSTREAM_TLS_CA", str(ca.path))
    monkeypatch.setenv("ALERTSTREAM_TLS_CLIENT_CERT", str(client.cert))
    monkeypatch.setenv("ALERTSTREAM_TLS_CLIENT_KEY", str(client.key))
    status, _ = await asyncio.to_thread(call, base + "/api/v1/config/acme", "GET")
    assert status in (200, 404)  # answered: acme has no config of its own

    # acme sets its own receiver at the operator's (loopback) receiver: refused
    own = f"""
route: {{receiver: own, group_by: [alertname], group_wait: 0s}}
receivers: [{{name: own, webhook_configs: [{{url: "{receiver.url}"}}]}}]
"""
    url = base + "/api/v1/config/acme"
    status, answer = await asyncio.to_thread(call, url, "PUT", own.encode())
    assert status == 200 and answer["data"]["applied"], answer
    async with aiohttp.ClientSession() as http:
        for tenant in ("acme", "globex"):
            body = [{"labels": {"alertname": f"Probe-{tenant}"}}]
            headers = {"X-Scope-OrgID": tenant}
            async with http.post(
                base + "/api/v2/alerts", json=body, headers=headers, ssl=good
            ) as r:
                assert r.status == 200, await r.text()
    refused = "refused by the outbound policy: 127.0.0.1 is loopback"
    assert await eventually(lambda: refused in worker.log(), timeout=30), worker.log()
    assert await eventually(lambda: receiver.names["Probe-globex"] == 1, timeout=30)
    assert receiver.names["Probe-acme"] == 0  # its refusal was logged before this

    # SIGHUP: the new certificate is served on new connections, the worker lives on
    assert await served_name(worker.port, good) == "worker"
    assert await eventually(lambda: "configs read" in worker.log(), timeout=60)  # handler set
    renewed = ca.issue("worker-renewed")
    server.key.write_bytes(renewed.key.read_bytes())
    server.cert.write_bytes(renewed.cert.read_bytes())
    os.kill(worker.proc.pid, signal.SIGHUP)  # type: ignore[union-attr]

    async def reloaded() -> bool:
        return await served_name(worker.port, good) == "worker-renewed"

    assert await eventually(reloaded, timeout=20), worker.log()
    assert await get(base + "/healthz", good) == 200 and worker.proc.poll() is None  # type: ignore[union-attr]


def test_a_bad_pair_exits_2_with_the_reason(tmp_path: Path, capsys, monkeypatch):
    from app.cli import main

    # the worker command writes its settings into os.environ: keep them from later tests
    monkeypatch.setattr(os, "environ", dict(os.environ))
    pipelines = tmp_path / "pipelines.yaml"
    pipelines.write_text(PIPELINES.replace("${HOOK}", "http://127.0.0.1:9/hook"))
    ca = CA(tmp_path)
    one, other = ca.issue("one"), ca.issue("other")
    base = ["worker", "--pipelines", str(pipelines)]
    assert main([*base, "--tls-cert", str(one.cert)]) == 2
    assert "--tls-cert and --tls-key go together" in capsys.readouterr().err
    assert main([*base, "--tls-cert", str(one.cert), "--tls-key", str(other.key)]) == 2
    assert "TLS: " in capsys.readouterr().err  # the key does not match the certificate
    assert main([*base, "--tls-cert", str(tmp_path / "none.crt"), "--tls-key", "k"]) == 2
    assert "No such file" in capsys.readouterr().err
