import random

import pytest

from models.suppression.matchers import Matcher, parse_matchers
from models.suppression.silences import (
    ACTIVE,
    EXPIRED,
    PENDING,
    Silence,
    SilenceError,
    SilenceIndex,
    SilenceNotFound,
    new_silence,
)
from models.suppression.timeintervals import NamedTimeIntervals

NOW = 1_700_000_000.0


def sil(matchers, start=NOW - 10, end=NOW + 3600, **kw):
    kw.setdefault("created_by", "me")
    kw.setdefault("comment", "why")
    return new_silence(parse_matchers(matchers), start, end, now=NOW, **kw)


def test_states():
    s = sil('a="b"', start=NOW + 10, end=NOW + 20)
    assert s.state(NOW) == PENDING
    assert s.state(NOW + 10) == ACTIVE
    assert s.state(NOW + 19.9) == ACTIVE
    assert s.state(NOW + 20) == EXPIRED


@pytest.mark.parametrize(
    ("kw", "error"),
    [
        ({"matchers": ""}, "at least one matcher required"),
        ({"matchers": 'a=""'}, "at least one matcher must not match the empty string"),
        ({"matchers": 'a=~".*", b=""'}, "at least one matcher must not match the empty string"),
        ({"created_by": ""}, "createdBy missing"),
        ({"comment": ""}, "comment missing"),
        ({"start": NOW + 10, "end": NOW + 10}, "start time must be before end time"),
        ({"start": NOW - 100, "end": NOW - 10}, "end time can't be in the past"),
    ],
)
def test_validation_errors(kw, error):
    matchers = kw.pop("matchers", 'a="b"')
    s = sil(matchers, **kw)
    with pytest.raises(SilenceError) as exc:
        s.validate_new(NOW)
    assert str(exc.value) == error


@pytest.mark.parametrize("matcher", ['a!="b"', 'a!~"b.*"'])
def test_negative_matcher_alone_is_valid_and_mutes_all_but_its_value(matcher):
    # Alertmanager's validateSilence: matchesEmpty() is false for != and !~, so a silence of
    # one negative matcher is accepted (although it also matches an alert without `a`)
    s = sil(matcher)
    assert s.validate_new(NOW) is None
    idx = SilenceIndex(retention=100)
    s.id = ""
    sid = idx.upsert(s, NOW)
    assert idx.mutes({"alertname": "X"}, NOW) == [sid]  # no label a: a != "b"
    assert idx.mutes({"alertname": "X", "a": "c"}, NOW) == [sid]
    assert idx.mutes({"alertname": "X", "a": "b"}, NOW) == []


def test_upsert_expire_gc():
    idx = SilenceIndex(retention=100)
    s = sil('alertname="X"')
    s.id = ""  # create
    sid = idx.upsert(s, NOW)
    assert idx.mutes({"alertname": "X"}, NOW) == [sid]
    # in-place update: same matchers, same start, later end
    s2 = Silence.from_dict({**s.to_dict(), "e": NOW + 7200})
    assert idx.upsert(s2, NOW) == sid
    # changed matchers: old expired, new id
    s3 = Silence.from_dict({**s.to_dict(), "m": [["alertname", "=", "Y"]]})
    sid3 = idx.upsert(s3, NOW)
    assert sid3 != sid
    assert idx.get(sid).state(NOW) == EXPIRED
    assert idx.mutes({"alertname": "X"}, NOW) == []
    assert idx.mutes({"alertname": "Y"}, NOW) == [sid3]
    idx.expire(sid3, NOW + 1)
    assert idx.mutes({"alertname": "Y"}, NOW + 1) == []
    with pytest.raises(SilenceError, match="already expired"):
        idx.expire(sid3, NOW + 2)
    with pytest.raises(SilenceNotFound):
        idx.expire("nope", NOW)
    with pytest.raises(SilenceNotFound):
        idx.upsert(Silence.from_dict({**s.to_dict(), "i": "nope"}), NOW)
    assert len(idx) == 2
    assert idx.gc(NOW + 50) == 0
    assert idx.gc(NOW + 102) == 2
    assert len(idx) == 0


def test_expire_pending_sets_start():
    idx = SilenceIndex()
    s = sil('a="b"', start=NOW + 100, end=NOW + 200)
    idx.put(s, NOW)
    idx.expire(s.id, NOW)
    assert (s.starts_at, s.ends_at) == (NOW, NOW)


