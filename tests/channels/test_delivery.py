import asyncio
import collections
import socket
import time

import orjson
from aiohttp import web
from conftest import make_notification

from app.config.receivers import Receiver
from channels.delivery import (
    BreakerPolicy,
    Deliverer,
    DeliveryPolicy,
    RateLimit,
    RetryPolicy,
)

FAST = RetryPolicy(initial=0.05, factor=2.0, max_delay=0.2, budget=10.0)


def policy(**kw):
    return DeliveryPolicy(
        retry=kw.pop("retry", FAST),
        breaker=kw.pop("breaker", BreakerPolicy(threshold=100, cooldown=0.2)),
        rate_limit=kw.pop("rate_limit", RateLimit(rate=0)),
        **kw,
    )


def webhook_receiver(url, name="ops"):
    return Receiver(name=name, webhook_configs=[{"url": url}])


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/hook"


async def test_outage_then_recovery_delivers_each_notification_exactly_once(peer, session):
    accepted = collections.Counter()
    down_until = time.monotonic() + 0.6

    def flaky(rec):
        if time.monotonic() < down_until:
            return web.Response(status=500, text="boom")
        accepted[rec["headers"]["Idempotency-Key"]] += 1
        return web.Response(status=200)

    p = await peer(flaky)
    d = Deliverer({"ops": webhook_receiver(p.url())}, session, policy())
    notes = [make_notification(id=f"id-{i}", group_key=f"g{i}") for i in range(10)]
    receipts = await asyncio.gather(*(d.deliver(n) for n in notes))
    assert [r.status for r in receipts] == ["delivered"] * 10
    assert accepted == {f"id-{i}": 1 for i in range(10)}
    assert all(r.attempts > 1 for r in receipts)
    assert len(p.requests) > 10  # the 500s were really seen


async def test_retry_after_is_honoured(peer, session):
    def throttle_once(rec):
        if len(p.requests) == 1:
            return web.Response(status=429, headers={"Retry-After": "1"})
        return web.Response(status=200)

    p = await peer(throttle_once)
    d = Deliverer({"ops": webhook_receiver(p.url())}, session, policy())
    receipt = await d.deliver(make_notification())
    assert receipt.status == "delivered" and receipt.attempts == 2
    gap = p.requests[1]["at"] - p.requests[0]["at"]
    assert gap >= 0.95, gap


async def test_400_dead_letters_at_once_and_replay_delivers_after_the_fix(peer, session):
    broken = True

    def strict(rec):
        return web.Response(status=400, text="bad schema") if broken else web.Response(status=204)

    p = await peer(strict)
    d = Deliverer({"ops": webhook_receiver(p.url())}, session, policy())
    n = make_notification(id="dl-1")
    receipt = await d.deliver(n)
    assert (receipt.status, receipt.attempts, receipt.http_status) == ("dead", 1, 400)
    assert "bad schema" in receipt.last_error
    dl = receipt.dead_letter
    assert dl["reason"] == "rejected" and dl["notification"] == n.to_wire()
    assert dl["rendered"]["headers"]["Idempotency-Key"] == "dl-1"
    dl = orjson.loads(orjson.dumps(dl))  # it goes through Kafka as JSON

    broken = False
    again = await d.replay(dl)
    assert again.status == "delivered" and again.attempts == 1
    assert len(p.requests) == 2
    assert p.requests[1]["body"] == p.requests[0]["body"]  # the stored request, byte for byte
    assert p.requests[1]["json"] == n.payload()


async def test_breaker_opens_on_a_dead_endpoint_while_others_deliver_promptly(peer, session):
    good = await peer()
    receivers = {
        "dead": webhook_receiver(closed_port_url(), "dead"),
        "good": webhook_receiver(good.url(), "good"),
    }
    pol = policy(
        retry=RetryPolicy(initial=0.05, factor=2.0, max_delay=0.1, budget=1.5),
        breaker=BreakerPolicy(threshold=3, cooldown=10.0),
    )
    d = Deliverer(receivers, session, pol)
    dead = [
        asyncio.create_task(d.deliver(make_notification(receiver="dead", id=f"d{i}")))
        for i in range(5)
    ]
    await asyncio.sleep(0.3)  # by now the breaker is open
    (breaker,) = [b for dest, b in d.breakers.items() if dest != good.base]
    assert breaker.state == "open"
    start = time.monotonic()
    ok = await asyncio.gather(
        *(d.deliver(make_notification(receiver="good", id=f"g{i}")) for i in range(5))
    )
    assert [r.status for r in ok] == ["delivered"] * 5
    assert time.monotonic() - start < 0.5
    results = await asyncio.gather(*dead)
    assert all(r.status == "failed" and r.dead_letter for r in results)  # never dropped
    assert {r.dead_letter["reason"] for r in results} <= {"circuit_open", "retry_budget_exhausted"}
    assert sum(r.attempts for r in results) <= 3 + 5  # the open breaker stopped hammering


async def test_half_open_probe_closes_the_breaker_after_recovery(peer, session):
    up = False
    p = await peer(lambda rec: web.Response(status=200 if up else 503))
    pol = policy(breaker=BreakerPolicy(threshold=2, cooldown=0.3))
    d = Deliverer({"ops": webhook_receiver(p.url())}, session, pol)
    task = asyncio.create_task(d.deliver(make_notification()))
    await asyncio.sleep(0.2)
    assert d.breakers[p.base].state == "open"
    up = True
    receipt = await task
    assert receipt.status == "delivered"
    assert d.breakers[p.base].state == "closed"


async def test_rate_limit_per_receiver(peer, session):
    p = await peer()
    pol = policy(receiver_rate_limits={"ops": RateLimit(rate=10, burst=1)})
    d = Deliverer(
        {"ops": webhook_receiver(p.url()), "other": webhook_receiver(p.url(), "other")},
        session,
        pol,
    )
    start = time.monotonic()
    await asyncio.gather(*(d.deliver(make_notification(id=f"r{i}")) for i in range(5)))
    assert time.monotonic() - start >= 0.35  # 1 burst + 4 at 10/s
    start = time.monotonic()
    await d.deliver(make_notification(receiver="other", id="o1"))
    assert time.monotonic() - start < 0.2  # another receiver is not slowed


async def test_unknown_integration_and_template_failures_are_dead_letters(peer, session):
    d = Deliverer({"ops": webhook_receiver("http://127.0.0.1:9/x")}, session, policy())
    r = await d.deliver(make_notification(integration=3))
    assert r.status == "dead" and r.dead_letter["reason"] == "no_config"
    rx = Receiver(
        name="ops", slack_configs=[{"api_url": "http://127.0.0.1:9/x", "title": "{{ 1 / 0 }}"}]
    )
    d = Deliverer({"ops": rx}, session, policy())
    r = await d.deliver(make_notification("slack"))
    assert r.status == "dead" and r.dead_letter["reason"] == "render_error"
    assert r.dead_letter["rendered"] is None


def test_backoff_is_full_jitter_capped():
    import random

    rng = random.Random(1)
    pol = RetryPolicy()
    for attempt in range(1, 12):
        ceiling = min(60.0, 0.5 * 2 ** (attempt - 1))
        samples = [pol.backoff(attempt, rng) for _ in range(200)]
        assert min(samples) >= 0 and max(samples) <= ceiling
        assert max(samples) > ceiling * 0.8
