"""Import an ``alertmanager.yml`` into pipelines.yaml sections.

``import_alertmanager(yaml_text) -> (sections, warnings)``: ``sections`` holds
``route``, ``receivers``, ``inhibit_rules`` and ``time_intervals`` in our schema
(which speaks Alertmanager's), ready to merge into pipelines.yaml; ``warnings``
lists what could not be carried over or was changed on the way.

* ``route`` / ``inhibit_rules``: validated with our models (``RouteConfig``,
  ``InhibitRuleConfig``); legacy ``match`` / ``match_re`` / ``source_match*`` /
  ``target_match*`` become ``matchers`` strings.
* ``receivers``: ``name`` and every ``*_configs`` block pass through unchanged;
  ``global`` defaults that Alertmanager folds into integrations (``smtp_*`` into
  ``email_configs``, ``slack_api_url`` into ``slack_configs``, ...) are folded the
  same way; the rest is reported.
* ``time_intervals`` and the legacy ``mute_time_intervals`` merge into
  ``time_intervals``.
* ``templates``: reported (Go templates are not rendered by our channels).

A YAML syntax error or an invalid route raises ``ValueError``.
"""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError

from app.config.receivers import UNSUPPORTED
from app.config.routing import (
    InhibitRuleConfig,
    RouteConfig,
    TimeIntervalsConfig,
    check_references,
)
from models.suppression.matchers import Matcher

# global key -> (integration, field in the integration config)
_GLOBAL_FOLDS: dict[str, list[tuple[str, str]]] = {
    "smtp_from": [("email_configs", "from")],
    "smtp_smarthost": [("email_configs", "smarthost")],
    "smtp_hello": [("email_configs", "hello")],
    "smtp_auth_username": [("email_configs", "auth_username")],
    "smtp_auth_password": [("email_configs", "auth_password")],
    "smtp_auth_password_file": [("email_configs", "auth_password_file")],
    "smtp_auth_secret": [("email_configs", "auth_secret")],
    "smtp_auth_identity": [("email_configs", "auth_identity")],
    "smtp_require_tls": [("email_configs", "require_tls")],
    "slack_api_url": [("slack_configs", "api_url")],
    "slack_api_url_file": [("slack_configs", "api_url_file")],
    "pagerduty_url": [("pagerduty_configs", "url")],
    "opsgenie_api_key": [("opsgenie_configs", "api_key")],
    "opsgenie_api_key_file": [("opsgenie_configs", "api_key_file")],
    "opsgenie_api_url": [("opsgenie_configs", "api_url")],
    "victorops_api_key": [("victorops_configs", "api_key")],
    "victorops_api_key_file": [("victorops_configs", "api_key_file")],
    "victorops_api_url": [("victorops_configs", "api_url")],
    "wechat_api_url": [("wechat_configs", "api_url")],
    "wechat_api_secret": [("wechat_configs", "api_secret")],
    "wechat_api_corp_id": [("wechat_configs", "corp_id")],
    "telegram_api_url": [("telegram_configs", "api_url")],
    "webex_api_url": [("webex_configs", "api_url")],
    "http_config": [
        (kind, "http_config")
        for kind in (
            "webhook_configs",
            "slack_configs",
            "pagerduty_configs",
            "opsgenie_configs",
            "victorops_configs",
            "pushover_configs",
            "wechat_configs",
            "telegram_configs",
            "webex_configs",
            "discord_configs",
            "msteams_configs",
            "sns_configs",
        )
    ],
}
ALERTMANAGER_SECTIONS = (
    "global",
    "route",
    "receivers",
    "inhibit_rules",
    "time_intervals",
    "mute_time_intervals",
    "templates",
)
"""The top-level keys of an alertmanager.yml, in Alertmanager's order."""


def _legacy_to_matchers(d: dict[str, Any], eq_key: str, re_key: str, out_key: str) -> None:
    ms = [Matcher(k, "=", str(v)) for k, v in (d.pop(eq_key, None) or {}).items()]
    ms += [Matcher(k, "=~", str(v)) for k, v in (d.pop(re_key, None) or {}).items()]
    if ms:
        d[out_key] = [str(m) for m in ms] + list(d.get(out_key) or [])


def _convert_route(r: dict[str, Any]) -> dict[str, Any]:
    r = dict(r)
    _legacy_to_matchers(r, "match", "match_re", "matchers")
    if r.get("routes"):
        r["routes"] = [_convert_route(c) for c in r["routes"]]
    return r


