"""Per-tenant pipelines, changed at run time: the set of configs a worker runs with.

A tenant's own config holds only its part of the pipelines file (``TENANT_KEYS``: rules,
route, receivers, inhibitions, time intervals, analytics' SLA targets and business
hours); the worker-wide settings (delivery,
limits, flapping, ...) stay those of ``pipelines.yaml``.  It comes either from a file
named under ``tenant_files:`` (re-read on SIGHUP) or from a version on the compacted
``config`` topic (``PUT /api/v1/config/{tenant}``, ``alertstream config apply``).  Both
are validated by the one loader, exactly as ``alertstream validate`` does.

``TenantConfigs`` is the one owner: ``config_for(tenant)`` is the lookup every agent
and view calls; ``subscribe(listener)`` is how an agent that keeps state per rule or
per route (the metrics evaluators, the alert runtime) swaps to a new version.  A
version is installed only once it has validated, in one synchronous step between two
batches, so a bad version never touches the running one.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import SecretStr

from app.config.analytics import tenant_errors as analytics_errors
from app.config.loader import ConfigError, load_file, load_text
from app.config.receivers import Receiver
from app.config.schema import PipelinesConfig

log = logging.getLogger(__name__)

TENANT_KEYS = tuple(
    k
    for k in (
        "rules",
        "event_rules",
        "route",
        "receivers",
        "inhibit_rules",
        "time_intervals",
        "analytics",  # its SLA targets and business hours only (app/config/analytics.py)
    )
    if k in PipelinesConfig.model_fields
)
"""The keys a tenant's own config may hold (every rule kind); the rest is worker-wide."""
HISTORY = 10  # earlier versions carried in each version record (for GET and rollback)
SEALED_FIELDS = ("text", "history")
"""What a version record keeps sealed on the topic (``agents/sealing.py``): a tenant's
receivers hold their secrets inline (a posted config may not read files or the env)."""
NO_ENV: Mapping[str, str] = {}
"""A posted config sees no environment variables: a tenant must not read the worker's."""

