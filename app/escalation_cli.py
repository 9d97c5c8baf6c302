"""`alertstream escalation`: act on a group's escalation chain from a shell.

    alertstream escalation ack      --tenant T --group-key K [--why TEXT]
    alertstream escalation resolve  --tenant T --group-key K
    alertstream escalation reassign --tenant T --group-key K --to bob
    alertstream escalation snooze   --tenant T --group-key K --for 30m

Each is one command on the `commands` topic (keyed by tenant), the same the HTTP API
and Slack's buttons write; exit 1 if the broker did not take it, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from typing import Any

EXIT_USAGE = 2
OPS = ("ack", "resolve", "reassign", "snooze")


def register(sub: Any) -> None:
    """Add ``escalation`` to the top-level subparsers."""
    e = sub.add_parser("escalation", help="ack, resolve, reassign or snooze a group's escalation")
    e.add_argument("op", choices=OPS)
    e.add_argument("--tenant", required=True)
    e.add_argument("--group-key", required=True, help='e.g. {}:{alertname="HighCpu"}')
    e.add_argument("--to", help="reassign: the user or receiver to page")
    e.add_argument("--for", dest="duration", help="snooze: how long (default 1h)")
    e.add_argument("--why", default="", help="recorded in the audit trail")
    e.add_argument("--user", default=os.environ.get("USER", ""))
    e.add_argument("--broker", help="kafka://host:port (ALERTSTREAM_BROKER)")


def build(args: argparse.Namespace) -> dict[str, Any]:
    """The command, or ValueError naming what is wrong."""
    from models.durations import parse_duration

    cmd: dict[str, Any] = {
        "op": args.op,
        "id": uuid.uuid4().hex,  # applied once even if the commands topic is read again
        "tenant": args.tenant,
        "group_key": args.group_key,
        "user": args.user,
        "why": args.why,
        "source": "cli",
    }
    if args.op == "reassign":
        if not args.to:
            raise ValueError("reassign: --to is required")
        cmd["to"] = args.to
    if args.op == "snooze":
        cmd["duration"] = parse_duration(args.duration) if args.duration else 3600.0
    return cmd


def command(args: argparse.Namespace) -> int:
    import orjson
    from confluent_kafka import Producer

    from app.settings import Settings, bootstrap_servers, security_config

    try:
        cmd = build(args)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    settings = Settings.from_env()
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers(args.broker or settings.broker),
            **security_config(settings.broker_credentials),
            "partitioner": "murmur2_random",  # as the worker's producers: same partition
        }
    )
    topic = settings.topic_prefix + "commands"
    producer.produce(topic, orjson.dumps([cmd]), args.tenant.encode())
    ok = producer.flush(10) == 0
    print(
        f"{args.op}: sent" if ok else "could not reach the broker",
        file=sys.stdout if ok else sys.stderr,
    )
    return 0 if ok else 1
