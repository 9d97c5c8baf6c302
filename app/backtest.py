"""`alertstream backtest` and ``POST /api/v1/backtest``: a rule over recorded history.

The `metrics` topic (`events` for an event rule) is read from the offsets the broker
gives for the start time (``offsets_for_times``; a broker that cannot look up times
answers earlier offsets, which only costs reading more) to each partition's end, in
batches, without joining a consumer group.  Records are decoded as the worker decodes
them; samples (events) are kept when their own timestamp lies in the range (aligned
down to a windowed rule's window, so the first window is whole) and replayed by
``models.rules.backtest`` through the candidate rule and the current rule of the same
name from the pipelines file, side by side in one pass.

A partition stops being read at its end or at the first record stamped later than the
range's end by more than ``LATENESS`` (records carry the producer's time, samples their
own: a backfill produced later than that is not seen); ``LATENESS`` is also read
before the start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
import yaml
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from pydantic import TypeAdapter, ValidationError

from app.config.event_rules import EventRule
from app.config.rules import Rule
from app.settings import Settings, bootstrap_servers, security_config
from models.access.permissions import EDIT
from models.durations import parse_duration
from models.rules.backtest import BacktestSpec, Item, Replay, RuleRun, compare
from models.rules.event import decode_events
from models.rules.sample import SampleDecoder
from models.rules.spec import PredictSpec, ThresholdSpec
from models.wire import WireError, format_time, parse_time

if TYPE_CHECKING:
    from app.config.schema import PipelinesConfig
    from app.config.tenants import TenantConfigs

EXIT_CONFIG = 2
EXIT_UNREADABLE = 1
LATENESS = 300.0  # seconds a record's own time may differ from its samples' times
_RULE = TypeAdapter(Rule)
_EVENT_RULE = TypeAdapter(EventRule)
EVENT_KINDS = ("count", "sequence", "absence")


class BacktestError(Exception):
    """The history could not be read: nothing is reported as if it had been."""


class RuleError(Exception):
    """The rule or range is invalid; ``errors`` names every reason."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_rule(data: Any, where: str = "rule") -> BacktestSpec:
    """A rule as pipelines.yaml writes one under `rules:` or `event_rules:` (a mapping,
    YAML/JSON text, or a document whose `rules:` or `event_rules:` holds exactly one),
    validated by the worker's schema."""
    if isinstance(data, str):
        try:
            data = yaml.safe_load(data)
        except yaml.YAMLError as exc:
            raise RuleError([f"{where}: invalid YAML: {exc}"]) from None
    for section in ("rules", "event_rules"):
        if isinstance(data, dict) and section in data:
            rules = data[section]
            if not isinstance(rules, list) or len(rules) != 1 or len(data) != 1:
                raise RuleError([f"{where}: {section}: expected exactly one rule to backtest"])
            data = rules[0]
    is_event = isinstance(data, dict) and data.get("kind") in EVENT_KINDS
    try:
        return (_EVENT_RULE if is_event else _RULE).validate_python(data).to_spec()
    except ValidationError as exc:
        errors = []
        for err in exc.errors(include_url=False):
            key = ".".join(str(p) for p in err["loc"][1:] or err["loc"])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            errors.append(f"{where}: {key}: {msg.removeprefix('Value error, ')}")
        raise RuleError(errors) from None


def parse_when(value: Any, field: str, now: float) -> float:
    """Epoch seconds, RFC 3339, or a duration meaning that long ago (``7d``, ``90m``)."""
    if isinstance(value, str):
        try:
            return now - parse_duration(value)
        except ValueError:
            pass
        with contextlib.suppress(ValueError):
            value = float(value)
    return parse_time(value, field)


def current_rule(config: PipelinesConfig | None, name: str) -> BacktestSpec | None:
    """The running pipelines file's rule (or event rule) of that name, None if none."""
    rules = [*config.rules, *config.event_rules] if config else []
    return next((rule.to_spec() for rule in rules if rule.alert == name), None)


