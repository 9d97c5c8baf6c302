"""The escalation state machine and target picking, over generated policies and events.

Properties (hypothesis):
* never a page of a ``not_acknowledged`` step while the chain is acknowledged, and
  nothing at all after a resolve;
* without snoozes, every position (step x pass) ends exactly once: paged, cancelled by
  an ack or resolve, skipped by its time intervals, or waited (a step without target);
* page keys (``group_key/step/attempt``) never repeat, snoozes included;
* the chain survives a round trip through its wire form at any point (a restart)
  with the same future;
* round robin pages everyone once before anyone twice.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from models.escalation.policy import (
    ACKNOWLEDGED,
    BREACH,
    CANCELLED,
    EXHAUSTED,
    NOT_ACKNOWLEDGED,
    NOT_RESOLVED,
    NOTIFY,
    RESOLVED,
    SKIPPED,
    WAITED,
    Chain,
    Event,
    Policy,
    Step,
    Target,
    step,
)
from models.escalation.targets import LEAST_LOADED, ROUND_ROBIN, pick
from models.escalation.tokens import TokenError, link_claims, sign, verify

EXAMPLES = 250
ENDINGS = (NOTIFY, CANCELLED, SKIPPED, WAITED)

steps = st.builds(
    Step,
    target=st.one_of(st.none(), st.just(Target("receivers", ("a",)))),
    wait=st.sampled_from([0.0, 1.0, 5.0, 30.0]),
    when=st.sampled_from([NOT_ACKNOWLEDGED, NOT_ACKNOWLEDGED, NOT_RESOLVED]),
    active_time_intervals=st.sampled_from([(), (), ("day",)]),
)
policies = st.builds(
    Policy,
    name=st.just("p"),
    steps=st.lists(steps, min_size=1, max_size=5).map(tuple),
    repeat=st.integers(0, 2),
    ack_within=st.one_of(st.none(), st.sampled_from([3.0, 20.0])),
    resolve_within=st.one_of(st.none(), st.sampled_from([10.0, 60.0])),
)
event = st.tuples(
    st.sampled_from(["tick", "tick", "tick", "ack", "resolve", "snooze", "reassign"]),
    st.floats(0.0, 20.0),  # seconds after the previous event
)


def in_interval(names, t: float) -> bool:
    return int(t) % 20 < 10  # "day": the first 10 s of every 20


def run(policy: Policy, events, *, restart_every: int = 0):
    """Feed the events; returns [(event kind, acked before it, actions)]."""
    chain = Chain.start("acme", "{}:{x}", policy, 0.0)
    now = 0.0
    out = []
    for i, (kind, dt) in enumerate(events):
        now += dt
        acked = chain.status == ACKNOWLEDGED
        ev = Event(kind, now, who="ada", to="bob", until=now + 5.0)
        out.append((kind, acked, step(chain, policy, ev, in_interval)))
        if restart_every and i % restart_every == 0:
            chain = Chain.from_wire(chain.to_wire())
    return chain, out


def positions_of(policy: Policy, actions) -> Counter:
    """How many times each position ended, from the actions (in order)."""
    n = len(policy.steps)
    ended: Counter = Counter()
    pos = 0
    for a in actions:
        if a.kind in ENDINGS:
            assert a.step == pos % n
            ended[pos] += 1
            pos += 1
    return ended


@settings(max_examples=EXAMPLES, deadline=None)
@given(policies, st.lists(event, max_size=25))
def test_no_page_while_acknowledged_and_nothing_after_resolve(policy, events):
    _, out = run(policy, events)
    resolved = False
    for kind, acked_before, actions in out:
        acked = acked_before
        for a in actions:
            if a.kind == ACKNOWLEDGED:
                acked = True
            if a.kind == NOTIFY:
                assert not resolved
                if acked:
                    assert policy.steps[a.step].when == NOT_RESOLVED, a
        if kind == "snooze":
            acked = False
        if any(a.kind == RESOLVED for a in actions):
            resolved = True


@settings(max_examples=EXAMPLES, deadline=None)
@given(policies, st.lists(event.filter(lambda e: e[0] != "snooze"), max_size=25))
def test_every_position_ends_exactly_once(policy, events):
    # finish with a long wait and a resolve: nothing may stay pending
    chain, out = run(policy, [*events, ("tick", 10_000.0), ("resolve", 1.0)])
    actions = [a for _, _, acts in out for a in acts]
    ended = positions_of(policy, actions)
    assert set(ended) == set(range(policy.positions))
    assert set(ended.values()) == {1}
    assert chain.status == RESOLVED
    assert sum(a.kind == EXHAUSTED for a in actions) <= 1
    assert sum(a.kind == BREACH for a in actions) <= 2


@settings(max_examples=EXAMPLES, deadline=None)
@given(policies, st.lists(event, max_size=30))
def test_page_keys_never_repeat_and_a_restart_changes_nothing(policy, events):
    _, straight = run(policy, events)
    _, restarted = run(policy, events, restart_every=2)
    assert straight == restarted
    keys = [a.key for _, _, acts in straight for a in acts if a.key]
    assert len(keys) == len(set(keys))


def test_three_steps_fire_at_their_times_and_an_ack_cancels_the_rest():
    target = Target("receivers", ("a",))
    policy = Policy("p", (Step(target, 2.0), Step(target, 3.0), Step(target, 10.0)), repeat=1)
    chain = Chain.start("acme", "g", policy, 100.0)
    fired = step(chain, policy, Event("tick", 100.5))
    assert [(a.kind, a.step, a.at, a.key) for a in fired] == [(NOTIFY, 0, 100.0, "g/0/0")]
    assert step(chain, policy, Event("tick", 101.9)) == []
    fired = step(chain, policy, Event("tick", 106.0))  # late tick: both due steps, in order
    assert [(a.step, a.at) for a in fired] == [(1, 102.0), (2, 105.0)]
    acked = step(chain, policy, Event("ack", 106.5, who="ada"))
    assert [a.kind for a in acked] == [ACKNOWLEDGED] + [CANCELLED] * 3
    assert chain.due is None and chain.status == ACKNOWLEDGED
    assert step(chain, policy, Event("tick", 1e9)) == []


def test_ack_sla_breach_pulls_the_next_step_forward():
    target = Target("receivers", ("a",))
    policy = Policy("p", (Step(target, 600.0), Step(target)), ack_within=60.0)
    chain = Chain.start("acme", "g", policy, 0.0)
    step(chain, policy, Event("tick", 0.0))
    out = step(chain, policy, Event("tick", 61.0))
    assert [a.kind for a in out] == [BREACH, NOTIFY, EXHAUSTED]
    assert out[1].at == 61.0 and out[1].step == 1


def test_snooze_holds_then_pages_the_same_level_again():
    target = Target("receivers", ("a",))
    policy = Policy("p", (Step(target),))
    chain = Chain.start("acme", "g", policy, 0.0)
    step(chain, policy, Event("tick", 0.0))
    step(chain, policy, Event("ack", 1.0, who="ada"))
    step(chain, policy, Event("snooze", 2.0, who="ada", until=50.0))
    assert step(chain, policy, Event("tick", 49.0)) == []
    out = step(chain, policy, Event("tick", 50.0))
    assert [(a.kind, a.key) for a in out if a.kind == NOTIFY] == [(NOTIFY, "g/0/1")]


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.lists(st.text("abcdef", min_size=1, max_size=3), min_size=1, max_size=8, unique=True))
def test_round_robin_pages_everyone_before_anyone_twice(people):
    target = Target("users", tuple(people), ROUND_ROBIN)
    cursor = 0
    seen: list[str] = []
    for _ in range(2 * len(people)):
        choice = pick(target, people, cursor=cursor)
        cursor = choice.cursor
        seen += choice.names
    assert sorted(seen[: len(people)]) == sorted(people)
    assert seen[len(people) :] == seen[: len(people)]


def test_least_loaded_and_skills():
    class Roster:
        def members(self, kind, name, at):
            return ["ann", "bob", "cy"]

        def skills(self, user):
            return {"ann": frozenset({"pg"}), "bob": frozenset({"pg", "kafka"})}.get(
                user, frozenset()
            )

    target = Target("team", ("dba",), LEAST_LOADED)
    load = {"ann": 2, "bob": 0, "cy": 0}
    assert pick(target, ["ann", "bob", "cy"], load=load).names == ("bob",)
    assert pick(target, ["ann", "bob", "cy"], load=load, cursor=2).names == ("cy",)
    skilled = pick(target, ["ann", "bob", "cy"], load={}, skills=["pg"], roster=Roster())
    assert skilled.names == ("ann",)
    nobody = pick(Target("team", ("dba",)), ["ann", "cy"], skills=["net"], roster=Roster())
    assert nobody.names == ("ann", "cy") and "nobody has skills" in nobody.why


def test_working_hours_keep_who_is_at_work_else_everyone():
    class Roster:
        def skills(self, user):
            return frozenset()

        def working(self, user, at):  # ann works the first half of each 100 s, bob the second
            return (at % 100 < 50) == (user == "ann")

    target = Target("team", ("dba",), working_hours=True)
    assert pick(target, ["ann", "bob"], roster=Roster(), at=10.0).names == ("ann",)
    assert pick(target, ["ann", "bob"], roster=Roster(), at=60.0).names == ("bob",)
    alone = pick(target, ["ann"], roster=Roster(), at=60.0)
    assert alone.names == ("ann",) and "nobody is within working hours" in alone.why


def test_action_links_are_signed_and_expire():
    key = b"k" * 32
    token = sign(key, link_claims("ack", "acme", '{}:{a="b"}', "ada", 1000.0))
    assert verify(key, token, 999.0)["group_key"] == '{}:{a="b"}'
    for bad_key, at, reason in ((b"x" * 32, 999.0, "bad signature"), (key, 1000.0, "expired")):
        try:
            verify(bad_key, token, at)
        except TokenError as exc:
            assert reason in str(exc)
        else:
            raise AssertionError("accepted")
    body, mac = token.split(".")
    try:
        verify(key, body[:-2] + "AA." + mac, 0.0)
    except TokenError:
        pass
    else:
        raise AssertionError("a changed token was accepted")


def test_a_command_read_again_after_a_crash_is_applied_once():
    target = Target("receivers", ("a",))
    policy = Policy("p", (Step(target),))
    chain = Chain.start("acme", "g", policy, 0.0)
    step(chain, policy, Event("tick", 0.0))
    first = step(chain, policy, Event("reassign", 1.0, who="ada", to="bob", id="c1"))
    assert [(a.kind, a.key) for a in first] == [("reassign", "g/reassign/c1")]
    chain = Chain.from_wire(chain.to_wire())  # a restart reads the command again
    assert step(chain, policy, Event("reassign", 2.0, who="ada", to="bob", id="c1")) == []
    assert chain.reassigns == 1
