"""`alertstream run` (what `make run` calls): broker, worker and demo traffic in one go.

Starts the embedded broker, a loopback webhook receiver and a loopback SMTP server
that print one line per notification, a worker with a copy of the given
pipelines.yaml to which an email receiver is added (so both channels deliver), and a
producer of cpu_usage samples in which web-1 runs hot for 30 s of every 60 s, so
HighCpu fires and resolves.  Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web
from aiosmtpd.controller import Controller

from app.broker import free_port, start_broker, stop_process
from app.client import AlertsSystem, get_alerts_system
from app.token_cli import TokenTopic, create


def _line(payload: dict) -> str:
    alerts = payload.get("alerts", [])
    names = ", ".join(
        f"{a['labels'].get('alertname')}{{host={a['labels'].get('host', '')}}}"
        f" {a['annotations'].get('summary', '')}"
        for a in alerts
    )
    stamp = time.strftime("%H:%M:%S")
    status = payload.get("status", "?").upper()
    return f"{stamp}  [{status:8}] receiver={payload.get('receiver')} {names}"


async def _receiver(port: int) -> web.AppRunner:
    async def hook(request: web.Request) -> web.Response:
        print(_line(await request.json()), flush=True)
        return web.Response(status=200)

    webapp = web.Application()
    webapp.router.add_post("/hook", hook)
    runner = web.AppRunner(webapp)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


class _PrintMail:
    """aiosmtpd handler: one terminal line per email received."""

    async def handle_DATA(self, server, session, envelope) -> str:
        subject = next(
            (
                line[9:]
                for line in envelope.content.decode(errors="replace").splitlines()
                if line.startswith("Subject: ")
            ),
            "",
        )
        print(
            f"{time.strftime('%H:%M:%S')}  [EMAIL   ] to={','.join(envelope.rcpt_tos)} "
            f"subject={subject!r}",
            flush=True,
        )
        return "250 OK"


def _with_email(pipelines: str, smtp_port: int, out: Path) -> Path:
    """A copy of pipelines.yaml whose route also sends every group to a demo mailbox."""
    config = yaml.safe_load(Path(pipelines).read_text())
    config["receivers"].append(
        {
            "name": "demo-email",
            "email_configs": [
                {
                    "to": "oncall@demo.local",
                    "from": "alertstream@demo.local",
                    "smarthost": f"127.0.0.1:{smtp_port}",
                    "require_tls": False,
                    "send_resolved": True,
                }
            ],
        }
    )
    route = config["route"]
    route["routes"] = [
        {"receiver": "demo-email", "continue": True},
        *route.get("routes", []),
        {"receiver": route["receiver"]},
    ]
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


async def _wait_healthy(
    url: str, proc: subprocess.Popen[bytes], stop: asyncio.Event, timeout: float = 120
) -> bool:
    """True once the worker answers /healthz; False if stopped (Ctrl-C) before that."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("the worker exited; see its log")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url + "/healthz") as r:
                    if r.status == 200:
                        return True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
                return False
    raise TimeoutError("the worker did not become healthy")


async def _traffic(client: AlertsSystem, stop: asyncio.Event) -> None:
    start = time.time()
    while not stop.is_set():
        now = time.time()
        hot = (now - start) % 60 < 30
        batch = [
            {
                "tenant": "demo",
                "name": "cpu_usage",
                "labels": {"env": "production", "host": host},
                "value": value,
                "ts": now,
            }
            for host, value in (
                ("web-1", 96.0 if hot else 20.0 + 5 * math.sin(now)),
                ("web-2", 40.0 + 10 * math.sin(now / 7)),
                ("web-3", 55.0),
            )
        ]
        await asyncio.to_thread(client.send_metrics, batch)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)


