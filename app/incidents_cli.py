"""``alertstream incidents list|show|ack|resolve|merge|split``: a tenant's incidents
through a worker's HTTP API (``ALERTSTREAM_URL`` or ``--url``; any worker will do, a
read is forwarded to the worker that owns the tenant).

::

    alertstream incidents list --tenant acme
    alertstream incidents show --tenant acme 5f3c...
    alertstream incidents ack --tenant acme 5f3c...
    alertstream incidents merge --tenant acme 5f3c... 9a1b... 77d0...   # into the first
    alertstream incidents split --tenant acme 5f3c... FINGERPRINT...    # to a new one
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
from typing import Any

from app.worker_api import DEFAULT_URL, base_url, call

ACTIONS = ("list", "show", "ack", "resolve", "merge", "split")


def register(sub: Any) -> None:
    p = sub.add_parser("incidents", help="a tenant's incidents: list, show, ack, resolve, ...")
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("incident", nargs="?", help="the incident id (not for list)")
    p.add_argument("more", nargs="*", help="merge: incidents to move in; split: fingerprints")
    p.add_argument("--tenant", required=True)
    p.add_argument("--user", default=os.environ.get("USER", ""))
    p.add_argument("--pending", action="store_true", help="list: candidates too")
    p.add_argument("--url", help=f"a worker's HTTP API (ALERTSTREAM_URL, default {DEFAULT_URL})")


def command(args: argparse.Namespace) -> int:
    base = base_url(args.url)
    tenant = urllib.parse.quote(args.tenant, safe="")
    if args.action != "list" and not args.incident:
        print(f"incidents {args.action}: an incident id is required", file=sys.stderr)
        return 2
    if args.action in ("merge", "split") and not args.more:
        what = "incidents to merge in" if args.action == "merge" else "fingerprints to split off"
        print(f"incidents {args.action}: {what} are required", file=sys.stderr)
        return 2
    body: dict[str, Any] | None = None
    if args.action == "list":
        url = f"{base}/api/v1/incidents?tenant={tenant}" + ("&pending=1" if args.pending else "")
    elif args.action == "show":
        url = f"{base}/api/v1/incidents/{args.incident}?tenant={tenant}"
    else:
        url = f"{base}/api/v1/incidents/{args.incident}/{args.action}?tenant={tenant}"
        body = {"user": args.user}
        if args.action == "merge":
            body["sources"] = args.more
        elif args.action == "split":
            body["fingerprints"] = args.more
    data = json.dumps(body).encode() if body is not None else None
    try:
        status, answer = call(url, "GET" if data is None else "POST", data, "application/json")
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach the worker at {base}: {exc}", file=sys.stderr)
        return 1
    if status >= 400:
        reasons = answer.get("errors") or [answer.get("error", answer)]
        print("\n".join(f"error {status}: {r}" for r in reasons), file=sys.stderr)
        return 2 if status in (400, 422) else 1
    if args.action == "list":
        for inc in answer.get("data", []):
            print(f"{inc['id']}  {inc['status']:<12} {inc['alerts']:>5} alerts  {inc['title']}")
    elif args.action == "show":
        print(json.dumps(answer.get("data"), indent=2))
    else:
        print(f"incident {args.incident}: {args.action} sent")
    return 0
