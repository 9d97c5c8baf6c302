"""`alertstream correlate group`: alerts of a JSON-lines file into incidents, offline.

Each line is an alert as the HTTP API takes it (``{"startsAt": ..., "labels": {...}}``,
optionally ``status``, ``endsAt``, ``annotations``), in time order.  The alerts go
through the worker's own steps on event time: the lifecycle (``AlertSet``: a re-sent
firing alert changes nothing; one whose ``endsAt`` passed resolves) and the correlator
built from ``correlation:`` of ``--pipelines`` (the defaults without it), learning as
it goes.  One JSON object per input line, same order::

    {"fingerprint": "...", "incident": "<id>", "how": "outage" | "learned" | "first",
     "cause": "LinkDown", "score": 0.93}      # cause/score: learned links only

``incident`` is null for a resolved alert no incident holds.  Bad input exits with
code 2 listing every bad line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from models.alerting.alert import FIRING, Alert
from models.alerting.lifecycle import AlertSet
from models.correlation.correlator import Correlator

EXIT_INPUT = 2


def register(actions: Any) -> None:
    """Add ``group`` to the ``correlate`` subparsers."""
    g = actions.add_parser("group", help="assign each alert of a JSON-lines file to an incident")
    g.add_argument("--alerts", required=True, help='JSON lines: {"startsAt":..,"labels":{..}}')
    g.add_argument("--out", required=True, help="incidents.jsonl: one object per input line")
    g.add_argument("--pipelines", help="pipelines.yaml whose correlation: section applies")


def cmd_group(args: argparse.Namespace) -> int:
    from app.config.correlation import CorrelationConfig
    from app.config.loader import ConfigError, load_file
    from models.wire import WireError, parse_time

    config = CorrelationConfig()
    if args.pipelines:
        try:
            config = load_file(args.pipelines).correlation or config
        except ConfigError as exc:
            print("\n".join(exc.errors), file=sys.stderr)
            return EXIT_INPUT
    alerts: list[Alert] = []
    errors: list[str] = []
    try:
        with open(args.alerts, "rb") as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = orjson.loads(line)
                    if not isinstance(obj, dict):
                        raise WireError("expected a JSON object")
                    starts = obj.get("startsAt", obj.get("starts_at"))
                    if starts in (None, ""):
                        raise WireError("startsAt: required (the alerts are grouped on it)")
                    alerts.append(Alert.from_wire(obj, None, now=parse_time(starts, "startsAt")))
                except (orjson.JSONDecodeError, WireError) as exc:
                    errors.append(f"{args.alerts}:{n}: {exc}")
    except OSError as exc:
        errors.append(f"{args.alerts}: cannot read: {exc.strerror}")
    if errors:
        print("\n".join(errors[:50]), file=sys.stderr)
        return EXIT_INPUT

    correlator = config.build()
    out = [orjson.dumps(x) for x in group_alerts(correlator, alerts)]
    with open(args.out, "wb") as f:
        f.write(b"\n".join(out) + b"\n" if out else b"")
    incidents = [i for i in correlator.incidents.values() if i.visible]
    print(
        f"{args.out}: {len(alerts)} alerts, {len(incidents)} incidents"
        f" ({sum(len(i.members) for i in incidents)} alerts in incidents)"
    )
    return 0


def group_alerts(correlator: Correlator, alerts: Iterable[Alert]) -> Iterator[dict[str, Any]]:
    """Each alert's assignment, as the worker makes it: the lifecycle on event time (a
    re-sent firing alert changes nothing; an expired one resolves), then the correlator."""
    active = AlertSet()
    for alert in alerts:
        t = alert.starts_at if alert.status == FIRING else (alert.ends_at or alert.starts_at)
        for gone in active.expire(t):  # the worker's timer, on event time
            correlator.learn_one(gone, 0, gone.ends_at or t)
        changed, _ = active.merge([alert], t)
        for a in changed:
            correlator.learn_one(a, 0, t)
        correlator.drain()  # the end of the worker's batch: root causes ranked
        yield _assignment(correlator, alert.fingerprint)


def group_alarms(ds: Any) -> list[str | None]:
    """``benchmarks/correlation.py --grouping app.correlate_group:group_alarms``: alarms
    (``kind``, ``source``, ``start``) with the data set's device graph as the topology,
    through the default correlation settings; one incident id per alarm."""
    from app.config.correlation import CorrelationConfig, TopologyConfig

    config = CorrelationConfig(
        topology=TopologyConfig(label="device", neighbours=ds.neighbours or {})
    )
    # each row is one occurrence (its own alert, not a re-send of the last one of its
    # kind and device), active for the learned-link window
    window = config.learned.window
    alerts = (
        Alert(
            "bench",
            {"alertname": a.kind, "device": a.source, "alarm": str(i)},
            starts_at=a.start,
            ends_at=a.start + window,
        )
        for i, a in enumerate(ds.alarms)
    )
    return [x["incident"] for x in group_alerts(config.build(), alerts)]


def _assignment(correlator: Any, fingerprint: str) -> dict[str, Any]:
    iid = correlator.member_of.get(fingerprint)
    inc = correlator.incidents.get(iid) if iid else None
    m = inc.members.get(fingerprint) if inc is not None else None
    if m is None:
        return {"fingerprint": fingerprint, "incident": None}
    out: dict[str, Any] = {"fingerprint": fingerprint, "incident": inc.id, "how": m.how}
    if m.cause is not None:
        out["cause"], out["score"] = m.cause, m.score
    return out