async def _run(pipelines: str, data_dir: Path) -> int:
    """Start everything, feed samples until Ctrl-C, then stop in the reverse order: the
    worker and the producer before the broker they talk to.  The broker and the worker
    run in sessions of their own, so Ctrl-C reaches only this process."""
    data_dir.mkdir(parents=True, exist_ok=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as running:
        running.callback(print, "stopped.")
        broker_port, web_port, hook_port, smtp_port = (free_port() for _ in range(4))
        broker_proc = start_broker(broker_port, log_path=str(data_dir / "broker.log"))
        running.callback(stop_process, broker_proc, 5)
        broker = f"kafka://127.0.0.1:{broker_port}"
        running.push_async_callback((await _receiver(hook_port)).cleanup)
        smtp = Controller(_PrintMail(), hostname="127.0.0.1", port=smtp_port)
        smtp.start()
        running.callback(smtp.stop)
        demo_pipelines = _with_email(pipelines, smtp_port, data_dir / "pipelines.demo.yaml")
        env = {
            **os.environ,
            "ALERTSTREAM_BROKER": broker,
            "ALERTSTREAM_PIPELINES": str(demo_pipelines),
            "ALERTSTREAM_DATA_DIR": str(data_dir / f"worker-{broker_port}"),
            "ALERTSTREAM_WEB_PORT": str(web_port),
            "ALERT_WEBHOOK_URL": f"http://127.0.0.1:{hook_port}/hook",
        }
        log = running.enter_context(open(data_dir / "worker.log", "ab"))  # noqa: SIM115
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "--loglevel", "info"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        running.callback(stop_process, worker, 15)
        client = get_alerts_system({"broker": broker})
        running.callback(client.producer.close)
        running.callback(client.close)
        print(f"broker   {broker} (embedded Tansu; log {data_dir / 'broker.log'})")
        print(f"smtp     127.0.0.1:{smtp_port} (aiosmtpd; demo config {demo_pipelines})")
        print(
            f"worker   http://127.0.0.1:{web_port}  (/healthz, /api/v1/alerts?tenant=demo, "
            f"/table/alerts/?tenant=demo, /metrics; log {data_dir / 'worker.log'})"
        )
        print(  # the demo config has an analytics: section
            f"         /api/v1/analytics?tenant=demo&by=rule, /api/v1/recommendations?tenant=demo,"
            f" alertstream report sla --tenant demo --period {time.strftime('%Y-%m')}"
        )
        print(  # what app.client reads when the seed's examples name no address
            f"client   export ALERTSTREAM_BROKER={broker} ALERTSTREAM_URL=http://127.0.0.1:{web_port}"
        )
        print("starting the worker...", flush=True)
        try:
            if await _wait_healthy(f"http://127.0.0.1:{web_port}", worker, stop):
                await asyncio.to_thread(_admin_token, broker, web_port, data_dir)
                print(
                    "ready: web-1 runs hot for 30 s of every minute; notifications below "
                    "(Ctrl-C stops)\n",
                    flush=True,
                )
                await _traffic(client, stop)
        except (RuntimeError, TimeoutError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return 0


def _admin_token(broker: str, web_port: int, data_dir: Path) -> None:
    """An admin token for the demo (the worker serves no one without a credential once
    one exists), printed with the curl and amtool lines that use it."""
    token, record = create(TokenTopic.from_env(broker), {"*": "admin"}, "make run")
    http_config = data_dir / "amtool-http.yml"
    http_config.write_text(f"authorization:\n  credentials: {token}\n")
    http_config.chmod(0o600)
    url = f"http://127.0.0.1:{web_port}"
    print(f"token    {token}  (admin of every tenant, id {record.id}; shown once)")
    print(f'         curl -H "Authorization: Bearer {token}" {url}/api/v2/alerts')
    print(f"         amtool --alertmanager.url={url} --http.config.file={http_config} alert")
    print(f"         export ALERTSTREAM_TOKEN={token}  (for alertstream config/incidents)")


def run_demo(pipelines: str = "pipelines.yaml", data_dir: str = ".run") -> int:
    return asyncio.run(_run(pipelines, Path(data_dir)))
