"""``alertstream report sla``: a tenant's SLA report for a month, through a worker's
HTTP API (``ALERTSTREAM_URL`` or ``--url``; any worker will do, the request is
forwarded to the one that owns the tenant), printed or written as JSON, CSV or a
self-contained HTML page::

    alertstream report sla --tenant acme --period 2026-11 --format html -o sla.html
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
from typing import Any

from app.worker_api import DEFAULT_URL, base_url, call
from models.analytics import report

EXIT_USAGE = 2


def register(sub: Any) -> None:
    p = sub.add_parser("report", help="reports from analytics: `report sla` per tenant and month")
    p.add_argument("kind", choices=["sla"])
    p.add_argument("--tenant", required=True)
    p.add_argument("--period", required=True, help="a month: 2026-11")
    p.add_argument("--format", choices=["json", "csv", "html"], default="json")
    p.add_argument("-o", "--output", help="write to this file (default: standard output)")
    p.add_argument("--url", help=f"a worker's HTTP API (ALERTSTREAM_URL, default {DEFAULT_URL})")


def command(args: argparse.Namespace) -> int:
    base = base_url(args.url)
    query = urllib.parse.urlencode({"tenant": args.tenant, "period": args.period})
    try:
        status, answer = call(f"{base}/api/v1/reports/sla?{query}", "GET")
    except (urllib.error.URLError, OSError) as exc:
        print(f"report sla: cannot reach {base}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        for reason in answer.get("errors") or [answer.get("error", f"HTTP {status}")]:
            print(f"report sla: {reason}", file=sys.stderr)
        return EXIT_USAGE if status == 400 else 1
    data = answer["data"]
    if args.format == "csv":
        text = report.to_csv(data)
    elif args.format == "html":
        text = report.to_html(data)
    else:
        text = json.dumps(data, indent=2) + "\n"
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0
