"""`alertstream correlate learn` on CSV files of alarms with planted causes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from tests.models.correlation.planted import PLANTED, hawkes


def run(*argv: str) -> int:
    return main(["correlate", *argv])


def write_alarms(path: Path, events: list[tuple[float, str, str]]) -> None:
    lines = ["alarm_id,device_id,start_timestamp,end_timestamp"]
    lines += [f"{kind},{source},{t:.3f},{t + 30:.3f}" for t, kind, source in events]
    path.write_text("\n".join(lines) + "\n")


def edges(path: Path) -> set[tuple[str, str]]:
    graph = json.loads(path.read_text())
    assert all(0 < score <= 1 for _, _, score in graph["edges"])
    return {(c, e) for c, e, _ in graph["edges"]}


def test_learn_writes_the_planted_graph(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_alarms(tmp_path / "alarms.csv", hawkes(11))
    out = tmp_path / "graph.json"
    base = ["learn", "--alarms", str(tmp_path / "alarms.csv"), "--out", str(out)]
    assert run(*base, "--direct-share", "0.05") == 0  # the direct test: the planted graph
    assert edges(out) == set(PLANTED)
    assert "6 edges between 8 kinds" in capsys.readouterr().out
    assert run(*base) == 0  # the default keeps indirect links (a chain, a common cause)
    assert set(PLANTED) < edges(out)


@pytest.mark.parametrize("form", ["npy", "json"])
def test_topology_links_causes_on_neighbouring_devices(tmp_path: Path, form: str) -> None:
    """Effects raised on device N+30, causes on device N: linked only through topology."""
    events = [
        (t, k, str(int(s.removeprefix("dev")) + (30 if k in {"K1", "K2", "K3"} else 0)))
        for t, k, s in hawkes(12)
    ]
    write_alarms(tmp_path / "alarms.csv", events)
    if form == "npy":
        matrix = np.zeros((60, 60), dtype=int)
        for d in range(30):
            matrix[d, d + 30] = matrix[d + 30, d] = 1
        np.save(tmp_path / "topology.npy", matrix)
    else:
        graph = {"edges": [[str(d), str(d + 30)] for d in range(30)]}
        (tmp_path / "topology.json").write_text(json.dumps(graph))
    base = ["learn", "--alarms", str(tmp_path / "alarms.csv")]
    assert run(*base, "--out", str(tmp_path / "alone.json")) == 0
    assert ("K0", "K1") not in edges(tmp_path / "alone.json")
    topology = str(tmp_path / f"topology.{form}")
    assert run(*base, "--topology", topology, "--out", str(tmp_path / "near.json")) == 0
    assert {("K0", "K1"), ("K4", "K5")} <= edges(tmp_path / "near.json")


def test_bad_input_exits_2_with_every_reason(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("alarm_id,device_id,start_timestamp,end_timestamp\n1,2,x,3\n1\n3,4,5,6\n")
    out = tmp_path / "graph.json"
    assert run("learn", "--alarms", str(bad), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: start_timestamp 'x' is not a number" in err
    assert f"{bad}:3: expected 4 fields" in err
    assert not out.exists()
    (tmp_path / "head.csv").write_text("kind,when\n")
    assert run("learn", "--alarms", str(tmp_path / "head.csv"), "--out", str(out)) == 2
    assert "head.csv:1: expected header" in capsys.readouterr().err
    (tmp_path / "t.json").write_text('{"edges": [["a"]]}')
    args = ["learn", "--alarms", str(bad), "--topology", str(tmp_path / "t.json")]
    assert run(*args, "--out", str(out)) == 2
    assert "t.json: topology.edges[0]" in capsys.readouterr().err
    assert run("learn", "--alarms", str(tmp_path / "missing.csv"), "--out", str(out)) == 2
    assert "missing.csv" in capsys.readouterr().err