@dataclass(frozen=True, slots=True)
class Source:
    """Where the history is: the broker, its credentials and the topics' prefix."""

    broker: str
    credentials: str
    prefix: str
    group: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Source:
        return cls(
            settings.broker,
            settings.broker_credentials,
            settings.topic_prefix,
            f"{settings.app_id}-backtest",
        )


@dataclass(slots=True)
class ReadStats:
    records: int = 0
    rejected: int = 0  # records or samples the worker would have sent to dlq


def read_history(
    source: Source, events: bool, start: float, end: float, stats: ReadStats, timeout: float
) -> Iterator[list[Item]]:
    """The samples (or, with ``events``, the events) of each record that may hold some of
    [start, end), a record at a time."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap_servers(source.broker),
            **security_config(source.credentials),
            "log_level": 0,  # what failed is reported once, by the backtest
            "group.id": source.group,
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        yield from _read(consumer, source, events, start, end, stats, timeout)
    finally:
        consumer.close()


def _read(
    consumer: Consumer,
    source: Source,
    events: bool,
    start: float,
    end: float,
    stats: ReadStats,
    timeout: float,
) -> Iterator[list[Item]]:
    topic = source.prefix + ("events" if events else "metrics")
    where = f"the broker at {source.broker}"
    try:
        meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            raise BacktestError(f"{topic} cannot be read from {where}; is the topic prefix right?")
        wanted = [
            TopicPartition(topic, p, int((start - LATENESS) * 1000))
            for p in sorted(meta.partitions)
        ]
        offsets = consumer.offsets_for_times(wanted, timeout=timeout)
    except KafkaException as exc:
        raise BacktestError(f"{where} did not answer: {exc.args[0].str()}") from None
    assigned = [tp for tp in offsets if tp.offset >= 0]  # -1: nothing that late
    if not assigned:
        return
    consumer.assign(assigned)
    done: set[int] = set()
    decode = decode_events if events else SampleDecoder().decode
    stop_ms = (end + LATENESS) * 1000
    deadline = time.monotonic() + timeout
    while len(done) < len(assigned):
        msgs = consumer.consume(2000, 0.5)
        if not msgs and time.monotonic() > deadline:
            unread = sorted({tp.partition for tp in assigned} - done)
            raise BacktestError(f"{topic}: partitions {unread} not read to their end from {where}")
        for msg in msgs:
            if msg.partition() in done:
                continue
            error = msg.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    done.add(msg.partition())
                continue
            deadline = time.monotonic() + timeout
            kind, stamp = msg.timestamp()
            if kind and stamp > stop_ms:
                done.add(msg.partition())
                continue
            stats.records += 1
            key = msg.key()
            try:
                items, bad = decode(
                    msg.value(), key.decode() if key else None, stamp / 1000 if kind else end
                )
            except WireError:
                stats.rejected += 1
                continue
            stats.rejected += len(bad)
            yield items


def backtest(
    candidate: BacktestSpec,
    current: BacktestSpec | None,
    source: Source,
    start: float,
    end: float,
    tenant: str | None = None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Replay [start, end) through ``candidate`` and ``current`` (the same run when they
    are the same rule); the report as JSON-ready data."""
    began = time.monotonic()
    new = RuleRun(candidate)
    old = None if current is None else new if current == candidate else RuleRun(current)
    if old is not None and old.reads_events != new.reads_events:
        old = None  # a metric rule and an event rule of one name: nothing to compare
    runs = [new] if old is None or old is new else [new, old]
    windowed = [r.spec for r in runs if isinstance(r.spec, ThresholdSpec | PredictSpec)]
    first = min((start - start % s.window for s in windowed), default=start)
    replay = Replay(runs, start=first)
    stats = ReadStats()
    for items in read_history(source, new.reads_events, first, end, stats, timeout):
        if tenant is not None:
            items = [s for s in items if s.tenant == tenant]
        replay.add(items, until=end)
    replay.finish(end)
    elapsed = time.monotonic() - began
    return {
        "rule": candidate.alert,
        "from": start,
        "to": end,
        "replayed_from": first,
        "tenant": tenant,
        "read": {
            "records": stats.records,
            "samples": replay.samples,
            "rejected": stats.rejected,
            "seconds": round(elapsed, 3),
            "samples_per_second": round(replay.samples / elapsed) if elapsed > 0 else None,
        },
        "candidate": _run_json(new),
        "current": None if old is None else _run_json(old),
        "diff": None if old is None else compare(old.intervals, new.intervals).to_json(),
    }


