"""How the command line reaches a worker's HTTP API: its URL (``--url``, else
``ALERTSTREAM_URL``, else the local default) and one JSON request with the caller's
credential (``ALERTSTREAM_TOKEN``) and TLS settings (``ALERTSTREAM_TLS_*``)."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any

from app.tls import api_tls
from app.token_cli import api_credential

DEFAULT_URL = "http://127.0.0.1:6066"


def base_url(given: str | None) -> str:
    """The worker's API root, without a trailing slash."""
    return (given or os.environ.get("ALERTSTREAM_URL") or DEFAULT_URL).rstrip("/")


def call(
    url: str, method: str, body: bytes | None = None, content_type: str = "application/yaml"
) -> tuple[int, dict[str, Any]]:
    """One request to a worker's HTTP API: (status, JSON answer), errors included."""
    req = urllib.request.Request(url, data=body, method=method, headers=api_credential())
    req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=30, context=api_tls(url)) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
