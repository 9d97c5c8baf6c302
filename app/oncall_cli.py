"""``alertstream oncall who`` and ``alertstream import-oncall``: on-call from the command
line, offline (they read the pipelines file or an export, never the broker).

``register(sub)`` adds both to the main parser; ``command(args)`` runs either.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

EXIT_CONFIG = 2


def _directory(pipelines: str | None) -> Any:
    """The on-call directory of the pipelines file; exits 2 with the loader's errors."""
    from app.config.loader import ConfigError, load_file

    path = pipelines or os.environ.get("ALERTSTREAM_PIPELINES", "pipelines.yaml")
    try:
        return load_file(path).oncall.directory
    except ConfigError as exc:
        print("\n".join(exc.errors), file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def cmd_who(args: argparse.Namespace) -> int:
    from models.oncall.schedule import parse_instant

    directory = _directory(args.pipelines)
    try:
        schedule = directory.schedule(args.schedule)
        at = parse_instant(args.at, schedule.zone, datetime.now(UTC))
    except (KeyError, ValueError) as exc:
        known = ", ".join(directory.schedules) or "none configured"
        detail = f" (schedules: {known})" if isinstance(exc, KeyError) else ""
        print(f"{exc.args[0]}{detail}", file=sys.stderr)
        return EXIT_CONFIG
    report = directory.who(args.schedule, at)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    if not report["on_call"]:
        print(f"nobody is on call in {args.schedule} at {at.isoformat()}", file=sys.stderr)
    for p in report["on_call"]:
        until = f"\tuntil {p['until']}" if p["until"] else ""
        print(f"{p['name']}\t{p['email'] or '-'}{until}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from app.cli import convert_file
    from app.oncall_import import import_oncall

    return convert_file(args.file, lambda text: import_oncall(json.loads(text)))


def register(sub: Any) -> None:
    """Add ``oncall who`` and ``import-oncall`` to the main parser's subcommands."""
    o = sub.add_parser("oncall", help="who is on call (offline, from the pipelines file)")
    osub = o.add_subparsers(dest="oncall_command", required=True)
    w = osub.add_parser("who", help="who is on call in a schedule at a time")
    w.add_argument("--schedule", required=True)
    w.add_argument(
        "--at",
        default="now",
        help="now, epoch seconds or ISO 8601 (default now;"
        " without an offset: the schedule's time zone)",
    )
    w.add_argument("--pipelines", help="pipelines.yaml (ALERTSTREAM_PIPELINES)")
    w.add_argument("--json", action="store_true", help="contacts and shift ends as JSON")
    i = sub.add_parser("import-oncall", help="convert a Grafana OnCall export (JSON)")
    i.add_argument("file")


def command(args: argparse.Namespace) -> int:
    return cmd_import(args) if args.command == "import-oncall" else cmd_who(args)
