"""What several channels read off a notification to build a message.

Severity, the runbook and source links and length caps are the same question for
Slack, Teams, PagerDuty and SMS; answered once here, the messages agree.
"""

from __future__ import annotations

from models.notify.notification import Notification

SEVERITY_ORDER = ("critical", "error", "high", "warning", "medium", "low", "info")


def severity_of(notification: Notification) -> str:
    """The common ``severity`` label, else the most severe one among firing alerts."""
    sev = notification.common("labels").get("severity", "")
    if sev:
        return sev.lower()
    found = {a["labels"].get("severity", "").lower() for a in notification.firing()}
    return next((s for s in SEVERITY_ORDER if s in found), "")


def runbook_url(notification: Notification) -> str:
    """The common ``runbook_url`` annotation, else the first alert's that has one."""
    common = notification.common("annotations").get("runbook_url")
    if common:
        return common
    return next(
        (
            a["annotations"]["runbook_url"]
            for a in notification.alerts
            if a["annotations"].get("runbook_url")
        ),
        "",
    )


def source_url(notification: Notification) -> str:
    """The first alert's ``generatorURL`` (the rule or graph that produced it)."""
    return next((a["generatorURL"] for a in notification.alerts if a.get("generatorURL")), "")


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