def _run_json(run: RuleRun) -> dict[str, Any]:
    return {**run.summary(), "fired": [i.to_json() for i in run.intervals]}


def _labels(labels: Mapping[str, str]) -> str:
    shown = {k: v for k, v in labels.items() if k not in ("alertname", "severity")}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items())) + "}"


def _span(i: Mapping[str, Any]) -> str:
    end = i["resolved_at"]
    lasted = "still firing" if end is None else f"{end - i['starts_at']:g}s"
    until = format_time(end) if end is not None else "..."
    return f"{format_time(i['starts_at'])} -> {until} ({lasted}, {i['firings']} firing)"


def render_table(report: Mapping[str, Any]) -> str:
    """The report for a terminal: what each version fired, then the difference."""
    read = report["read"]
    lines = [
        f"rule {report['rule']}: {format_time(report['from'])} -> {format_time(report['to'])}"
        + (f", tenant {report['tenant']}" if report["tenant"] else ""),
        f"read {read['records']} records, {read['samples']} samples in range, "
        f"{read['rejected']} rejected, in {read['seconds']:g} s",
    ]
    for name in ("candidate", "current"):
        run = report[name]
        if run is None:
            lines.append("current: the pipelines file has no rule of that name")
            continue
        lines.append(
            f"{name}: {run['intervals']} intervals on {run['series']} series, "
            f"{run['alerts']} alerts, {run['still_firing']} still firing"
        )
        lines += [f"  {_labels(i['labels'])}  {_span(i)}" for i in run["fired"]]
    diff = report["diff"]
    if diff is not None:
        lines.append(
            f"diff: {len(diff['added'])} added, {len(diff['removed'])} removed, "
            f"{len(diff['changed'])} changed, {diff['unchanged']} unchanged"
        )
        lines += [f"  + {_labels(i['labels'])}  {_span(i)}" for i in diff["added"]]
        lines += [f"  - {_labels(i['labels'])}  {_span(i)}" for i in diff["removed"]]
        for c in diff["changed"]:
            was, now = c["current"], c["candidate"]
            lines.append(f"  ~ {_labels(now['labels'])}  {_span(was)}  =>  {_span(now)}")
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("backtest", help="replay recorded metrics through a new or changed rule")
    p.add_argument("--rule", required=True, help="a rule file (YAML/JSON) or a rule's name")
    p.add_argument("--pipelines", help="the running pipelines.yaml (ALERTSTREAM_PIPELINES)")
    p.add_argument("--broker", help="kafka://host:port (ALERTSTREAM_BROKER)")
    p.add_argument("--from", dest="start", required=True, help="RFC 3339, epoch, or 7d ago")
    p.add_argument("--to", dest="end", default="0s", help="as --from (default: now)")
    p.add_argument("--tenant", help="only this tenant's samples")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds without progress")


