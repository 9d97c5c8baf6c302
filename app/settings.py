"""Worker settings, read once from the environment (the CLI sets them from its flags).

Faust loads the app by module path, so flags travel to it as ALERTSTREAM_* variables.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Settings:
    broker: str  # kafka://host:port[;kafka://host2:port]
    pipelines: Path
    data_dir: Path
    web_port: int
    web_host: str  # the host name other workers and clients reach this worker by
    web_bind: str  # the address the web server listens on
    partitions: int  # every topic is declared with this count (co-partitioning)
    external_url: str
    broker_credentials: str  # "", "sasl_plain:user:password", "ssl" (see README)
    tick: float  # seconds between timer passes (window closes, group flushes)
    fetch_max_wait_ms: int  # longest a consumer fetch waits for data (latency per hop)
    app_id: str  # Faust app id: consumer group and prefix of table changelog topics
    topic_prefix: str  # prepended to every topic name (several pipelines on one cluster)
    slack_signing_secret: str  # verifies Slack button clicks (empty: endpoint disabled)
    insecure: bool = False  # no credential configured: serve non-loopback clients too
    audit_key: str = ""  # Ed25519 key signing audit checkpoints ("": beside the pipelines file)
    audit_checkpoint_every: float = 30.0  # seconds between signed audit checkpoints
    rocksdb_memory_mb: int = 128  # block cache + memtables of all the worker's RocksDB
    keyring: Path = Path("keyring.json")  # KEKs of envelope encryption (tables/keys.py)
    keyring_json: str = field(default="", repr=False)  # the keyring itself, from the env
    tls_cert: str = ""  # the HTTP API speaks TLS 1.3 with this pair (app/tls.py)
    tls_key: str = ""
    tls_client_ca: str = ""  # clients must present a certificate this CA issued (mTLS)
    broker_ca: str = ""  # CA file verifying the broker's TLS certificate ("": system CAs)
    log_format: str = "text"  # "json": one JSON event per line (models/logs.py)
    otlp_endpoint: str = ""  # OTLP/HTTP traces URL; "" = tracing off (app/tracing.py)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        port = int(env.get("ALERTSTREAM_WEB_PORT", "6066"))
        bind = env.get("ALERTSTREAM_WEB_BIND", env.get("ALERTSTREAM_WEB_HOST", "127.0.0.1"))
        default_host = socket.gethostname() if bind in ("0.0.0.0", "::") else bind
        host = env.get("ALERTSTREAM_WEB_HOST", default_host)
        scheme = "https" if env.get("ALERTSTREAM_TLS_CERT") else "http"
        return cls(
            broker=env.get("ALERTSTREAM_BROKER", "kafka://127.0.0.1:9092"),
            pipelines=Path(env.get("ALERTSTREAM_PIPELINES", "pipelines.yaml")),
            data_dir=Path(env.get("ALERTSTREAM_DATA_DIR", "data")),
            web_port=port,
            web_host=host,
            web_bind=bind,
            partitions=int(env.get("ALERTSTREAM_PARTITIONS", "4")),
            external_url=env.get("ALERTSTREAM_EXTERNAL_URL", f"{scheme}://{host}:{port}"),
            broker_credentials=env.get("ALERTSTREAM_BROKER_CREDENTIALS", ""),
            tick=float(env.get("ALERTSTREAM_TICK", "0.25")),
            fetch_max_wait_ms=int(env.get("ALERTSTREAM_FETCH_MAX_WAIT_MS", "50")),
            app_id=env.get("ALERTSTREAM_APP_ID", "alertstream"),
            topic_prefix=env.get("ALERTSTREAM_TOPIC_PREFIX", ""),
            slack_signing_secret=env.get("ALERTSTREAM_SLACK_SIGNING_SECRET", ""),
            insecure=env.get("ALERTSTREAM_INSECURE", "") not in ("", "0"),
            audit_key=env.get("ALERTSTREAM_AUDIT_KEY", ""),
            audit_checkpoint_every=float(env.get("ALERTSTREAM_AUDIT_CHECKPOINT_EVERY", "30")),
            rocksdb_memory_mb=int(env.get("ALERTSTREAM_ROCKSDB_MEMORY_MB", "128")),
            keyring=Path(
                env.get("ALERTSTREAM_KEYRING")
                or Path(env.get("ALERTSTREAM_PIPELINES", "pipelines.yaml")).parent / "keyring.json"
            ),
            keyring_json=env.get("ALERTSTREAM_KEYRING_JSON", ""),
            tls_cert=env.get("ALERTSTREAM_TLS_CERT", ""),
            tls_key=env.get("ALERTSTREAM_TLS_KEY", ""),
            tls_client_ca=env.get("ALERTSTREAM_TLS_CLIENT_CA", ""),
            broker_ca=env.get("ALERTSTREAM_BROKER_CA", ""),
            log_format=_log_format(env.get("ALERTSTREAM_LOG_FORMAT", "text")),
            otlp_endpoint=_otlp_traces(env),
        )


LOG_FORMATS = ("text", "json")


def _log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise ValueError(f"ALERTSTREAM_LOG_FORMAT: {value!r} is not one of {LOG_FORMATS}")
    return value


def _otlp_traces(env: dict[str, str]) -> str:
    """OpenTelemetry's own variables: the traces URL, else the base URL + /v1/traces."""
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    return base.rstrip("/") + "/v1/traces" if base else ""


