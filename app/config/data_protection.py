"""``data_protection:`` and ``retention:`` in pipelines.yaml (and in a tenant's own file).

Retention of what lives in tables is per tenant (a tenant's own config may shorten or
lengthen its history); retention of topics is the main file's, because every tenant
shares each topic and a topic has one ``retention.ms`` (``agents/retention.py`` sets it
on the broker).  ``None`` leaves the broker's own setting alone.  The audit topics are
kept for good whatever the file says (``retention.audit`` is refused).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.durations import Duration


class RetentionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # tables, per tenant
    history_events: int = Field(default=50, ge=1)  # kept per alert in the history table
    history: Duration | None = None  # age of history entries (table) and the `history` topic
    # tables, the main file's only (notification ids name no tenant)
    delivered: Duration = Field(default=7 * 86400.0, gt=0)  # ids kept to catch resends
    # topics, the main file's only
    receipts: Duration | None = None  # `notifications.receipts`
    dead_letters: Duration | None = None  # `dlq`
    # `audit` and `audit.checkpoints` are kept for good (agents/retention.py): a tenant's
    # chain verifies from its first entry, which every signed checkpoint covers
    audit: Duration | None = None
    notifications: Duration | None = None  # `notifications.<channel>`
    inputs: Duration | None = None  # `alerts`, `metrics`, `events`: what producers wrote
    check_every: Duration = Field(default=3600.0, gt=0)  # how often tables are collected

    @field_validator("audit")
    @classmethod
    def _audit_kept(cls, v: float | None) -> None:
        if v is not None:
            raise ValueError(
                "the audit log is kept for good: a tenant's chain and its signed checkpoints "
                "verify from its first entry, so no retention can be shorter than the log; "
                "archive it with `alertstream audit export` instead"
            )


class DataProtectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # labels whose values identify a person (``user``, ``email``): pseudonymised as
    # alerts enter the alert path, erasable with ``alertstream gdpr erase``
    personal_labels: list[str] = []
    # a worker adds a key-encryption key and re-wraps the data keys when the current KEK
    # is this old (agents/keys.py); None: only `alertstream keys rotate` rotates
    key_rotation: Duration | None = Field(default=None, gt=0)

    @field_validator("personal_labels")
    @classmethod
    def _not_reserved(cls, v: list[str]) -> list[str]:
        reserved = sorted({"alertname", "tenant"} & set(v))
        if reserved:
            raise ValueError(f"personal_labels: {', '.join(reserved)} cannot be personal")
        return v