def command(args: argparse.Namespace, env: dict[str, str]) -> int:
    """The CLI command: exit 0 with the report, 2 for a bad rule, range or pipelines
    file (every reason on stderr), 1 when the history could not be read."""
    from app.config.loader import ConfigError, load_file

    settings = Settings.from_env(env)
    try:
        config = load_file(settings.pipelines) if settings.pipelines.exists() else None
    except ConfigError as exc:
        print("\n".join(exc.errors), file=sys.stderr)
        return EXIT_CONFIG
    now = time.time()
    try:
        candidate = _candidate(args.rule, config)
        start, end = _range(args.start, args.end, now)
    except RuleError as exc:
        print("\n".join(exc.errors), file=sys.stderr)
        return EXIT_CONFIG
    try:
        report = backtest(
            candidate,
            current_rule(config, candidate.alert),
            Source.from_settings(settings),
            start,
            end,
            args.tenant,
            args.timeout,
        )
    except BacktestError as exc:
        print(f"backtest: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    print(orjson.dumps(report).decode() if args.json else render_table(report))
    return 0


def _candidate(arg: str, config: PipelinesConfig | None) -> BacktestSpec:
    """--rule: a file holding the rule, else the name of a rule of the pipelines file."""
    try:
        with open(arg) as f:
            return parse_rule(f.read(), arg)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise RuleError([f"{arg}: cannot read: {exc.strerror}"]) from None
    spec = current_rule(config, arg)
    if spec is None:
        raise RuleError(
            [f"--rule: {arg!r} is neither a rule file nor a rule of the pipelines file"]
        )
    return spec


def _range(start: Any, end: Any, now: float) -> tuple[float, float]:
    errors, out = [], []
    for field, value in (("from", start), ("to", end)):
        try:
            out.append(parse_when(value, field, now))
        except WireError as exc:
            errors.append(str(exc))
    if not errors and out[0] >= out[1]:
        errors.append("from: must be before to")
    if errors:
        raise RuleError(errors)
    return out[0], out[1]


def register(app: Any, settings: Settings, configs: TenantConfigs) -> None:
    """Serve ``POST /api/v1/backtest`` on the worker's Faust app: ``{"rule": {...} |
    "yaml", "from", "to"?, "tenant"?}`` answers the report of ``alertstream backtest
    --json``; 422 lists every reason a rule or range is refused, 502 says the history
    could not be read.  The current rule is the one the worker runs for the tenant named
    (its own config's), else the pipelines file's.  (The web imports stay here: the CLI
    does not need them.)"""
    from faust.web import Request, Response, View

    from app.web import json_response

    @app.page("/api/v1/backtest")
    class Backtest(View):
        permissions = {"POST": EDIT}

        async def post(self, request: Request) -> Response:
            try:
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError as exc:
                return json_response({"status": "error", "error": f"invalid JSON: {exc}"}, 400)
            if not isinstance(body, dict):
                return json_response({"status": "error", "error": "expected a JSON object"}, 400)
            try:
                candidate, start, end, tenant = parse_request(body, time.time())
            except RuleError as exc:
                return json_response(
                    {"status": "error", "error": "invalid backtest", "errors": exc.errors}, 422
                )
            running = configs.config_for(tenant) if tenant else configs.base
            current = current_rule(running, candidate.alert)
            source = Source.from_settings(settings)
            try:
                report = await asyncio.get_running_loop().run_in_executor(
                    None, backtest, candidate, current, source, start, end, tenant
                )
            except BacktestError as exc:
                return json_response({"status": "error", "error": str(exc)}, 502)
            return json_response({"status": "success", "data": report})


def parse_request(
    body: Mapping[str, Any], now: float
) -> tuple[BacktestSpec, float, float, str | None]:
    """The API's body checked whole: RuleError names every reason at once."""
    errors: list[str] = []
    candidate = None
    start = end = 0.0
    try:
        candidate = parse_rule(body.get("rule"))
    except RuleError as exc:
        errors += exc.errors
    try:
        start, end = _range(body.get("from"), body.get("to", "0s"), now)
    except RuleError as exc:
        errors += exc.errors
    tenant = body.get("tenant")
    if tenant is not None and not isinstance(tenant, str):
        errors.append("tenant: expected a string")
    unknown = sorted(set(body) - {"rule", "from", "to", "tenant"})
    errors += [f"{key}: unknown key" for key in unknown]
    if errors or candidate is None:
        raise RuleError(errors)
    return candidate, start, end, tenant