_MECHANISMS = {
    "sasl_plain": "PLAIN",
    "sasl_scram256": "SCRAM-SHA-256",
    "sasl_scram512": "SCRAM-SHA-512",
}


def security_config(spec: str, ca: str | None = None) -> dict[str, str]:
    """librdkafka settings for ALERTSTREAM_BROKER_CREDENTIALS: '', 'ssl',
    'sasl_plain:USER:PASSWORD', 'sasl_scram256:...', 'sasl_scram512:...', each SASL form
    over TLS with an 'ssl+' prefix (the same forms the worker's Faust app accepts).
    Over TLS the broker is verified with ``ca`` (default: ALERTSTREAM_BROKER_CA, else
    the system's CAs: librdkafka does not read OpenSSL's SSL_CERT_FILE)."""
    if not spec:
        return {}
    tls = spec.startswith("ssl")
    ca = os.environ.get("ALERTSTREAM_BROKER_CA", "") if ca is None else ca
    verify = {"ssl.ca.location": ca} if tls and ca else {}
    rest = spec.removeprefix("ssl+").removeprefix("ssl").lstrip(":")
    if not rest:
        return {"security.protocol": "SSL", **verify}
    mechanism, user, password = rest.split(":", 2)
    if mechanism not in _MECHANISMS:
        raise ValueError(f"unknown SASL mechanism {mechanism!r}; one of {sorted(_MECHANISMS)}")
    return {
        "security.protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl.mechanisms": _MECHANISMS[mechanism],
        "sasl.username": user,
        "sasl.password": password,
        **verify,
    }


def faust_credentials(spec: str, ca: str = "") -> object | None:
    """The same forms as Faust credentials (aiokafka underneath): the worker's app and
    every group-less consumer it starts; TLS verifies the broker with ``ca``, else the
    system's CAs."""
    if not spec:
        return None
    import ssl

    import faust  # here: the client library imports this module and never needs Faust

    context = ssl.create_default_context(cafile=ca or None) if spec.startswith("ssl") else None
    spec = spec.removeprefix("ssl+").removeprefix("ssl")
    if not spec:
        return faust.SSLCredentials(context)
    mechanism, user, password = spec.lstrip(":").split(":", 2)
    if mechanism == "sasl_plain":
        return faust.SASLCredentials(username=user, password=password, ssl_context=context)
    return faust.SASLCredentials(
        username=user,
        password=password,
        ssl_context=context,
        mechanism="SCRAM-SHA-512" if mechanism.endswith("512") else "SCRAM-SHA-256",
    )


def bootstrap_servers(broker: str) -> str:
    """``kafka://a:9092;kafka://b:9092`` (Faust's form) -> ``a:9092,b:9092``."""
    parts = broker.replace(";", ",").split(",")
    return ",".join(p.strip().removeprefix("kafka://") for p in parts if p.strip())


def reread() -> Settings:
    """Read the environment again: the CLI puts its flags there after this module was
    imported, before the worker's modules import ``settings``."""
    global settings
    settings = Settings.from_env()
    return settings


try:
    settings = Settings.from_env()
except ValueError as exc:  # a bad ALERTSTREAM_* value: the reason and exit 2, no traceback
    print(f"alertstream: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
