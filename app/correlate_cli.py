"""`alertstream correlate`: the correlation engine on offline data.

``correlate learn`` runs the worker's causal learner (``models/correlation/learner.py``)
over a CSV of alarms in one pass and writes the learned directed edges between alarm
kinds, so users can try it on their history and the benchmark can score it::

    alertstream correlate learn --alarms Alarm.csv [--topology Topology.npy] --out graph.json

Bad input exits with code 2 and every reason, each naming the file and line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app import correlate_group

EXIT_INPUT = 2


def register(sub: Any) -> None:
    """Add ``correlate`` and its actions to the top-level subparsers."""
    c = sub.add_parser("correlate", help="correlation on offline data: learn a causal graph")
    actions = c.add_subparsers(dest="correlate_command", required=True)
    learn = actions.add_parser(
        "learn", help="learn the causal graph between alarm kinds from a CSV of alarms"
    )
    learn.add_argument(
        "--alarms", required=True, help="CSV: alarm_id,device_id,start_timestamp,end_timestamp"
    )
    learn.add_argument(
        "--topology",
        help="device neighbours: a square 0/1 matrix (.npy) or JSON "
        '({"neighbours": {...}} or {"edges": [[a, b], ...]})',
    )
    learn.add_argument("--out", required=True, help='graph.json: {"edges": [[from, to, score]]}')
    learn.add_argument("--window", type=float, default=60.0, help="seconds (default 60)")
    learn.add_argument(
        "--alpha", type=float, default=0.01, help="family-wise level of the link test"
    )
    learn.add_argument(
        "--direction-alpha", type=float, default=0.05, help="level of the direction test"
    )
    learn.add_argument(
        "--direct-share",
        type=float,
        default=0.0,
        help="share of a link's excess co-occurrence the Hawkes fit must attribute "
        "directly (default 0: indirect links are kept)",
    )
    correlate_group.register(actions)  # alerts of a JSON-lines file into incidents


def command(args: argparse.Namespace) -> int:
    actions = {"learn": cmd_learn, "group": correlate_group.cmd_group}
    return actions[args.correlate_command](args)


def cmd_learn(args: argparse.Namespace) -> int:
    from models.correlation.alarms import AlarmsError, parse_alarms
    from models.correlation.learner import CausalLearner

    try:
        neighbours = read_topology(args.topology) if args.topology else None
        with open(args.alarms, encoding="utf-8") as f:
            alarms = parse_alarms(f, args.alarms)
        learner = CausalLearner(
            window=args.window,
            alpha=args.alpha,
            direction_alpha=args.direction_alpha,
            direct_share=args.direct_share,
            neighbours=neighbours,
        )
    except AlarmsError as exc:
        print("\n".join(exc.reasons), file=sys.stderr)
        return EXIT_INPUT
    except UnicodeDecodeError:
        print(f"{args.alarms}: not UTF-8 text (expected a CSV of alarms)", file=sys.stderr)
        return EXIT_INPUT
    except (OSError, ValueError) as exc:
        print(f"correlate learn: {exc}", file=sys.stderr)
        return EXIT_INPUT
    for alarm in alarms:
        learner.learn_one(alarm.kind, alarm.start, alarm.source)
    edges = learner.edges()
    lines = ",\n".join("  " + json.dumps([c, e, s]) for c, e, s in edges)
    Path(args.out).write_text(f'{{"edges": [\n{lines}\n]}}\n', encoding="utf-8")
    print(
        f"{args.out}: {len(edges)} edges between {len(learner.names)} kinds"
        f" from {len(alarms)} alarms"
    )
    return 0


def read_topology(path: str) -> dict[str, list[str]]:
    """Neighbours of each device from a .npy adjacency matrix or a JSON graph."""
    from models.correlation.alarms import neighbours_from_matrix
    from models.correlation.topology import TopologyError, parse_graph

    if path.endswith(".npy"):
        import numpy as np

        matrix = np.load(path, allow_pickle=False)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"{path}: expected a square matrix, got shape {matrix.shape}")
        return neighbours_from_matrix(matrix.tolist())
    try:
        with open(path, encoding="utf-8") as f:
            graph = parse_graph(json.load(f))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: {exc.msg}") from exc
    except TopologyError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    return {node: sorted(near) for node, near in graph.items()}
