"""``alertstream import-oncall``: a Grafana OnCall export -> our ``oncall:`` and
``escalation_policies:`` sections.

The input is one JSON object holding what OnCall's public API (``/api/v1/...``) lists,
each under the endpoint's name, as a plain list or as the paginated answer
(``{"results": [...]}``): ``users``, ``schedules``, ``on_call_shifts``,
``escalation_chains``, ``escalation_policies`` (``teams`` and ``user_groups`` are read
only to name what cannot be converted). IDs become names (a user's ``username``, a
schedule's, chain's or shift's ``name``).

What maps: shifts (``single_event``, ``recurrent_event``, ``rolling_users`` with
``frequency``/``interval``/``by_day``/``by_month``/``by_monthday``/``week_start``/
``until``, ``level`` as priority, per-shift ``time_zone``) become layers; ``override``
shifts become overrides; policy steps ``wait``, ``notify_persons``,
``notify_person_next_each_time`` (round robin), ``notify_on_call_from_schedule``,
``notify_if_time_from_to`` (a UTC time interval on the steps after it) and
``repeat_escalation`` map one to one. Everything else is listed as not converted,
with the reason: iCal-URL schedules and override calendars (their events live
elsewhere), team and Slack user-group steps (the API does not list members),
webhooks, Slack channels, auto-resolve, and ``important``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from models.durations import format_duration

_PERIOD = {"hourly": 3600, "daily": 86400, "weekly": 7 * 86400, "monthly": 28 * 86400}
_UNCONVERTED_STEPS = {
    "notify_user_group": "Slack user groups: OnCall's API does not list their members",
    "notify_team_members": "OnCall's API does not list a team's members; add the team"
    " under oncall.teams and a `notify: {team: ...}` step",
    "trigger_webhook": "webhooks: add a webhook receiver and a `notify: {receivers: [...]}` step",
    "trigger_action": "webhooks: add a webhook receiver and a `notify: {receivers: [...]}` step",
    "notify_whole_channel": "Slack channels: add a slack receiver and a"
    " `notify: {receivers: [...]}` step",
    "resolve": "resolving automatically is not an escalation step here",
}


def _items(data: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = data.get(key) or []
    if isinstance(value, dict):
        value = value.get("results") or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{key}: expected a list of objects (or {{'results': [...]}})")
    return value


class OncallImport:
    """One conversion: ``run()`` returns the sections and fills ``warnings``."""

    def __init__(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object with users, schedules, on_call_shifts, ...")
        self.data = data
        self.warnings: list[str] = []
        self.users = {u["id"]: u.get("username") or u["id"] for u in _items(data, "users")}
        self.shifts = {s["id"]: s for s in _items(data, "on_call_shifts") if "id" in s}
        self.schedules: dict[str, str] = {}  # id -> name, of those converted
        self.intervals: list[dict[str, Any]] = []

    def _names(self, ids: list[str] | None, where: str) -> list[str]:
        out = []
        for i in ids or []:
            if i in self.users:
                out.append(self.users[i])
            else:
                self.warnings.append(f"{where}: user {i} is not among the exported users; left out")
        return out

    def user(self, u: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"name": u.get("username") or u["id"]}
        if u.get("email"):
            out["email"] = u["email"]
        slack = [s.get("user_id") for s in u.get("slack") or [] if s.get("user_id")]
        if slack:
            out["slack_id"] = slack[0]
        if u.get("timezone"):
            out["time_zone"] = u["timezone"]
        return out

    def layer(self, s: dict[str, Any], tz: str, where: str) -> dict[str, Any] | None:
        kind = s.get("type")
        start = datetime.fromisoformat(str(s["start"]).removesuffix("Z"))
        duration = int(s.get("duration") or 0)
        out: dict[str, Any] = {"name": s.get("name") or s.get("id"), "start": start.isoformat()}
        if s.get("time_zone") and s["time_zone"] != tz:
            out["time_zone"] = s["time_zone"]
        out["priority"] = int(s.get("level") or 0)
        if kind == "single_event":
            users = self._names(s.get("users"), where)
            out |= {
                "handoff": "FREQ=DAILY;COUNT=1",
                "end": (start + timedelta(seconds=duration)).isoformat(),
            }
            groups = [users]
        elif kind in ("recurrent_event", "rolling_users"):
            rule = self._rule(s)
            if kind == "recurrent_event":
                groups = [self._names(s.get("users"), where)]
                out["handoff"] = rule
            else:
                groups = [self._names(g, where) for g in s.get("rolling_users") or []]
                first = int(s.get("start_rotation_from_user_index") or 0) % max(len(groups), 1)
                groups = groups[first:] + groups[:first]
                out["handoff"] = self._rule(s, period_only=True)
            period = _PERIOD.get(s.get("frequency", ""), 0) * int(s.get("interval") or 1)
            if rule != out["handoff"] or duration < period:
                out |= {"active": rule, "duration": format_duration(duration)}
            if s.get("until"):
                out["end"] = str(s["until"]).removesuffix("Z")
        else:
            self.warnings.append(f"{where}: shift type {kind!r} has no counterpart")
            return None
        groups = [g for g in groups if g]
        if not groups:
            self.warnings.append(f"{where}: no known users; layer left out")
            return None
        out["users"] = [g[0] if len(g) == 1 else g for g in groups]
        return out

    @staticmethod
    def _rule(s: dict[str, Any], period_only: bool = False) -> str:
        freq = s.get("frequency")
        if freq not in _PERIOD:
            raise ValueError(f"shift {s.get('name')}: frequency {freq!r} is not one of {_PERIOD}")
        parts = [f"FREQ={freq.upper()}"]
        if int(s.get("interval") or 1) != 1:
            parts.append(f"INTERVAL={int(s['interval'])}")
        if s.get("week_start"):
            parts.append(f"WKST={s['week_start']}")
        if not period_only:
            for key, name in (
                ("by_day", "BYDAY"),
                ("by_month", "BYMONTH"),
                ("by_monthday", "BYMONTHDAY"),
            ):
                if s.get(key):
                    parts.append(f"{name}={','.join(str(v) for v in s[key])}")
        return ";".join(parts)

    def override(self, s: dict[str, Any], where: str) -> dict[str, Any] | None:
        users = self._names(s.get("users"), where)
        if not users:
            return None
        start = datetime.fromisoformat(str(s["start"]).removesuffix("Z"))
        end = start + timedelta(seconds=int(s.get("duration") or 0))
        return {"users": users, "start": start.isoformat(), "end": end.isoformat()}

    def schedule(self, sch: dict[str, Any]) -> dict[str, Any] | None:
        name = sch.get("name") or sch["id"]
        if sch.get("type") == "ical":
            self.warnings.append(
                f"schedule {name}: an iCal-URL schedule ({sch.get('ical_url_primary')}); its"
                " events live in that calendar: write its rotations as layers"
            )
            return None
        if sch.get("ical_url_overrides"):
            self.warnings.append(
                f"schedule {name}: override calendar {sch['ical_url_overrides']}"
                " (write its events as overrides)"
            )
        tz = sch.get("time_zone") or "UTC"
        refs = [self.shifts.get(r, r) if isinstance(r, str) else r for r in sch.get("shifts") or []]
        refs += [
            s
            for s in self.shifts.values()
            if sch.get("id") in (s.get("schedule_id"), s.get("schedule")) and s not in refs
        ]
        layers, overrides = [], []
        for ref in refs:
            if not isinstance(ref, dict):
                self.warnings.append(f"schedule {name}: shift {ref} is not in on_call_shifts")
                continue
            where = f"schedule {name}, shift {ref.get('name') or ref.get('id')}"
            if ref.get("type") == "override":
                if o := self.override(ref, where):
                    overrides.append(o)
            elif layer := self.layer(ref, tz, where):
                layers.append(layer)
        if not layers:
            self.warnings.append(f"schedule {name}: no shift could be converted; left out")
            return None
        self.schedules[sch["id"]] = name
        out: dict[str, Any] = {"name": name, "time_zone": tz, "layers": layers}
        if overrides:
            out["overrides"] = overrides
        return out

    def policy(self, chain: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any] | None:
        name = chain.get("name") or chain["id"]
        out: list[dict[str, Any]] = []
        repeat = 0
        active: list[str] = []
        for p in sorted(steps, key=lambda p: p.get("position", 0)):
            kind = p.get("type")
            where = f"escalation chain {name}, step {p.get('position', '?')} ({kind})"
            if p.get("important"):
                self.warnings.append(
                    f"{where}: `important` (we have no personal notification rules)"
                )
            step: dict[str, Any] | None = None
            if kind == "wait":
                seconds = int(p.get("duration") or 0)
                if out and not out[-1].get("wait"):
                    out[-1]["wait"] = format_duration(seconds)
                else:
                    out.append({"wait": format_duration(seconds)})
                continue
            if kind in ("notify_persons", "notify_person_next_each_time"):
                key = (
                    "persons_to_notify"
                    if kind == "notify_persons"
                    else "persons_to_notify_next_each_time"
                )
                users = self._names(p.get(key), where)
                if users:
                    step = {"notify": {"users": users}}
                    if kind == "notify_person_next_each_time":
                        step["notify"]["pick"] = "round_robin"
            elif kind == "notify_on_call_from_schedule":
                sid = p.get("notify_on_call_from_schedule") or p.get(
                    "notify_on_call _from_schedule"
                )
                if sid in self.schedules:
                    step = {"notify": {"schedule": self.schedules[sid]}}
                else:
                    self.warnings.append(f"{where}: its schedule {sid} was not converted")
            elif kind == "notify_if_time_from_to":
                active = [self._interval(name, p)]
                continue
            elif kind == "repeat_escalation":
                repeat = 5  # OnCall repeats the chain at most five times
                break
            else:
                self.warnings.append(f"{where}: {_UNCONVERTED_STEPS.get(kind, 'no counterpart')}")
            if step is not None:
                if active:
                    step["active_time_intervals"] = list(active)
                out.append(step)
        if not any("notify" in s for s in out):
            self.warnings.append(f"escalation chain {name}: no step could be converted; left out")
            return None
        policy: dict[str, Any] = {"name": name, "steps": out}
        if repeat:
            policy["repeat"] = repeat
        return policy

    def _interval(self, chain: str, p: dict[str, Any]) -> str:
        """``notify_if_time_from_to`` (UTC clock times) as a named time interval."""
        a = str(p.get("notify_if_time_from") or "00:00:00Z")[:5]
        b = str(p.get("notify_if_time_to") or "23:59:00Z")[:5]
        times = (
            [{"start_time": a, "end_time": b}]
            if a < b
            else [{"start_time": a, "end_time": "24:00"}, {"start_time": "00:00", "end_time": b}]
        )
        name = f"{chain}-{a}-{b}".replace(":", "")
        if all(i["name"] != name for i in self.intervals):
            self.intervals.append({"name": name, "time_intervals": [{"times": times}]})
        return name

    def run(self) -> dict[str, Any]:
        users = [self.user(u) for u in _items(self.data, "users")]
        schedules = [s for s in map(self.schedule, _items(self.data, "schedules")) if s]
        policies = []
        steps = _items(self.data, "escalation_policies")
        for chain in _items(self.data, "escalation_chains"):
            mine = [p for p in steps if p.get("escalation_chain_id") == chain.get("id")]
            if policy := self.policy(chain, mine):
                policies.append(policy)
        for kind in ("teams", "user_groups"):
            if _items(self.data, kind):
                self.warnings.append(f"{kind}: OnCall's API does not list their members")
        out: dict[str, Any] = {"oncall": {"users": users, "schedules": schedules}}
        if policies:
            out["escalation_policies"] = policies
        if self.intervals:
            out["time_intervals"] = self.intervals
        return out


def import_oncall(data: Any) -> tuple[dict[str, Any], list[str]]:
    """(sections for pipelines.yaml, what was not converted and why)."""
    try:
        conversion = OncallImport(data)
        return conversion.run(), conversion.warnings
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not in Grafana OnCall's API shape: {exc!r}") from None