def test_pending_does_not_mute_until_start():
    idx = SilenceIndex()
    s = sil('a="b"', start=NOW + 100, end=NOW + 200)
    idx.put(s, NOW)
    assert idx.mutes({"a": "b"}, NOW) == []
    assert idx.mutes({"a": "b"}, NOW + 100) == [s.id]


def test_recurring_silence():
    weekend = NamedTimeIntervals.parse(
        {"name": "weekend", "time_intervals": [{"weekdays": ["saturday", "sunday"]}]}
    )
    idx = SilenceIndex(intervals={"weekend": weekend})
    s = sil('job="batch"', start=0.5, end=2e9, time_intervals=["weekend"])
    idx.put(s, NOW)
    saturday = 1_704_499_200.0  # 2024-01-06 00:00 UTC
    monday = saturday + 2 * 86400
    assert idx.mutes({"job": "batch"}, saturday + 3600) == [s.id]
    assert idx.mutes({"job": "batch"}, monday + 3600) == []
    s.validate_new(saturday, intervals=["weekend"])
    with pytest.raises(SilenceError, match='undefined time interval "weekend"'):
        s.validate_new(saturday, intervals=[])


def test_tenant_scoped_silence():
    idx = SilenceIndex()
    s = sil('severity=~".+"', tenant="a")
    idx.put(s, NOW)
    assert idx.mutes({"tenant": "a", "severity": "x"}, NOW) == [s.id]
    assert idx.mutes({"tenant": "b", "severity": "x"}, NOW) == []


def test_api_round_trip():
    s = sil('a="b", c!~"d.*"', time_intervals=["w"])
    api = s.to_api(NOW)
    assert api["status"] == {"state": "active"}
    assert api["matchers"][1] == {"name": "c", "value": "d.*", "isRegex": True, "isEqual": False}
    assert api["startsAt"].endswith("Z") and api["timeIntervals"] == ["w"]
    back = Silence.from_api(api, now=NOW)
    assert back.matchers == s.matchers
    assert abs(back.starts_at - s.starts_at) < 0.01 and back.created_by == "me"
    assert Silence.from_dict(s.to_dict()) == s
    with pytest.raises(SilenceError):
        Silence.from_api({"matchers": "x"})


def test_index_equals_brute_force():
    rnd = random.Random(3)
    names = ["alertname", "job", "env", "team"]
    vals = [f"v{i}" for i in range(6)]
    idx = SilenceIndex()
    sils = []
    for _ in range(600):
        ms = []
        for n in rnd.sample(names, rnd.randint(1, 3)):
            op = rnd.choice(["=", "=", "!=", "=~", "!~"])
            if op in ("=~", "!~"):
                v = rnd.choice(["|".join(rnd.sample(vals, 2)), "v.*", "v[12]"])
            else:
                v = rnd.choice(vals)
            ms.append(Matcher(n, op, v))
        start = NOW + rnd.uniform(-100, 100)
        s = new_silence(ms, start, start + rnd.uniform(1, 200), now=NOW)
        sils.append(s)
        idx.put(s, NOW - 1000)
    for s in rnd.sample(sils, 50):
        idx.expire(s.id, NOW - 500) if s.state(NOW - 500) != EXPIRED else None
    for _ in range(400):
        labels = {n: rnd.choice(vals) for n in names if rnd.random() < 0.8}
        now = NOW + rnd.uniform(-50, 150)
        expected = sorted(s.id for s in sils if s.mutes(labels, now))
        assert sorted(idx.mutes(labels, now)) == expected
    idx.gc(NOW + 400)
    assert all(not idx.mutes({n: v for n in names}, NOW + 400) for v in vals)


def test_dicts_round_trip():
    idx = SilenceIndex()
    for i in range(5):
        idx.put(sil(f'a="{i}"'), NOW)
    idx2 = SilenceIndex.from_dicts(idx.to_dicts(), now=NOW)
    assert idx2.mutes({"a": "3"}, NOW) == idx.mutes({"a": "3"}, NOW)
    assert len(idx.query(state="active", now=NOW, filter_matchers=parse_matchers("a=3"))) == 1
