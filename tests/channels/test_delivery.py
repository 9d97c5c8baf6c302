import asyncio
import collections
import random
import socket
import time

import orjson
import pytest
from aiohttp import web
from conftest import make_notification

from app.config.receivers import Receiver
from app.config.schema import DeliveryConfig
from channels.breaker import BreakerPolicy, CircuitBreaker
from channels.channel import Channel
from channels.delivery import Deliverer
from channels.pagerduty import EVENTS_RATE
from channels.policy import DeliveryPolicy, RetryPolicy
from channels.rate_limit import UNLIMITED, RateLimit
from channels.slack import MESSAGE_RATE

FAST = RetryPolicy(initial=0.05, factor=2.0, max_delay=0.2, budget=10.0)
DEADLINE = 20.0  # seconds: generous, a loaded machine must not fail a test by slowness


def policy(**kw):
    return DeliveryPolicy(
        retry=kw.pop("retry", FAST),
        breaker=kw.pop("breaker", BreakerPolicy(threshold=100, cooldown=0.2)),
        **kw,
    )


def webhook_receiver(url, name="ops"):
    return Receiver(name=name, webhook_configs=[{"url": url}])


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/hook"


async def until_state(breaker: CircuitBreaker, state: str) -> str:
    """Wait (with a deadline) for the breaker to reach ``state``; return the state seen."""
    deadline = time.monotonic() + DEADLINE
    while breaker.state != state and time.monotonic() < deadline:
        await breaker.wait_for_change(deadline - time.monotonic())
    return breaker.state


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


async def test_breaker_opens_on_a_dead_endpoint_while_others_deliver(peer, session):
    good = await peer()
    dead_url = closed_port_url()
    receivers = {"dead": webhook_receiver(dead_url, "dead"), "good": webhook_receiver(good.url())}
    cooldown = 60.0
    pol = policy(
        retry=RetryPolicy(initial=0.05, factor=2.0, max_delay=0.1, budget=3.0),
        breaker=BreakerPolicy(threshold=3, cooldown=cooldown),
    )
    d = Deliverer(receivers, session, pol)
    breaker = d.breaker(Channel.destination({"url": dead_url}))
    dead = [
        asyncio.create_task(d.deliver(make_notification(receiver="dead", id=f"d{i}")))
        for i in range(5)
    ]
    assert await until_state(breaker, "open") == "open"
    start = time.monotonic()
    ok = await asyncio.gather(
        *(d.deliver(make_notification(receiver="good", id=f"g{i}")) for i in range(5))
    )
    assert [r.status for r in ok] == ["delivered"] * 5
    assert time.monotonic() - start < cooldown / 2  # not held behind the dead one's breaker
    assert sorted(r["headers"]["Idempotency-Key"] for r in good.requests) == [
        f"g{i}" for i in range(5)
    ]
    results = await asyncio.gather(*dead)
    assert [r.status for r in results] == ["failed"] * 5  # dead-lettered, never dropped
    assert all(r.dead_letter for r in results)
    assert {r.dead_letter["reason"] for r in results} <= {"circuit_open", "retry_budget_exhausted"}
    assert sum(r.attempts for r in results) <= 3 + 5  # the open breaker stopped hammering


async def test_half_open_probe_closes_the_breaker_after_recovery(peer, session):
    up = False
    p = await peer(lambda rec: web.Response(status=200 if up else 503))
    pol = policy(breaker=BreakerPolicy(threshold=2, cooldown=0.3))
    d = Deliverer({"ops": webhook_receiver(p.url())}, session, pol)
    task = asyncio.create_task(d.deliver(make_notification()))
    assert await until_state(d.breaker(p.base), "open") == "open"
    up = True
    receipt = await task
    assert receipt.status == "delivered" and receipt.attempts >= 3  # 2 failures, then a probe
    assert d.breakers[p.base].state == "closed"
    codes = collections.Counter(r["headers"]["Idempotency-Key"] for r in p.requests)
    assert codes == {"n-1": receipt.attempts}


async def test_receiver_rate_limit_paces_that_receiver_only(peer, session):
    p = await peer()
    pol = policy(receiver_rate_limits={"ops": RateLimit(rate=5, burst=1)})
    receivers = {"ops": webhook_receiver(p.url()), "other": webhook_receiver(p.url(), "other")}
    d = Deliverer(receivers, session, pol)
    paced = [asyncio.create_task(d.deliver(make_notification(id=f"r{i}"))) for i in range(10)]
    other = await d.deliver(make_notification(receiver="other", id="o1"))
    assert other.status == "delivered"
    assert [r.status for r in await asyncio.gather(*paced)] == ["delivered"] * 10
    order = [r["headers"]["Idempotency-Key"] for r in p.requests]
    assert sorted(order) == sorted(["o1"] + [f"r{i}" for i in range(10)])
    assert order.index("o1") < order.index("r9")  # not queued behind the paced receiver
    paced_at = [r["at"] for r in p.requests if r["headers"]["Idempotency-Key"] != "o1"]
    assert paced_at[-1] - paced_at[0] >= 9 / 5 - 0.1  # 1 at once, then 9 at 5/s


