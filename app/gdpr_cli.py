"""``alertstream gdpr erase|export``: a data subject's (or a whole tenant's) personal
data, through a worker's HTTP API (``ALERTSTREAM_URL`` or ``--url``; any worker will
do, the request is forwarded to the one that owns the tenant).  Both need a credential
with the admin role.

::

    alertstream gdpr export --tenant acme --subject user=alice@x.org > alice.json
    alertstream gdpr erase --tenant acme --subject user=alice@x.org
    alertstream gdpr erase --tenant acme --yes      # every subject of acme, and its key
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
from typing import Any

from app.worker_api import DEFAULT_URL, base_url, call


def register(sub: Any) -> None:
    p = sub.add_parser("gdpr", help="erase or export a data subject's personal data")
    p.add_argument("action", choices=["erase", "export"])
    p.add_argument("--tenant", required=True)
    p.add_argument("--subject", help="LABEL=VALUE, e.g. user=alice@x.org (default: everyone)")
    p.add_argument("--yes", action="store_true", help="erase: confirm erasing a whole tenant")
    p.add_argument("--url", help=f"a worker's HTTP API (ALERTSTREAM_URL, default {DEFAULT_URL})")


def command(args: argparse.Namespace) -> int:
    base = base_url(args.url)
    query = urllib.parse.urlencode({"tenant": args.tenant})
    if args.action == "erase" and not args.subject and not args.yes:
        print("gdpr erase without --subject erases the whole tenant: add --yes", file=sys.stderr)
        return 2
    try:
        if args.action == "export":
            if args.subject:
                query += "&" + urllib.parse.urlencode({"subject": args.subject})
            status, answer = call(f"{base}/api/v1/gdpr/export?{query}", "GET")
        else:
            body = {"subject": args.subject} if args.subject else {}
            status, answer = call(
                f"{base}/api/v1/gdpr/erase?{query}",
                "POST",
                json.dumps(body).encode(),
                "application/json",
            )
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach the worker at {base}: {exc}", file=sys.stderr)
        return 1
    if status >= 400:
        print(f"error {status}: {answer.get('error', answer)}", file=sys.stderr)
        return 2 if status in (400, 422) else 1
    if args.action == "export":
        print(json.dumps(answer.get("data", []), indent=2))
    else:
        what = args.subject or f"tenant {args.tenant}"
        print(f"erasure of {what} sent ({answer.get('pseudonyms', 'all')} pseudonyms)")
        # a shredded key's earlier wrapped copies stay on the keys topic until compaction
        # (never, on the embedded broker): retiring the old KEKs makes them unreadable
        print("then, once it is applied: alertstream keys rotate --retire")
    return 0
