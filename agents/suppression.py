"""Suppression, shared by the alerts agent and the API: inhibition, silences, time intervals.

One ``mutes(labels, now)`` answer for the notify pipeline, as Alertmanager's silencer
and inhibitor share one interface.  Silences live in a global table so that every
worker sees every silence; this worker's index is rebuilt when that table changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from app.pipeline import pipeline_config
from models.alert import Alert
from models.inhibit import Inhibitor
from models.routing import Route
from models.silences import Silence, SilenceIndex
from models.timeintervals import NamedTimeIntervals, is_active


class Suppressor:
    def __init__(self) -> None:
        config = pipeline_config()
        self.intervals: dict[str, NamedTimeIntervals] = {
            t.name: t.build() for t in config.time_intervals
        }
        self.inhibitor = Inhibitor.from_config(config.inhibit_rules)
        self.silences = SilenceIndex(self.intervals)

    def observe(self, alerts: Iterable[Alert]) -> None:
        """Feed alert state changes to the inhibitor (firing alerts are sources)."""
        for alert in alerts:
            self.inhibitor.add_alert(alert)

    def forget(self, fingerprint: str) -> None:
        self.inhibitor.remove(fingerprint)

    def mutes(self, labels: Mapping[str, str], now: float) -> bool:
        return self.inhibitor.mutes(labels, now) or bool(self.silences.mutes(labels, now))

    def route_muted(self, route: Route, now: float) -> bool:
        """Mute time intervals hit, or active time intervals given and none active."""
        if route.mute_time_intervals and is_active(route.mute_time_intervals, self.intervals, now):
            return True
        return bool(route.active_time_intervals) and not is_active(
            route.active_time_intervals, self.intervals, now
        )

    def load_silences(self, silences: Iterable[Silence]) -> None:
        index = SilenceIndex(self.intervals)
        for s in silences:
            index.put(s)
        self.silences = index


suppressor = Suppressor()
