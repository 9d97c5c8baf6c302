"""The `alertstream` command: broker, worker, validate, run.

Configuration errors exit with code 2 and name file, line and key.  The benchmarks
are not a subcommand (the product never imports ``benchmarks``): run them with
``python -m benchmarks.harness SCENARIO...``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from app import (
    audit_cli,
    correlate_cli,
    escalation_cli,
    gdpr_cli,
    incidents_cli,
    keys_cli,
    oncall_cli,
    report_cli,
    tenant_config_cli,
    token_cli,
)
from app.allocator import limit_malloc_arenas

EXIT_CONFIG = 2


def cmd_validate(args: argparse.Namespace) -> int:
    from app.config.loader import ConfigError
    from app.config.tenants import load_all

    try:
        config, _ = load_all(args.file)  # and its tenant_files
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    print(f"{args.file}: ok ({len(config.rules)} rules, {len(config.receivers)} receivers)")
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    from app.broker import broker_command

    os.execv(broker_command(args.port)[0], broker_command(args.port))
    return 0  # not reached


def worker_env(args: argparse.Namespace) -> dict[str, str]:
    env = dict(os.environ)
    for flag, var in (
        ("broker", "ALERTSTREAM_BROKER"),
        ("pipelines", "ALERTSTREAM_PIPELINES"),
        ("data_dir", "ALERTSTREAM_DATA_DIR"),
        ("web_port", "ALERTSTREAM_WEB_PORT"),
        ("partitions", "ALERTSTREAM_PARTITIONS"),
        ("log_format", "ALERTSTREAM_LOG_FORMAT"),
        ("insecure", "ALERTSTREAM_INSECURE"),
        ("tls_cert", "ALERTSTREAM_TLS_CERT"),
        ("tls_key", "ALERTSTREAM_TLS_KEY"),
        ("tls_client_ca", "ALERTSTREAM_TLS_CLIENT_CA"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            env[var] = str(value)
    return env


def cmd_worker(args: argparse.Namespace, faust_args: Sequence[str]) -> int:
    """Validate the pipelines file, then hand over to Faust's worker command."""
    limit_malloc_arenas()
    env = worker_env(args)
    os.environ.update(env)
    from app.settings import reread

    reread()  # the flags are in the environment now
    from app.config.loader import ConfigError
    from app.config.tenants import load_all

    try:
        load_all(env.get("ALERTSTREAM_PIPELINES", "pipelines.yaml"))
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    from app.settings import Settings
    from app.tls import server_context

    try:  # a missing or mismatched certificate: exit 2 with the reason, not a traceback
        server_context(Settings.from_env(env))
    except (ValueError, OSError) as exc:
        print(f"TLS: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from app.broker import declare_topics
    from app.faust_app import ALL_TOPICS
    from app.settings import settings
    from app.worker import app

    declare_topics(
        settings.broker,
        [t.get_topic_name() for t in ALL_TOPICS],
        settings.partitions,
        settings.broker_credentials,
        compacted={t.get_topic_name() for t in ALL_TOPICS if t.compacting},
    )

    # the app already has the web port and host (app/faust_app.py); Faust's --web-port
    # and --web-host flags would also reset its canonical_url to http (TLS: app/tls.py)
    argv = [
        "alertstream",
        *(["--quiet"] if settings.log_format == "json" else []),  # no banner among the events
        "--loop",
        "uvloop",
        "--datadir",
        env.get("ALERTSTREAM_DATA_DIR", "data"),
        "worker",
        "--web-bind",
        settings.web_bind,
        *faust_args,
    ]
    if not any(a.startswith("-l") or a.startswith("--loglevel") for a in faust_args):
        argv += ["--loglevel", "warn"]
    sys.argv = argv
    app.main()
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from app.config.loader import ConfigError, load_file
    from app.dlq_replay import DlqReplay
    from app.settings import Settings
    from tables.keys import open_protection

    settings = Settings.from_env(worker_env(args))
    try:
        config = load_file(settings.pipelines)
    except ConfigError as exc:
        print("\n".join(exc.errors), file=sys.stderr)
        return EXIT_CONFIG
    replay = DlqReplay(
        config,
        settings.broker,
        settings.topic_prefix + "dlq",
        f"{settings.app_id}-dlq-replay",
        settings.broker_credentials,
        timeout=args.timeout,
        protection=lambda: open_protection(settings, args.timeout),
    )
    return replay.run(args.id, dry_run=args.dry_run)


def cmd_ack(args: argparse.Namespace) -> int:
    from app.client import get_alerts_system
    from app.settings import Settings
    from models.durations import parse_duration

    settings = Settings.from_env(worker_env(args))
    try:
        duration = parse_duration(args.duration) if args.duration else None
    except ValueError as exc:
        print(f"--for: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    system = get_alerts_system(
        {
            "broker": settings.broker,
            "topic_prefix": settings.topic_prefix,
            "credentials": settings.broker_credentials,
        }
    )
    ok = system.acknowledge(args.tenant, args.group_key, duration, args.user)
    print(
        "acknowledged" if ok else "could not reach the broker",
        file=sys.stdout if ok else sys.stderr,
    )
    return 0 if ok else 1


def cmd_backtest(args: argparse.Namespace) -> int:
    from app.backtest import command

    return command(args, worker_env(args))


def convert_file(path: str, convert: Callable[[str], tuple[dict[str, Any], list[str]]]) -> int:
    """An importer's command: ``convert`` the file's text, print the sections as YAML and
    what was not converted on stderr; exit 2 if the file cannot be read or converted."""
    import yaml

    try:
        with open(path) as f:
            sections, warnings = convert(f.read())
    except (OSError, ValueError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for w in warnings:
        print(f"{path}: not converted: {w}", file=sys.stderr)
    print(yaml.safe_dump(sections, sort_keys=False), end="")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from app.importer import import_alertmanager

    return convert_file(args.file, import_alertmanager)


def cmd_run(args: argparse.Namespace) -> int:
    from app.demo import run_demo

    return run_demo(pipelines=args.pipelines, data_dir=args.data_dir)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alertstream", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    v = sub.add_parser("validate", help="check a pipelines.yaml and exit (2 if invalid)")
    v.add_argument("file")
    b = sub.add_parser("broker", help="run the embedded Kafka-protocol broker (Tansu)")
    b.add_argument("--port", type=int, default=9092)
    w = sub.add_parser("worker", help="run a worker (other options go to Faust's worker)")
    w.add_argument("--pipelines", help="pipelines.yaml (ALERTSTREAM_PIPELINES)")
    w.add_argument("--broker", help="kafka://host:port[;kafka://...] (ALERTSTREAM_BROKER)")
    w.add_argument("--web-port", type=int, help="HTTP API port (ALERTSTREAM_WEB_PORT)")
    w.add_argument("--data-dir", help="RocksDB state directory (ALERTSTREAM_DATA_DIR)")
    w.add_argument("--partitions", type=int, help="partitions per topic (ALERTSTREAM_PARTITIONS)")
    w.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="json: one event per line (ALERTSTREAM_LOG_FORMAT)",
    )
    w.add_argument(
        "--insecure",
        action="store_const",
        const="1",
        help="with no credential configured, serve non-loopback clients too (ALERTSTREAM_INSECURE)",
    )
    w.add_argument("--tls-cert", help="serve the API over TLS 1.3 (ALERTSTREAM_TLS_CERT)")
    w.add_argument("--tls-key", help="the certificate's key (ALERTSTREAM_TLS_KEY)")
    w.add_argument("--tls-client-ca", help="require client certs (ALERTSTREAM_TLS_CLIENT_CA)")
    d = sub.add_parser("dlq", help="dead letters: `dlq replay` sends notifications again")
    d.add_argument("action", choices=["replay"])
    d.add_argument("--pipelines", help="pipelines.yaml with the receivers")
    d.add_argument("--broker", help="kafka://host:port")
    d.add_argument("--id", help="replay only the notification with this id")
    d.add_argument(
        "--dry-run", action="store_true", help="list what would be replayed; send nothing"
    )
    d.add_argument(
        "--timeout", type=float, default=30.0, help="seconds to read dlq to its end (default 30)"
    )
    k = sub.add_parser("ack", help="acknowledge an alert group: it stops repeating")
    k.add_argument("--tenant", required=True)
    k.add_argument("--group-key", required=True, help='e.g. {}:{alertname="HighCpu"}')
    k.add_argument("--for", dest="duration", help="how long (default: ack_default_duration)")
    k.add_argument("--user", default=os.environ.get("USER", ""))
    k.add_argument("--broker", help="kafka://host:port")
    i = sub.add_parser("import-alertmanager", help="convert alertmanager.yml to pipelines.yaml")
    i.add_argument("file")
    from app import backtest

    backtest.add_parser(sub)
    tenant_config_cli.add_parser(sub)
    correlate_cli.register(sub)
    incidents_cli.register(sub)
    escalation_cli.register(sub)
    oncall_cli.register(sub)
    report_cli.register(sub)
    keys_cli.register(sub)
    gdpr_cli.register(sub)
    token_cli.register(sub)
    audit_cli.register(sub)
    r = sub.add_parser("run", help="broker + worker + demo traffic, all in one (make run)")
    r.add_argument("--pipelines", default="pipelines.yaml")
    r.add_argument("--data-dir", default=".run")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, rest = parser().parse_known_args(argv)
    if args.command == "worker":
        return cmd_worker(args, rest)
    if rest:
        parser().error(f"unrecognized arguments: {' '.join(rest)}")
    commands = {
        "config": tenant_config_cli.command,
        "validate": cmd_validate,
        "broker": cmd_broker,
        "run": cmd_run,
        "dlq": cmd_dlq,
        "import-alertmanager": cmd_import,
        "ack": cmd_ack,
        "correlate": correlate_cli.command,
        "incidents": incidents_cli.command,
        "escalation": escalation_cli.command,
        "oncall": oncall_cli.command,
        "report": report_cli.command,
        "keys": keys_cli.command,
        "gdpr": gdpr_cli.command,
        "import-oncall": oncall_cli.command,
        "backtest": cmd_backtest,
        "token": token_cli.command,
        "hash-password": token_cli.command,
        "audit": audit_cli.command,
    }
    rc = commands[args.command](args)
    audit_cli.after_command(args, rc, worker_env(args))  # what changed something directly
    return rc


if __name__ == "__main__":
    sys.exit(main())