async def test_webhooks_are_not_rate_limited_by_default(peer, session):
    p = await peer()
    d = Deliverer({"ops": webhook_receiver(p.url())}, session, DeliveryConfig().policy())
    notes = [make_notification(id=f"w{i}", group_key=f"g{i}") for i in range(50)]
    receipts = await asyncio.gather(*(d.deliver(n) for n in notes))
    assert [r.status for r in receipts] == ["delivered"] * 50
    assert len(p.requests) == 50
    assert d.buckets == {}  # no token bucket was ever in the way


async def test_slack_is_paced_per_channel_at_its_documented_rate(peer, session):
    p = await peer()
    channel_a, channel_b = p.url("/services/T0/B0/AAA"), p.url("/services/T0/B0/BBB")
    rx = Receiver(
        name="ops",
        slack_configs=[{"api_url": channel_a}, {"api_url": channel_b}],
    )
    d = Deliverer({"ops": rx}, session, DeliveryConfig().policy())
    to_a = [
        asyncio.create_task(d.deliver(make_notification("slack", id=f"a{i}", group_key=f"g{i}")))
        for i in range(5)
    ]
    to_b = await d.deliver(make_notification("slack", integration=1, id="b0"))
    assert to_b.status == "delivered"
    assert [r.status for r in await asyncio.gather(*to_a)] == ["delivered"] * 5
    at_a = [r["at"] for r in p.requests if r["path"].endswith("/AAA")]
    at_b = [r["at"] for r in p.requests if r["path"].endswith("/BBB")]
    assert (len(at_a), len(at_b)) == (5, 1)
    # burst of 3, then 1/s: the fifth leaves >= 2 s after the first (unpaced, all five
    # arrive within milliseconds); the margin is the first request's connection set-up,
    # which under load delays its arrival but not its token; B waits for none of it
    assert at_a[4] - at_a[0] >= (5 - MESSAGE_RATE.burst) / MESSAGE_RATE.rate - 0.5
    assert at_b[0] < at_a[4]
    scopes = sorted(scope for kind, scope, _ in d.buckets if kind == "slack")
    assert scopes == ["slack:" + channel_a, "slack:" + channel_b]


async def test_pagerduty_is_paced_per_routing_key(peer, session):
    p = await peer(lambda rec: web.json_response({"status": "success"}, status=202))
    keys = ["A" * 32, "B" * 32]
    rx = Receiver(
        name="ops",
        pagerduty_configs=[{"routing_key": k, "url": p.url("/v2/enqueue")} for k in keys],
    )
    d = Deliverer({"ops": rx}, session, DeliveryConfig().policy())
    receipts = await asyncio.gather(
        *(
            d.deliver(make_notification("pagerduty", integration=i % 2, id=f"p{i}"))
            for i in range(8)
        )
    )
    assert [r.status for r in receipts] == ["delivered"] * 8
    for key in keys:
        at = [r["at"] for r in p.requests if r["json"]["routing_key"] == key]
        assert len(at) == 4
        assert at[-1] - at[0] >= (4 - EVENTS_RATE.burst) / EVENTS_RATE.rate - 0.1
    assert sorted(d.buckets) == [("pagerduty", "pagerduty:" + k, EVENTS_RATE) for k in keys]


def test_limits_resolve_most_specific_first_and_config_can_lift_them():
    slack = MESSAGE_RATE
    default = DeliveryConfig().policy()
    assert default.limit_for("webhook", "t", "ops", UNLIMITED).unlimited
    assert default.limit_for("slack", "t", "ops", slack) == slack
    cfg = DeliveryConfig(
        rate=20, channel_rate_limits={"slack": 0, "email": 2}, rate_limits={"t/ops": 5, "ops": 7}
    )
    pol = cfg.policy()
    assert pol.limit_for("webhook", "u", "other", UNLIMITED) == RateLimit(20, 10)  # `rate`
    assert pol.limit_for("slack", "u", "other", slack).unlimited  # lifted for the kind
    assert pol.limit_for("email", "u", "other", UNLIMITED) == RateLimit(2, 10)
    assert pol.limit_for("slack", "t", "ops", slack) == RateLimit(5, 10)  # tenant/receiver
    assert pol.limit_for("slack", "u", "ops", slack) == RateLimit(7, 10)  # receiver
    with pytest.raises(ValueError, match="unknown channel kind slak"):
        DeliveryConfig(channel_rate_limits={"slak": 1})


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
    rng = random.Random(1)
    pol = RetryPolicy()
    for attempt in range(1, 12):
        ceiling = min(60.0, 0.5 * 2 ** (attempt - 1))
        samples = [pol.backoff(attempt, rng) for _ in range(200)]
        assert min(samples) >= 0 and max(samples) <= ceiling
        assert max(samples) > ceiling * 0.8
