"""``alertstream audit``: verify the log's integrity, query it, export it; and the
record of CLI commands that change something without the HTTP API (``after_command``:
ack, dlq replay, token, keys). Commands that go through the HTTP API (``config
apply``, ``incidents``, ``escalation``, ``gdpr``) are recorded by the worker with their
credential.

``verify`` reads the ``audit`` topic (or a dump of it, ``--from-file``) and checks every
tenant's chain and signed checkpoints (``models/audit/verify.py``); the checkpoints of
the compacted ``audit.checkpoints`` topic (or ``--checkpoints F``) are trusted apart
from the log, so a cut tail is caught. It prints the first bad entry of each tenant
and exits 1, or a summary and exits 0. ``export`` writes the log as JSON lines (one
record a line, the form ``--from-file`` reads).
"""

from __future__ import annotations

import argparse
import getpass
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from app.settings import Settings, bootstrap_servers, security_config
from models.audit.entry import ENTRY, request, sealed_request
from models.audit.verify import Located, matches, verify
from models.durations import parse_duration
from models.protection.fields import SEALED, open_fields
from models.protection.keyring import DataProtection, KeyUnavailable, SealError
from models.wire import WireError, format_time, parse_time

EXIT_BAD = 1
EXIT_USAGE = 2


def register(sub: Any) -> None:
    a = sub.add_parser("audit", help="the audit log: verify its integrity, query, export")
    a.add_argument("action", choices=["verify", "query", "export"])
    a.add_argument(
        "--from-file", help="a dump (JSON lines, from `audit export`) instead of the broker"
    )
    a.add_argument("--checkpoints", help="verify: trusted checkpoints (JSON lines) kept apart")
    a.add_argument(
        "--public-key",
        action="append",
        default=[],
        help="verify: a file of PEM public keys of the signers (repeatable, a file may hold "
        "several; default: <ALERTSTREAM_AUDIT_KEY, else audit-signing.key beside the "
        "pipelines file>.pub, the workers' shared key)",
    )
    a.add_argument("--only-checkpoints", action="store_true", help="export: the trusted ones")
    a.add_argument("--actor", help="query: credential id, exactly")
    a.add_argument("--action", dest="what", help="query: action or its prefix (silence)")
    a.add_argument("--tenant", help="query: tenant (* for actions bound to none)")
    a.add_argument("--since", help="query: RFC 3339 time, epoch seconds or a duration ago (1h)")
    a.add_argument("--until", help="query: as --since (exclusive)")
    a.add_argument("--broker", help="kafka://host:port (ALERTSTREAM_BROKER)")
    a.add_argument(
        "--pipelines", help="pipelines.yaml: its directory holds keyring.json and the audit key"
    )
    a.add_argument("--timeout", type=float, default=30.0, help="seconds to read the topic")


def read_file(path: str) -> list[Located]:
    out: list[Located] = []
    for n, line in enumerate(Path(path).read_bytes().splitlines(), 1):
        if line.strip():
            out.append((f"line {n}", orjson.loads(line)))
    return out


def read_topic(settings: Settings, name: str, timeout: float) -> Iterator[Located]:
    """Every record of a topic, partition by partition in offset order."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers(settings.broker),
            **security_config(settings.broker_credentials),
            "group.id": f"audit-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    topic = settings.topic_prefix + name
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, p, low)])
            deadline = time.monotonic() + timeout
            offset = low - 1
            while offset < high - 1:
                if time.monotonic() > deadline:
                    raise ValueError(f"{topic}[{p}]: read to {offset} of {high} in {timeout} s")
                msg = consumer.poll(0.5)
                if msg is None or msg.error():
                    continue
                offset = msg.offset()
                for i, item in enumerate(orjson.loads(msg.value())):
                    yield f"p{p}@{offset}#{i}", item
    finally:
        consumer.close()


def public_keys(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    from tables.audit_key import key_path, load_public_keys, public_path

    paths = [Path(p) for p in args.public_key] or [public_path(key_path(settings))]
    return load_public_keys(paths)


def keyring_keys(settings: Settings, timeout: float) -> DataProtection | None:
    """The keyring and the keys topic, to seal and open audit fields; None if there is
    no keyring here (a command must not create one the workers do not share)."""
    if not settings.keyring_json and not settings.keyring.exists():
        return None
    from tables.keys import open_protection

    return open_protection(settings, timeout)


def opened(
    records: list[Located], settings: Settings, timeout: float
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The entries with their sealed fields opened, and (tenant#seq -> why) for those
    that could not be (their tenant erased, or no keyring here): kept sealed."""
    entries = [r for _, r in records if r.get("kind") == ENTRY]
    if not any(SEALED in e for e in entries):
        return entries, {}
    from tables.kafka_clients import TopicError
    from tables.private_files import PrivateFileError

    why = f"no keyring at {settings.keyring}"
    try:
        keys = keyring_keys(settings, timeout)
    except (PrivateFileError, TopicError) as exc:
        keys, why = None, str(exc)
    out: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    for e in entries:
        if SEALED in e:
            try:
                if keys is None:
                    raise KeyUnavailable(why)
                e = open_fields(e, partial(keys.unseal, tenant=e.get("tenant")))
            except (KeyUnavailable, SealError, ValueError) as exc:
                failed[f"{e.get('tenant')}#{e.get('seq')}"] = str(exc)
        out.append(e)
    return out, failed


def when(text: str | None, now: float) -> float | None:
    if text is None:
        return None
    try:
        return parse_time(float(text) if text.replace(".", "", 1).isdigit() else text, "time")
    except WireError:
        return now - parse_duration(text)


