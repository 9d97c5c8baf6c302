"""``alertstream token create|list|revoke`` and ``alertstream hash-password``.

Tokens are records on the compacted ``tokens`` topic (``models/access/tokens.py``),
which every worker follows; these commands talk to the broker, not to a worker, so
the first admin token can be made before any credential exists. The secret is printed
once, on stdout alone (``TOKEN=$(alertstream token create ...)``); only its SHA-256 is
stored. ``hash-password`` prints the scrypt hash for a basic auth user of ``access:``.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
import time
from typing import Any

from models.access.ip_filter import Networks
from models.access.passwords import hash_password
from models.access.permissions import ROLES
from models.access.tokens import TokenRecord, TokenStore, new_token
from models.durations import parse_duration

EXIT_USAGE = 2


class TokenTopic:
    """The ``tokens`` topic of one pipeline on one broker, read and written directly."""

    def __init__(self, broker: str, topic: str, credentials: str, partitions: int) -> None:
        from app.settings import bootstrap_servers, security_config

        self.broker, self.topic = broker, topic
        self.credentials, self.partitions = credentials, partitions
        self.declared = False  # the topic exists, compacted
        self.kafka = {
            "bootstrap.servers": bootstrap_servers(broker),
            **security_config(credentials),
            "log_level": 0,
        }

    @classmethod
    def from_env(cls, broker: str | None = None) -> TokenTopic:
        from app.settings import Settings

        env = dict(os.environ)
        if broker:
            env["ALERTSTREAM_BROKER"] = broker
        s = Settings.from_env(env)
        return cls(s.broker, s.topic_prefix + "tokens", s.broker_credentials, s.partitions)

    def write(self, key: str, value: bytes | None, timeout: float = 30.0) -> None:
        """One record (None: a tombstone), delivered or RuntimeError."""
        from confluent_kafka import Producer

        from app.broker import declare_topics

        if not self.declared:
            declare_topics(
                self.broker, [self.topic], self.partitions, self.credentials, compacted={self.topic}
            )
            self.declared = True
        errors: list[str] = []
        producer = Producer(self.kafka)
        producer.produce(
            self.topic,
            key=key.encode(),
            value=value,
            on_delivery=lambda e, _: e and errors.append(str(e)),
        )
        if producer.flush(timeout) or errors:
            raise RuntimeError(
                f"{self.topic} on {self.broker}: not written ({errors or 'timeout'})"
            )

    def read(self, timeout: float = 30.0) -> TokenStore:
        """Every live token: the topic read to its end."""
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        tokens = TokenStore()
        consumer = Consumer(
            {**self.kafka, "group.id": f"token-cli-{os.getpid()}", "enable.auto.commit": False}
        )
        try:
            meta = consumer.list_topics(self.topic, timeout=timeout).topics.get(self.topic)
            if meta is None or meta.error is not None or not meta.partitions:
                return tokens  # never written: no token yet
            ends = {}
            for p in meta.partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, p), timeout=timeout
                )
                if high > low:
                    ends[p] = high
            consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in ends])
            deadline = time.monotonic() + timeout
            while ends:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.topic}: not read to its end within {timeout:.0f} s")
                for msg in consumer.consume(500, 0.5):
                    if msg.error() is not None:
                        continue
                    with contextlib.suppress(ValueError):  # workers send it to dlq
                        tokens.apply(msg.key(), msg.value())
                    if msg.offset() + 1 >= ends.get(msg.partition(), 0):
                        ends.pop(msg.partition(), None)
        finally:
            consumer.close()
        return tokens


def api_credential(env: dict[str, str] | None = None) -> dict[str, str]:
    """The Authorization header the CLI and ``app.client`` send to a worker's HTTP API:
    ALERTSTREAM_TOKEN (from ``alertstream token create``), if set."""
    token = (os.environ if env is None else env).get("ALERTSTREAM_TOKEN", "")
    return {"Authorization": f"Bearer {token}"} if token else {}


def create(
    topic: TokenTopic,
    roles: dict[str, str],
    name: str = "",
    ttl: float | None = None,
    allow_from: tuple[str, ...] = (),
) -> tuple[str, TokenRecord]:
    """A new token written to the topic: (the secret, its record)."""
    now = time.time()
    expires = None if ttl is None else now + ttl
    token, record = new_token(roles, now, name, expires, allow_from)
    topic.write(record.id, record.to_wire())
    return token, record


def register(sub: Any) -> None:
    t = sub.add_parser("token", help="API tokens: create (shown once), list, revoke")
    t.add_argument("action", choices=["create", "list", "revoke"])
    t.add_argument("id", nargs="?", help="the token id to revoke (from `token list`)")
    t.add_argument("--role", choices=list(ROLES), help="create: the role granted")
    t.add_argument(
        "--tenant",
        dest="tenants",  # not `tenant`: the audit log reads args.tenant as one tenant
        action="append",
        help="create: a tenant the role is granted on (repeatable; default '*': every tenant)",
    )
    t.add_argument("--expires", help="create: lifetime, e.g. 90d or 12h (default: never)")
    t.add_argument("--name", default="", help="create: what the token is for")
    t.add_argument(
        "--allow-from",
        action="append",
        default=[],
        help="create: a CIDR the token may be used from (repeatable; default: anywhere)",
    )
    t.add_argument("--broker", help="kafka://host:port (ALERTSTREAM_BROKER)")
    h = sub.add_parser("hash-password", help="the scrypt hash of a basic auth password")
    h.add_argument("--stdin", action="store_true", help="read the password from stdin")


def command(args: argparse.Namespace) -> int:
    if args.command == "hash-password":
        password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass()
        if not password:
            print("hash-password: empty password", file=sys.stderr)
            return EXIT_USAGE
        print(hash_password(password))
        return 0
    topic = TokenTopic.from_env(args.broker)
    try:
        return _token(args, topic)
    except RuntimeError as exc:
        print(f"token {args.action}: {exc}", file=sys.stderr)
        return 1


def _token(args: argparse.Namespace, topic: TokenTopic) -> int:
    if args.action == "create":
        if not args.role:
            print("token create: --role is required", file=sys.stderr)
            return EXIT_USAGE
        try:
            ttl = parse_duration(args.expires) if args.expires else None
        except ValueError as exc:
            print(f"--expires: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            Networks(args.allow_from)
        except ValueError as exc:
            print(f"--allow-from: {exc}", file=sys.stderr)
            return EXIT_USAGE
        roles = dict.fromkeys(args.tenants or ["*"], args.role)
        token, record = create(topic, roles, args.name, ttl, tuple(args.allow_from))
        print(token)
        print(f"token {record.id}: {describe(record)}; shown once, store it now", file=sys.stderr)
        return 0
    tokens = topic.read()
    if args.action == "list":
        for record in sorted(tokens.records.values(), key=lambda r: r.created):
            print(f"{record.id}  {describe(record)}")
        return 0
    if not args.id:
        print("token revoke: the token id is required", file=sys.stderr)
        return EXIT_USAGE
    if args.id not in tokens.records:
        print(f"token revoke: no token {args.id}", file=sys.stderr)
        return 1
    topic.write(args.id, None)
    print(f"token {args.id} revoked")
    return 0


def describe(record: TokenRecord) -> str:
    roles = ", ".join(f"{role} on {tenant}" for tenant, role in sorted(record.roles.items()))
    when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(record.created))
    expires = (
        "never expires"
        if record.expires is None
        else time.strftime("expires %Y-%m-%d %H:%M UTC", time.gmtime(record.expires))
    )
    name = f" [{record.name}]" if record.name else ""
    where = f", from {', '.join(record.allow_from)} only" if record.allow_from else ""
    return f"{roles}{name}, created {when} UTC, {expires}{where}"