Listener = Callable[[str | None, PipelinesConfig, float], None]
"""Called with (tenant, its new config, now) after a version is installed; tenant None:
the default config of every tenant without its own changed (a SIGHUP reload)."""


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    """One record of the ``config`` topic (key: the tenant): the text as written, its
    hash, a version number that only increases, and the earlier versions."""

    tenant: str
    version: int
    text: str
    source: str  # "api", "rollback to v3", ...
    at: float
    hash: str = ""
    history: tuple[dict[str, Any], ...] = field(default=())  # newest first, no history

    def summary(self) -> dict[str, Any]:
        return {"version": self.version, "hash": self.hash, "source": self.source, "at": self.at}

    def to_wire(self) -> bytes:
        return orjson.dumps(
            {
                "tenant": self.tenant,
                "version": self.version,
                "hash": self.hash,
                "text": self.text,
                "source": self.source,
                "at": self.at,
                "history": list(self.history),
            }
        )

    @classmethod
    def from_wire(cls, raw: bytes) -> ConfigVersion:
        """Raises ValueError on a record that is not a version."""
        try:
            d = orjson.loads(raw)
            return cls(
                tenant=str(d["tenant"]),
                version=int(d["version"]),
                text=str(d["text"]),
                source=str(d.get("source", "")),
                at=float(d.get("at", 0.0)),
                hash=str(d.get("hash") or content_hash(str(d["text"]))),
                history=tuple(d.get("history") or ()),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a config version: {exc}") from None

    def following(self, text: str, source: str, now: float) -> ConfigVersion:
        """The next version after this one, carrying this one in its history."""
        earlier = ({**self.summary(), "text": self.text}, *self.history)[:HISTORY]
        return ConfigVersion(
            self.tenant, self.version + 1, text, source, now, content_hash(text), earlier
        )


def first_version(tenant: str, text: str, source: str, now: float) -> ConfigVersion:
    return ConfigVersion(tenant, 1, text, source, now, content_hash(text))


def tenant_config(
    base: PipelinesConfig,
    text: str,
    fname: str,
    env: Mapping[str, str] | None = NO_ENV,
    secret_files: Path | None = None,
) -> PipelinesConfig:
    """A tenant's config text validated as ``alertstream validate`` does (every error,
    with file, line and key), over the worker-wide settings of ``base``; ``*_file``
    secrets only from a tenant file (``secret_files``: its directory)."""
    own = load_text(text, fname, env, only=TENANT_KEYS, secret_files=secret_files)
    if errors := analytics_errors(own.analytics, text, fname):
        raise ConfigError(errors)
    return base.model_copy(update={k: getattr(own, k) for k in TENANT_KEYS})


def load_tenant_files(
    base: PipelinesConfig, base_dir: Path, env: Mapping[str, str] | None = None
) -> dict[str, tuple[str, PipelinesConfig]]:
    """tenant -> (path, config) for ``tenant_files:``, paths relative to the pipelines
    file; raises one ConfigError with the errors of every file."""
    out: dict[str, tuple[str, PipelinesConfig]] = {}
    errors: list[str] = []
    for tenant, name in base.tenant_files.items():
        path = base_dir / name
        try:
            text = path.read_text()
            out[tenant] = (str(path), tenant_config(base, text, str(path), env, path.parent))
        except OSError as exc:
            errors.append(f"{path}: cannot read: {exc.strerror}")
        except ConfigError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ConfigError(errors)
    return out


def load_all(
    path: str | Path, env: Mapping[str, str] | None = None
) -> tuple[PipelinesConfig, dict[str, tuple[str, PipelinesConfig]]]:
    """The pipelines file and its tenant files (what a worker starts with and a SIGHUP
    reloads); raises one ConfigError with every error found."""
    base = load_file(path, env)
    return base, load_tenant_files(base, Path(path).parent, env)


def rule_hashes(config: PipelinesConfig) -> dict[str, str]:
    """rule name -> content hash, every kind: what keeps or restarts a rule's state."""
    out = {}
    for rule in [*config.rules, *getattr(config, "event_rules", [])]:
        body = orjson.dumps(rule.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
        out[str(getattr(rule, "alert", ""))] = hashlib.sha256(body).hexdigest()[:12]
    return out


def describe_changes(old: PipelinesConfig, new: PipelinesConfig) -> list[str]:
    """What a swap from ``old`` to ``new`` does, one line each (empty: nothing)."""
    out = _changes(
        "rule",
        rule_hashes(old),
        rule_hashes(new),
        removed="removed (its firing alerts resolve)",
        changed="changed (fresh windows and models)",
    )
    for key in ("route", "inhibit_rules", "time_intervals"):
        if _dump(getattr(old, key)) != _dump(getattr(new, key)):
            out.append(f"{key}: changed")
    was = {r.name: _dump(r) for r in old.receivers}
    return out + _changes("receiver", was, {r.name: _dump(r) for r in new.receivers})


def _changes(
    kind: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    removed: str = "removed",
    changed: str = "changed",
) -> list[str]:
    out = []
    for name in sorted(before.keys() | after.keys()):
        if name not in after:
            out.append(f"{kind} {name}: {removed}")
        elif name not in before:
            out.append(f"{kind} {name}: added")
        elif before[name] != after[name]:
            out.append(f"{kind} {name}: {changed}")
    return out


def _dump(value: Any) -> Any:
    """A comparable form of a config section, secrets included (a changed webhook URL
    or key is a change)."""
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return value


def text_diff(old: str, new: str, old_name: str, new_name: str) -> list[str]:
    return list(
        difflib.unified_diff(
            old.splitlines(), new.splitlines(), old_name, new_name, lineterm="", n=2
        )
    )


class TenantConfigs:
    """The configs one worker runs with: the default (``pipelines.yaml``), the tenant
    files, and the tenants' versions read from the ``config`` topic."""

    def __init__(
        self,
        base: PipelinesConfig,
        files: Mapping[str, tuple[str, PipelinesConfig]] | None = None,
    ) -> None:
        self.base = base
        self.files = {t: path for t, (path, _) in (files or {}).items()}
        self.configs = {t: cfg for t, (_, cfg) in (files or {}).items()}
        self.versions: dict[str, ConfigVersion] = {}
        self.refused: dict[str, tuple[int, list[str]]] = {}  # tenant -> (version, errors)
        self.listeners: list[Listener] = []
        self.ready = False  # the config topic has been read up to its end at start

    # --- lookups ---------------------------------------------------------------------
    def config_for(self, tenant: str) -> PipelinesConfig:
        """The config that applies to ``tenant``: its own, else the default."""
        return self.configs.get(tenant, self.base)

    def receiver(self, tenant: str, name: str) -> Receiver | None:
        """The tenant's receiver of that name (the channel senders' lookup)."""
        return next((r for r in self.config_for(tenant).receivers if r.name == name), None)

    def set_by_tenant(self, tenant: str) -> bool:
        """Whether the tenant's config is one it set (the API, the config topic), not
        the operator's files: the outbound policy checks its receivers."""
        return tenant in self.versions

    def tenants(self) -> list[str]:
        """Tenants with their own config."""
        return sorted(self.configs)

    def subscribe(self, listener: Listener) -> None:
        self.listeners.append(listener)

    # --- changes ---------------------------------------------------------------------
    def validate(self, tenant: str, text: str) -> PipelinesConfig:
        """A posted version's config; raises ConfigError (every error) if it is bad."""
        if tenant in self.files:
            where = self.files[tenant]
            raise ConfigError([f"tenant {tenant}: configured by {where} (edit it, then SIGHUP)"])
        return tenant_config(self.base, text, f"{tenant}.yaml")

    def next_version(self, tenant: str, text: str, source: str, now: float) -> ConfigVersion:
        current = self.versions.get(tenant)
        if current is None:
            return first_version(tenant, text, source, now)
        return current.following(text, source, now)

    def apply(self, v: ConfigVersion, now: float) -> list[str]:
        """Install a version read from the config topic; returns its errors ([] when it
        is installed or is not newer than the running one).  A bad version is refused:
        the running config stays, and the errors are kept for ``GET``."""
        current = self.versions.get(v.tenant)
        if current is not None and v.version <= current.version:
            return []
        try:
            config = self.validate(v.tenant, v.text)
        except ConfigError as exc:
            self.refused[v.tenant] = (v.version, exc.errors)
            log.error("config of tenant %s v%d refused:\n%s", v.tenant, v.version, exc)
            return exc.errors
        self.versions[v.tenant] = v
        self.refused.pop(v.tenant, None)
        self._install(v.tenant, config, now)
        log.info("config of tenant %s: v%d (%s) applied", v.tenant, v.version, v.hash)
        return []

    def reload(
        self, base: PipelinesConfig, files: Mapping[str, tuple[str, PipelinesConfig]], now: float
    ) -> list[str]:
        """A validated pipelines file and its tenant files (SIGHUP): the default and the
        file tenants swap; returns what changed, one line each."""
        changes = [f"default: {c}" for c in describe_changes(self.base, base)]
        restart = [
            k
            for k in PipelinesConfig.model_fields
            if k not in TENANT_KEYS
            and k != "tenant_files"
            and getattr(self.base, k) != getattr(base, k)
        ]
        if restart:
            log.warning("reload: %s take effect only after a restart", ", ".join(restart))
        self.base = base
        self._notify(None, base, now)
        for tenant, (path, config) in files.items():
            old = self.configs.get(tenant, base)
            changes += [f"{tenant}: {c}" for c in describe_changes(old, config)]
            self.files[tenant] = path
            self._install(tenant, config, now)
        for tenant in [t for t in self.files if t not in files]:
            log.warning("reload: tenant %s left tenant_files; it keeps its config", tenant)
        return changes

    def _install(self, tenant: str, config: PipelinesConfig, now: float) -> None:
        self.configs[tenant] = config
        self._notify(tenant, config, now)

    def _notify(self, tenant: str | None, config: PipelinesConfig, now: float) -> None:
        for listener in self.listeners:
            listener(tenant, config, now)