def _errors(exc: ValidationError, where: str) -> str:
    parts = []
    for e in exc.errors():
        loc = ".".join(str(x) for x in e["loc"])
        parts.append(f"{where}{'.' + loc if loc else ''}: {e['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def import_alertmanager(yaml_text: str) -> tuple[dict[str, Any], list[str]]:
    """An alertmanager.yml's text -> (pipelines.yaml sections, warnings), one section
    at a time in Alertmanager's order; references checked last, as the loader does."""
    doc = _parse(yaml_text)
    warnings = _top_level_warnings(doc)
    receivers = _receivers(doc, warnings)
    route = _route(doc)
    sections: dict[str, Any] = {"receivers": receivers, "route": route}
    rules = _inhibit_rules(doc, warnings)
    if rules:
        sections["inhibit_rules"] = rules
    intervals = _time_intervals(doc, warnings)
    if intervals:
        sections["time_intervals"] = intervals
    for problem in check_references(
        RouteConfig.model_validate(route),
        [r["name"] for r in receivers],
        {ti["name"] for ti in intervals},
    ):
        warnings.append(f"route: {problem}")
    return sections, warnings


def _parse(yaml_text: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(yaml_text)
    except yaml.YAMLError as exc:
        raise ValueError(f"invalid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ValueError("alertmanager.yml: expected a mapping at the top level")
    return doc


def _top_level_warnings(doc: dict[str, Any]) -> list[str]:
    warnings = [
        f"{key}: unknown top-level key, not imported"
        for key in doc
        if key not in ALERTMANAGER_SECTIONS
    ]
    if doc.get("templates"):
        warnings.append(
            "templates: Go templates are not imported; channels render with their own "
            f"templates ({len(doc['templates'])} file pattern(s) skipped)"
        )
    return warnings


def _receivers(doc: dict[str, Any], warnings: list[str]) -> list[dict[str, Any]]:
    """The receivers with unsupported integrations dropped and ``global`` defaults
    folded into the integrations that lack them, as Alertmanager does."""
    glob = dict(doc.get("global") or {})
    receivers = []
    used_globals: set[str] = set()
    for rcv in doc.get("receivers") or []:
        if not isinstance(rcv, dict) or not rcv.get("name"):
            warnings.append(f"receivers: entry without a name skipped: {rcv!r}")
            continue
        rcv = dict(rcv)
        for key in [k for k in rcv if k in UNSUPPORTED]:
            warnings.append(
                f"receivers[{rcv['name']}].{key}: not imported (alertstream has no such channel)"
            )
            del rcv[key]
        used_globals |= _fold_globals(rcv, glob)
        receivers.append(rcv)
    warnings.extend(_global_warnings(glob, used_globals))
    return receivers


def _fold_globals(rcv: dict[str, Any], glob: dict[str, Any]) -> set[str]:
    """Copy each ``global`` default into the receiver's integrations that lack the
    field; returns the global keys that were used."""
    used = set()
    for gkey, targets in _GLOBAL_FOLDS.items():
        if gkey not in glob:
            continue
        for kind, field in targets:
            for integ in rcv.get(kind) or []:
                if isinstance(integ, dict) and field not in integ:
                    integ[field] = glob[gkey]
                    used.add(gkey)
    return used


def _global_warnings(glob: dict[str, Any], used: set[str]) -> list[str]:
    warnings = []
    for gkey in glob:
        if gkey == "resolve_timeout":
            warnings.append(
                "global.resolve_timeout: not imported; alerts without ends_at resolve after "
                "the pipeline's own resolve timeout"
            )
        elif gkey not in used:
            reason = "no receiver uses it" if gkey in _GLOBAL_FOLDS else "not supported"
            warnings.append(f"global.{gkey}: not imported ({reason})")
    return warnings


def _route(doc: dict[str, Any]) -> dict[str, Any]:
    """The route tree with legacy matchers converted; ValueError if it is invalid."""
    if not doc.get("route"):
        raise ValueError("no routes provided")
    route = _convert_route(doc["route"])
    try:
        RouteConfig.model_validate(route)
    except ValidationError as exc:
        raise ValueError(_errors(exc, "route")) from None
    return route


def _inhibit_rules(doc: dict[str, Any], warnings: list[str]) -> list[dict[str, Any]]:
    """The valid inhibit rules with legacy matchers converted; invalid ones reported."""
    rules = []
    for i, rule in enumerate(doc.get("inhibit_rules") or []):
        rule = dict(rule)
        _legacy_to_matchers(rule, "source_match", "source_match_re", "source_matchers")
        _legacy_to_matchers(rule, "target_match", "target_match_re", "target_matchers")
        try:
            InhibitRuleConfig.model_validate(rule)
        except ValidationError as exc:
            warnings.append(f"{_errors(exc, f'inhibit_rules[{i}]')}: rule skipped")
            continue
        rules.append(rule)
    return rules


def _time_intervals(doc: dict[str, Any], warnings: list[str]) -> list[dict[str, Any]]:
    """``time_intervals`` and the legacy ``mute_time_intervals`` in one list; invalid
    or repeated names reported."""
    intervals = []
    seen: set[str] = set()
    for key in ("time_intervals", "mute_time_intervals"):
        for i, ti in enumerate(doc.get(key) or []):
            try:
                TimeIntervalsConfig.model_validate(ti)
            except ValidationError as exc:
                warnings.append(f"{_errors(exc, f'{key}[{i}]')}: interval skipped")
                continue
            if ti["name"] in seen:
                warnings.append(f'{key}[{i}]: time interval "{ti["name"]}" is not unique: skipped')
                continue
            seen.add(ti["name"])
            intervals.append(ti)
    if doc.get("mute_time_intervals"):
        warnings.append("mute_time_intervals: merged into time_intervals (legacy name)")
    return intervals