def command(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if args.broker:
        env["ALERTSTREAM_BROKER"] = args.broker
    if args.pipelines:
        env["ALERTSTREAM_PIPELINES"] = args.pipelines
    settings = Settings.from_env(env)
    try:
        if args.from_file:
            records = read_file(args.from_file)
        else:
            name = "audit.checkpoints" if args.only_checkpoints else "audit"
            records = list(read_topic(settings, name, args.timeout))
        if args.action == "export":
            for _, r in records:
                sys.stdout.buffer.write(orjson.dumps(r) + b"\n")
            return 0
        if args.action == "query":
            return query(args, *opened(records, settings, args.timeout))
        keys = public_keys(args, settings)
        if args.checkpoints:
            trusted = [r for _, r in read_file(args.checkpoints)]
        elif args.from_file:
            trusted = []
        else:
            trusted = [r for _, r in read_topic(settings, "audit.checkpoints", args.timeout)]
    except (OSError, ValueError) as exc:  # a key file (PrivateFileError) included
        print(f"audit {args.action}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    report = verify(records, keys, trusted)
    for problem in report.problems:
        print(problem)
    for tenant, n in sorted(report.entries.items()):
        signed = report.checkpoints.get(tenant, 0)
        print(f"tenant {tenant!r}: {n} entries verified, {signed} under a signed checkpoint")
    print("audit log intact" if report.ok else f"audit log: {len(report.problems)} problem(s)")
    return 0 if report.ok else EXIT_BAD


def query(args: argparse.Namespace, entries: list[dict[str, Any]], failed: dict[str, str]) -> int:
    """Print the matching entries; entries that could not be opened are shown sealed,
    and said on stderr (with ``--actor`` they cannot match: they were not searched)."""
    now = time.time()
    try:
        since, until = when(args.since, now), when(args.until, now)
    except ValueError as exc:
        print(f"audit query: --since/--until: {exc}", file=sys.stderr)
        return EXIT_USAGE
    hidden = "[sealed]"
    for e in entries:
        if matches(
            e, actor=args.actor, action=args.what, tenant=args.tenant, since=since, until=until
        ):
            print(
                f"{format_time(e['at'])} {e['tenant']}#{e['seq']} {e.get('actor', hidden)} "
                f"{e['action']} {e.get('target', hidden)} from {e.get('source') or '-'}: "
                f"{e['outcome']}"
                + (f" {orjson.dumps(e['detail']).decode()}" if e.get("detail") else "")
            )
    if failed:
        reasons = sorted(set(failed.values()))
        print(
            f"audit query: {len(failed)} entries could not be opened"
            + (" (not searched by --actor)" if args.actor else "")
            + f": {', '.join(list(failed)[:20])}{' ...' if len(failed) > 20 else ''}; "
            + "; ".join(reasons[:3]),
            file=sys.stderr,
        )
    return 0


# --- recording CLI actions ------------------------------------------------------------------
DIRECT = frozenset({"ack", "dlq", "token", "keys"})  # write to Kafka themselves
READ_ONLY = frozenset({"list", "status", "show", "diff", "verify", "query"})


def cli_actor() -> str:
    return f"cli:{getpass.getuser()}"


def record_cli(
    action: str,
    *,
    tenant: str | None = None,
    target: str = "",
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    wait: float = 10.0,
) -> bool:
    """Write one audit request for a CLI action (``cli.<action>``); False if the
    broker did not take it within ``wait`` seconds."""
    from confluent_kafka import Producer

    settings = Settings.from_env(env)
    req = request(
        tenant=tenant,
        at=time.time(),
        actor=cli_actor(),
        action=f"cli.{action}",
        target=target,
        source=socket.gethostname(),
        outcome=outcome,
        detail=detail,
    )
    producer = Producer(
        {
            "bootstrap.servers": bootstrap_servers(settings.broker),
            **security_config(settings.broker_credentials),
            "partitioner": "murmur2_random",  # as the workers' producers: by tenant
        }
    )
    topic = settings.topic_prefix + "audit.requests"
    producer.produce(topic, orjson.dumps([sealed(req, settings, wait)]), req["tenant"].encode())
    return producer.flush(wait) == 0


def sealed(req: dict[str, Any], settings: Settings, wait: float) -> dict[str, Any]:
    """``req`` sealed for its tenant with the keyring here; as it is when there is none,
    or the keys cannot be read (the audit agent seals it before chaining)."""
    from tables.kafka_clients import TopicError
    from tables.private_files import PrivateFileError

    try:
        keys = keyring_keys(settings, wait)
        if keys is not None:
            return sealed_request(req, partial(keys.seal, req["tenant"]))
    except (PrivateFileError, TopicError) as exc:
        print(f"audit: recorded unsealed ({exc})", file=sys.stderr)
    return req


def after_command(args: argparse.Namespace, rc: int, env: dict[str, str] | None = None) -> None:
    """Called by ``alertstream`` after every command: record the ones that change
    something directly (not read-only actions, not dry runs)."""
    action = getattr(args, "action", None)
    if args.command not in DIRECT or action in READ_ONLY or getattr(args, "dry_run", False):
        return
    target = str(getattr(args, "id", None) or getattr(args, "group_key", None) or "")
    kept = ("role", "expires", "name", "tenants", "retire")  # never secrets
    detail = {k: v for k in kept if (v := getattr(args, k, None))}
    name = f"{args.command}.{action}" if action else args.command
    ok = record_cli(
        name,
        tenant=getattr(args, "tenant", None),
        target=target,
        outcome="ok" if rc == 0 else "error",
        detail={**detail, "exit": rc},
        env=env,
        wait=10.0 if rc == 0 else 2.0,  # a failed command may have failed to reach the broker
    )
    if not ok:
        print(f"audit: could not record {name!r} (broker unreachable)", file=sys.stderr)
