import os
import shutil
import subprocess
import tempfile

import pytest
import yaml

from app.config.routing import RouteConfig, check_references
from models.notify.routing import RouteTree, build_routes, format_label_set, group_key

CONFIG = """
route:
  receiver: default
  group_by: [alertname]
  group_wait: 10s
  repeat_interval: 1h
  routes:
    - matchers: ['team="db"']
      receiver: db
      group_by: [alertname, cluster]
      routes:
        - matchers: ['severity="critical"']
          receiver: db-pager
          continue: true
        - matchers: ['env=~"prod|staging"']
          receiver: db-prod
          group_interval: 1m
    - match: {team: web}
      match_re: {service: "api.*"}
      receiver: web-api
      continue: true
    - match: {team: web}
      receiver: web
      group_by: ['...']
    - matchers: ['severity!="info"', 'team=~"ops|sre"']
      receiver: ops
"""

RECEIVERS = ["default", "db", "db-pager", "db-prod", "web-api", "web", "ops"]

CASES = [
    {"alertname": "A"},
    {"alertname": "A", "team": "db"},
    {"alertname": "A", "team": "db", "severity": "critical"},
    {"alertname": "A", "team": "db", "severity": "critical", "env": "prod"},
    {"alertname": "A", "team": "db", "env": "staging"},
    {"alertname": "A", "team": "db", "env": "production"},
    {"alertname": "A", "team": "web", "service": "api-gw"},
    {"alertname": "A", "team": "web", "service": "frontend"},
    {"alertname": "A", "team": "ops"},
    {"alertname": "A", "team": "ops", "severity": "info"},
    {"alertname": "A", "team": "sre", "severity": "warning"},
]


@pytest.fixture(scope="module")
def root():
    cfg = RouteConfig.model_validate(yaml.safe_load(CONFIG)["route"])
    assert check_references(cfg, RECEIVERS, []) == []
    return build_routes(cfg)


def receivers(root, labels):
    return [r.receiver for r in root.match(labels)]


def test_match_table(root):
    expected = [
        ["default"],
        ["db"],
        ["db-pager"],  # continue, but no sibling matches: the parent is not added
        ["db-pager", "db-prod"],
        ["db-prod"],
        ["db"],
        ["web-api", "web"],
        ["web"],
        ["ops"],
        ["default"],
        ["ops"],
    ]
    assert [receivers(root, c) for c in CASES] == expected


def test_inheritance(root):
    db, web_api, web, ops = root.routes
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (10, 300, 3600)
    assert db.group_wait == 10 and db.repeat_interval == 3600
    assert db.group_by == {"alertname", "cluster"}
    prod = db.routes[1]
    assert prod.group_interval == 60 and prod.group_by == {"alertname", "cluster"}
    assert web_api.group_by == {"alertname"} and not web_api.group_by_all
    assert web.group_by_all
    assert ops.receiver == "ops"


def test_defaults_without_timers():
    root = build_routes(RouteConfig(receiver="r", routes=[RouteConfig(matchers=["a=b"])]))
    child = root.routes[0]
    assert (child.group_wait, child.group_interval, child.repeat_interval) == (30, 300, 14400)
    assert child.receiver == "r" and child.group_by == frozenset()


def test_keys_and_group_key(root):
    db = root.routes[0]
    assert root.key == "{}"
    assert db.key == '{}/{team="db"}'
    assert db.routes[1].key == '{}/{team="db"}/{env=~"prod|staging"}'
    assert db.routes[1].id == '{}/{team="db"}/{env=~"prod|staging"}/1'
    # legacy match + match_re are merged and sorted
    assert root.routes[1].key == '{}/{service=~"api.*",team="web"}'
    labels = {"alertname": "X", "team": "db", "cluster": "c1", "tenant": "t"}
    gl = db.group_labels(labels)
    assert gl == {"alertname": "X", "cluster": "c1"}
    assert group_key(db, gl) == '{}/{team="db"}:{alertname="X", cluster="c1"}'
    # a group_by label the alert lacks is left out
    assert db.group_labels({"alertname": "X"}) == {"alertname": "X"}
    web = root.routes[2]
    assert web.group_labels(labels) == labels
    assert db.group_id("t", labels) == ("t", '{}/{team="db"}:{alertname="X", cluster="c1"}')
    assert root.group_key({}) == "{}:{}"


def test_label_set_format_escapes():
    assert format_label_set({"b": 'x"y', "a": "1\n"}) == '{a="1\\n", b="x\\"y"}'


def test_route_tree_cache(root):
    tree = RouteTree(root, max_cache=2)
    for c in CASES:
        assert tree.receivers(c) == receivers(root, c)
        assert tree.receivers(c) == receivers(root, c)
    assert len(tree._cache) <= 2


AMTOOL = shutil.which("amtool")


@pytest.mark.skipif(AMTOOL is None, reason="amtool (Debian prometheus-alertmanager) not installed")
def test_same_receivers_as_amtool(root):
    doc = yaml.safe_load(CONFIG)
    doc["receivers"] = [{"name": r} for r in RECEIVERS]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "am.yml")
        with open(path, "w") as f:
            yaml.safe_dump(doc, f)
        check = subprocess.run(
            [AMTOOL, "check-config", path], capture_output=True, text=True, timeout=20
        )
        assert check.returncode == 0, check.stdout + check.stderr
        for labels in CASES:
            args = [f"{k}={v}" for k, v in labels.items()]
            out = subprocess.run(
                [AMTOOL, "config", "routes", "test", f"--config.file={path}", *args],
                capture_output=True,
                text=True,
                timeout=20,
            )
            assert out.returncode == 0, out.stderr
            theirs = out.stdout.strip().split(",")
            assert theirs == receivers(root, labels), labels
