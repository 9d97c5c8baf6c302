import os
import shutil
import subprocess
import tempfile

import pytest
import yaml
from pydantic import ValidationError

from app.config.routing import (
    InhibitRuleConfig,
    RouteConfig,
    TimeIntervalsConfig,
    check_interval_names,
    check_references,
)


def err(model, doc):
    with pytest.raises(ValidationError) as exc:
        model.model_validate(doc)
    return str(exc.value)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"receiver": "a", "group_by": ["a-b"]}, 'invalid label name "a-b" in group_by list'),
        ({"receiver": "a", "group_by": ["...", "x"]}, "cannot have wildcard group_by"),
        ({"receiver": "a", "group_by": ["x", "x"]}, 'duplicated label "x" in group_by'),
        ({"receiver": "a", "group_interval": "0s"}, "group_interval cannot be zero"),
        ({"receiver": "a", "repeat_interval": 0}, "repeat_interval cannot be zero"),
        ({"receiver": "a", "matchers": ["foo"]}, "bad matcher format: foo"),
        ({"receiver": "a", "matchers": ["foo=~("]}, "error parsing regexp"),
        ({"receiver": "a", "match_re": {"x": "("}}, "error parsing regexp"),
        ({"receiver": "a", "match": {"a-b": "x"}}, 'invalid label name "a-b"'),
        ({"receiver": "a", "bogus": 1}, "Extra inputs are not permitted"),
        ({"receiver": "a", "group_wait": "5 minutes"}, "is not a duration"),
    ],
)
def test_route_errors(doc, message):
    assert message in err(RouteConfig, doc)


def test_route_round_trip():
    doc = {
        "receiver": "a",
        "routes": [{"matchers": ['a="b", c=~"d|e"'], "continue": True, "group_wait": "1m"}],
    }
    cfg = RouteConfig.model_validate(doc)
    assert len(cfg.routes[0].matchers) == 2
    assert cfg.routes[0].continue_
    dumped = cfg.model_dump(by_alias=True, exclude_defaults=True)
    assert dumped["routes"][0] == {
        "continue": True,
        "matchers": ['a="b"', 'c=~"d|e"'],
        "group_wait": "1m",
    }
    assert RouteConfig.model_validate(dumped) == cfg


def test_check_references():
    cfg = RouteConfig.model_validate(
        {
            "matchers": ["a=b"],
            "mute_time_intervals": ["x"],
            "routes": [
                {"receiver": "nope", "active_time_intervals": ["missing"]},
                {"receiver": "ok", "mute_time_intervals": ["known"]},
            ],
        }
    )
    errors = check_references(cfg, ["ok"], ["known"])
    assert errors == [
        "root route must specify a default receiver",
        "root route must not have any matchers",
        "root route must not have any mute time intervals",
        'undefined time interval "x" used in route',
        'undefined receiver "nope" used in route',
        'undefined time interval "missing" used in route',
    ]


def test_inhibit_rule_config():
    cfg = InhibitRuleConfig.model_validate(
        {
            "source_matchers": ['severity="critical"'],
            "target_match": {"severity": "warning"},
            "target_match_re": {"team": "a|b"},
            "equal": ["cluster"],
        }
    )
    assert [m.to_tuple() for m in cfg.sources()] == [("severity", "=", "critical")]
    assert [m.op for m in cfg.targets()] == ["=", "=~"]
    assert '"a-b" is not a valid label name' in err(InhibitRuleConfig, {"equal": ["a-b"]})
    assert "bad matcher format" in err(InhibitRuleConfig, {"target_matchers": ["x"]})


def test_time_intervals_config():
    cfg = TimeIntervalsConfig.model_validate(
        {
            "name": "biz",
            "time_intervals": [
                {
                    "times": [{"start_time": "09:00", "end_time": "17:00"}],
                    "weekdays": ["monday:friday"],
                    "days_of_month": [1, "-1"],
                    "location": "Europe/Paris",
                }
            ],
        }
    )
    named = cfg.build()
    assert named.name == "biz" and len(named.intervals) == 1
    bad = {"name": "x", "time_intervals": [{"location": "Nowhere/Land"}]}
    assert "unknown time zone Nowhere/Land" in err(TimeIntervalsConfig, bad)
    bad = {"name": "x", "time_intervals": [{"weekdays": ["monday:sunday"]}]}
    assert "start day cannot be before end day" in err(TimeIntervalsConfig, bad)
    bad = {"name": "x", "time_intervals": [{"days": ["1"]}]}
    assert "Extra inputs are not permitted" in err(TimeIntervalsConfig, bad)
    dup = [cfg, cfg]
    assert check_interval_names(dup) == ['time interval "biz" is not unique']


AMTOOL = shutil.which("amtool")


@pytest.mark.skipif(AMTOOL is None, reason="amtool (Debian prometheus-alertmanager) not installed")
@pytest.mark.parametrize(
    ("route", "ok"),
    [
        ({"receiver": "r", "group_by": ["...", "x"]}, False),
        ({"receiver": "r", "group_by": ["x", "x"]}, False),
        ({"receiver": "r", "routes": [{"matchers": ["foo"]}]}, False),
        ({"receiver": "r", "routes": [{"matchers": ['a=~"b|c"'], "group_interval": "0s"}]}, False),
        ({"receiver": "r", "routes": [{"receiver": "missing"}]}, False),
        ({"receiver": "r", "routes": [{"matchers": ['a="b"', "c!=d"], "continue": True}]}, True),
    ],
)
def test_agrees_with_amtool_check_config(route, ok):
    doc = {"route": route, "receivers": [{"name": "r"}]}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "am.yml")
        with open(path, "w") as f:
            yaml.safe_dump(doc, f)
        res = subprocess.run([AMTOOL, "check-config", path], capture_output=True, timeout=20)
    try:
        cfg = RouteConfig.model_validate(route)
        ours = check_references(cfg, ["r"], []) == []
    except ValidationError:
        ours = False
    assert ours == ok
    assert (res.returncode == 0) == ok
