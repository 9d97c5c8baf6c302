"""``alertstream config diff|apply|rollback --tenant T [FILE]``: a tenant's config
through a worker's HTTP API (``ALERTSTREAM_URL`` or ``--url``; any worker will do, as
every worker reads the ``config`` topic).

``diff`` shows what applying FILE would change against the running version (rules
kept, changed, added, removed; routes and receivers) and the text diff; ``apply``
posts FILE as the next version; ``rollback`` applies the previous version again.  An
invalid FILE prints every error (file, line, key) and exits 2, as ``validate`` does.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from typing import Any

from app.worker_api import DEFAULT_URL, base_url, call

EXIT_CONFIG = 2


def add_parser(sub: Any) -> None:
    c = sub.add_parser("config", help="a tenant's config at run time: diff, apply, rollback")
    c.add_argument("action", choices=["diff", "apply", "rollback"])
    c.add_argument("file", nargs="?", help="the tenant's config (YAML or JSON); not for rollback")
    c.add_argument("--tenant", required=True)
    c.add_argument("--url", help=f"a worker's HTTP API (ALERTSTREAM_URL, default {DEFAULT_URL})")


def command(args: argparse.Namespace) -> int:
    base = base_url(args.url)
    url = f"{base}/api/v1/config/{urllib.request.quote(args.tenant, safe='')}"
    body = None
    if args.action != "rollback":
        if not args.file:
            print(f"config {args.action}: FILE is required", file=sys.stderr)
            return EXIT_CONFIG
        try:
            with open(args.file, "rb") as f:
                body = f.read()
        except OSError as exc:
            print(f"{args.file}: cannot read: {exc.strerror}", file=sys.stderr)
            return EXIT_CONFIG
    routes = {"diff": ("POST", "/diff"), "apply": ("PUT", ""), "rollback": ("POST", "/rollback")}
    method, path = routes[args.action]
    try:
        status, answer = call(url + path, method, body)
    except (urllib.error.URLError, OSError) as exc:
        print(f"cannot reach the worker at {base}: {exc}", file=sys.stderr)
        return 1
    if status == 422:
        name = args.file or args.tenant
        for line in answer.get("errors", []):
            # the worker names the text "<tenant>.yaml": name the user's file instead
            print(line.replace(f"{args.tenant}.yaml", name, 1), file=sys.stderr)
        return EXIT_CONFIG
    if status >= 400:
        print(f"error {status}: {answer.get('error', answer)}", file=sys.stderr)
        return 1
    data = answer.get("data", {})
    for change in data.get("changes", []):
        print(change)
    if args.action == "diff":
        print("\n".join(data.get("diff", [])))
        return 0
    state = "applied" if data.get("applied") else "produced, not yet applied by this worker"
    print(f"tenant {args.tenant}: version {data.get('version')} ({data.get('hash')}) {state}")
    return 0
