"""``alertstream keys status|rotate|rewrap``: the keys of envelope encryption.

Run where the keyring is (``ALERTSTREAM_KEYRING``, default ``keyring.json`` beside the
pipelines file) with the broker the workers use; no worker needs to stop::

    alertstream keys status            # KEKs, data keys per KEK and tenant, sealed values
    alertstream keys rotate            # a new KEK; every data key re-wrapped under it
    alertstream keys rotate --retire   # ... and the older KEKs dropped from the keyring
    alertstream keys rewrap            # re-wrap under the current KEK (after editing
                                       # ALERTSTREAM_KEYRING_JSON by hand)

Workers pick a rotation up as they go: they re-read the keyring file when it changes
and follow the keys topic, where the re-wrapped data keys arrive; the data keys
themselves do not change, so nothing sealed before has to be rewritten.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from collections import Counter
from typing import Any

import orjson

from app.settings import Settings
from models.protection import envelope
from models.protection.fields import SEALED
from models.protection.keyring import DataProtection, KeyringReadOnly

# the pipeline's topics with sealed fields (audit requests and entries: who, from where)
SCANNED = ("dlq", "notifications.receipts", "audit.requests", "audit")
SCANNED_TABLES = ("subjects",)  # tables whose changelogs hold sealed values (GDPR mappings)
EXIT_FAILED = 1


def register(sub: Any) -> None:
    p = sub.add_parser("keys", help="encryption keys: status, rotate, rewrap")
    p.add_argument("action", choices=["status", "rotate", "rewrap"])
    p.add_argument("--retire", action="store_true", help="rotate: drop the older KEKs")
    p.add_argument("--json", action="store_true", help="status: as JSON")
    p.add_argument("--no-scan", action="store_true", help="status: do not count sealed values")
    p.add_argument("--pipelines", help="pipelines.yaml (its directory holds keyring.json)")
    p.add_argument("--broker", help="kafka://host:port")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per broker step")


def command(args: argparse.Namespace) -> int:
    # the keys' store imports the Faust app: only when a keys command runs
    from app.cli import worker_env
    from tables.kafka_clients import TopicError
    from tables.keys import KeyringError, open_protection

    settings = Settings.from_env(worker_env(args))
    try:
        protection = open_protection(settings, args.timeout)
        if args.action == "status":
            return status(protection, settings, args)
        if args.action == "rotate":
            done = protection.rotate(retire=args.retire)
        else:
            done = protection.rewrap()
    except (KeyringError, TopicError, KeyringReadOnly, ValueError) as exc:
        print(f"keys {args.action}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"current KEK {done.kek_id}: {done.rewrapped} data keys re-wrapped")
    if done.unavailable:
        print(
            f"{len(done.unavailable)} data keys not re-wrapped: their KEK is not in the "
            f"keyring ({', '.join(done.unavailable[:5])})",
            file=sys.stderr,
        )
    if args.retire:
        print("older KEKs retired" if done.retired else "older KEKs kept (see above)")
    return EXIT_FAILED if done.unavailable else 0


def sealed_counts(settings: Settings, timeout: float) -> dict[str, Counter[tuple[str, str]]]:
    """topic -> (KEK id, data key id) -> how many sealed values its records hold."""
    from tables.kafka_clients import client_config, read_to_end

    client = client_config(settings.broker, settings.broker_credentials)
    found: dict[str, Counter[tuple[str, str]]] = {}
    topics = [settings.topic_prefix + name for name in SCANNED]
    topics += [f"{settings.app_id}-{table}-changelog" for table in SCANNED_TABLES]  # Faust's
    for topic in topics:
        counts: Counter[tuple[str, str]] = Counter()

        def count(_key: bytes | None, value: bytes | None, counts: Counter = counts) -> None:
            for blob in sealed_values(value):
                head = envelope.header(blob)
                counts[(head.kek_id, head.data_key_id)] += 1

        read_to_end(client, topic, count, timeout)
        found[topic] = counts
    return found


def sealed_values(value: bytes | None) -> list[bytes]:
    """The sealed values in one record: the record itself, or the ``"sealed"`` fields of
    the JSON objects it holds (a record may be a batch of them)."""
    if envelope.is_sealed(value):
        return [value]  # type: ignore[list-item]
    try:
        doc = orjson.loads(value or b"null")
    except orjson.JSONDecodeError:
        return []
    items = doc if isinstance(doc, list) else [doc]
    out = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get(SEALED), str):
            try:
                blob = base64.b64decode(item[SEALED])
            except ValueError:
                continue
            if envelope.is_sealed(blob):
                out.append(blob)
    return out


def status(protection: DataProtection, settings: Settings, args: argparse.Namespace) -> int:
    from tables.keys import KEYRING_ENV

    report = protection.status()
    report["keyring"] = KEYRING_ENV if settings.keyring_json else str(settings.keyring)
    owners = protection.key_ids()
    if not args.no_scan:
        counts = sealed_counts(settings, args.timeout)
        report["sealed"] = {
            topic: [
                {
                    "written_under_kek": kek,
                    "data_key": dk,
                    "tenant": owners.get(dk, ("(shredded or unknown)", ""))[0],
                    "values": n,
                }
                for (kek, dk), n in sorted(c.items())
            ]
            for topic, c in counts.items()
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"keyring {report['keyring']}")
    for k in report["keks"]:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(k["created"]))
        mark = "current" if k["id"] == report["current_kek"] else "       "
        print(f"  {k['id']}  created {when}  {mark}  wraps {k['data_keys']} data keys")
    for kek, n in report["missing_keks"].items():
        print(f"  {kek}  NOT IN THE KEYRING  wraps {n} data keys (unreadable here)")
    subjects = sum(t["subject_keys"] for t in report["tenants"].values())
    print(
        f"data keys: {report['data_keys']} for {len(report['tenants'])} tenants "
        f"({subjects} of them subjects'); tombstones on the keys topic: "
        f"{report['shredded_seen']}"
    )
    for topic, rows in report.get("sealed", {}).items():
        total = sum(r["values"] for r in rows)
        print(f"sealed values on {topic}: {total}")
        for r in rows:
            print(
                f"  {r['values']:>8}  under {r['data_key']} ({r['tenant']}), "
                f"written under {r['written_under_kek']}"
            )
    return 0
