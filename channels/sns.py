"""Amazon SNS ``Publish`` through boto3, run off the event loop.

Alertmanager's ``sns_configs``: exactly one of ``topic_arn``, ``phone_number`` or
``target_arn``; ``api_url`` overrides the endpoint; ``sigv4`` holds region and
credentials (static keys, a profile, or a role to assume).  SMS messages are cut
to one 160-character segment with the alert name and severity first; other
messages to SNS's 256 KiB, subjects to 100 characters.  Throttling and 5xx retry;
validation and authorisation errors give up.

The rendered request is ``{"kind": "sns", "endpoint_url", "sigv4", "params"}`` with
``params`` the exact keyword arguments of ``publish``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, ClassVar

from pydantic import SecretStr, model_validator

from channels import templating
from channels.channel import Channel
from channels.config_fields import DEFAULT_TIMEOUT, ChannelConfig, Strict, template_field, url_field
from channels.content import truncate
from channels.outcome import Outcome
from channels.rate_limit import UNLIMITED, RateLimit
from models.notify.notification import Notification

SMS_MAX = 160
# An SMS origination number sends from 1 message part per second (a US 10DLC number
# before an increase) to 100 (a US short code): AWS End User Messaging SMS, "Message
# Parts per Second (MPS) limits".  SNS picks the number, so assume the lowest, per
# recipient phone number; topics fan out inside SNS and are not limited here.
SMS_RATE = RateLimit(rate=1.0, burst=1.0)
MESSAGE_MAX = 256 * 1024
SUBJECT_MAX = 100
THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "KMSThrottlingException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
    }
)


class SigV4Config(Strict):
    region: str = ""
    access_key: str = ""
    secret_key: SecretStr = SecretStr("")
    profile: str = ""
    role_arn: str = ""


class SNSConfig(ChannelConfig):
    send_resolved: bool = True
    api_url: str = ""
    sigv4: SigV4Config = SigV4Config()
    topic_arn: str = ""
    phone_number: str = ""
    target_arn: str = ""
    subject: str = ""  # template; empty = built-in sns.subject.txt
    message: str = ""  # template; empty = sms.txt for SMS, sns.message.txt otherwise
    attributes: dict[str, str] = {}

    check_templates = template_field("subject", "message")
    check_urls = url_field("api_url")

    @model_validator(mode="after")
    def _one_target(self) -> SNSConfig:
        if sum(bool(x) for x in (self.topic_arn, self.phone_number, self.target_arn)) != 1:
            raise ValueError(
                "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config"
            )
        if bool(self.sigv4.access_key) != bool(self.sigv4.secret_key.get_secret_value()):
            raise ValueError("sigv4: access_key and secret_key go together")
        return self

    def region(self) -> str:
        if self.sigv4.region:
            return self.sigv4.region
        arn = self.topic_arn or self.target_arn
        parts = arn.split(":")
        return parts[3] if len(parts) > 3 and parts[3] else "us-east-1"


def cut_bytes(text: str, limit: int) -> tuple[str, bool]:
    raw = text.encode()
    if len(raw) <= limit:
        return text, False
    return raw[: limit - 3].decode("utf-8", "ignore") + "…", True


def sms_text(notification: Notification, template: str = "") -> str:
    """One SMS segment: status, alert name and severity first, then the summary."""
    ctx = templating.context(notification)
    text = templating.render(template, "sms.txt", ctx)
    return truncate(" ".join(text.split()), SMS_MAX)


class SNSChannel(Channel):
    kind: ClassVar[str] = "sns"
    config_key: ClassVar[str] = "sns_configs"
    Config = SNSConfig
    config: SNSConfig

    def render(self, notification: Notification) -> dict[str, Any]:
        cfg = self.config
        ctx = templating.context(notification)
        params: dict[str, Any] = {}
        attributes = {k: templating.render_string(v, ctx) for k, v in cfg.attributes.items()}
        if cfg.phone_number:
            params["PhoneNumber"] = cfg.phone_number
            params["Message"] = sms_text(notification, cfg.message)
        else:
            params["TopicArn" if cfg.topic_arn else "TargetArn"] = cfg.topic_arn or cfg.target_arn
            message = templating.render(cfg.message, "sns.message.txt", ctx)
            message, truncated = cut_bytes(message, MESSAGE_MAX)
            if truncated:
                attributes["truncated"] = "true"
            params["Message"] = message or " "
            subject = templating.render(cfg.subject, "sns.subject.txt", ctx)
            # SNS subjects: ASCII text, no line breaks, at most 100 characters.
            subject = " ".join(subject.encode("ascii", "replace").decode().split())
            params["Subject"] = truncate(subject, SUBJECT_MAX)
            if (cfg.topic_arn or cfg.target_arn).endswith(".fifo"):
                params["MessageGroupId"] = notification.group_key[:128] or "alertstream"
                params["MessageDeduplicationId"] = notification.id[:128]
        if attributes:
            params["MessageAttributes"] = {
                k: {"DataType": "String", "StringValue": v} for k, v in attributes.items() if v
            }
        return {
            "kind": "sns",
            "endpoint_url": cfg.api_url,
            "sigv4": {
                "region": cfg.region(),
                "access_key": cfg.sigv4.access_key,
                "secret_key": cfg.sigv4.secret_key.get_secret_value(),
                "profile": cfg.sigv4.profile,
                "role_arn": cfg.sigv4.role_arn,
            },
            "params": params,
            "timeout": cfg.attempt_timeout(),
        }

    @staticmethod
    def destination(rendered: dict[str, Any]) -> str:
        params = rendered.get("params", {})
        target = params.get("TopicArn") or params.get("TargetArn") or "sms"
        return f"sns:{rendered.get('endpoint_url') or rendered['sigv4']['region']}:{target}"

    @classmethod
    def rate_scope(cls, rendered: dict[str, Any]) -> tuple[str, RateLimit]:
        phone = rendered.get("params", {}).get("PhoneNumber")
        if phone:
            return f"sns-sms:{phone}", SMS_RATE
        return cls.destination(rendered), UNLIMITED

    async def send(self, rendered: dict[str, Any]) -> Outcome:
        start = time.monotonic()
        try:
            reply = await asyncio.to_thread(_publish, rendered)
        except Exception as exc:
            return classify_boto(exc, time.monotonic() - start)
        status = reply.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)
        return Outcome.delivered(
            status, f"MessageId {reply.get('MessageId', '')}", latency=time.monotonic() - start
        )


_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()


def _client(rendered: dict[str, Any]) -> Any:
    import boto3
    from botocore.config import Config

    sig = rendered.get("sigv4") or {}
    timeout = float(rendered.get("timeout") or DEFAULT_TIMEOUT)
    key = (
        rendered.get("endpoint_url") or "",
        sig.get("region"),
        sig.get("access_key"),
        sig.get("secret_key"),
        sig.get("profile"),
        sig.get("role_arn"),
        timeout,
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is not None:
            return client
        session = boto3.session.Session(
            aws_access_key_id=sig.get("access_key") or None,
            aws_secret_access_key=sig.get("secret_key") or None,
            profile_name=sig.get("profile") or None,
            region_name=sig.get("region") or None,
        )
        config = Config(
            retries={"total_max_attempts": 1, "mode": "standard"},  # Deliverer retries
            connect_timeout=timeout,
            read_timeout=timeout,
        )
        endpoint = rendered.get("endpoint_url") or None
        if sig.get("role_arn"):
            creds = session.client("sts", endpoint_url=endpoint, config=config).assume_role(
                RoleArn=sig["role_arn"], RoleSessionName="alertstream"
            )["Credentials"]
            session = boto3.session.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=sig.get("region") or None,
            )
            # assumed-role credentials expire: do not cache this client
            return session.client("sns", endpoint_url=endpoint, config=config)
        client = session.client("sns", endpoint_url=endpoint, config=config)
        if len(_clients) > 64:
            _clients.clear()
        _clients[key] = client
        return client


def _publish(rendered: dict[str, Any]) -> dict[str, Any]:
    return _client(rendered).publish(**rendered["params"])


def classify_boto(exc: BaseException, latency: float) -> Outcome:
    from botocore.exceptions import (
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        ParamValidationError,
    )
    from botocore.exceptions import (
        ConnectionError as BotoConnectionError,
    )

    name = type(exc).__name__
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        detail = f"{code}: {err.get('Message', '')}"
        if code in THROTTLING or (status or 0) >= 500 or status == 429:
            throttled = "Throttl" in code or "Limit" in code or status == 429
            return Outcome.retry(status, detail, latency=latency, throttled=throttled)
        return Outcome.give_up(status, detail, latency=latency)
    if isinstance(exc, BotoConnectionError | HTTPClientError | TimeoutError | OSError):
        return Outcome.retry(None, f"{name}: {exc}", latency=latency)
    if isinstance(exc, NoCredentialsError | ParamValidationError):
        return Outcome.give_up(None, f"{name}: {exc}", latency=latency)
    return Outcome.give_up(None, f"{name}: {exc}", latency=latency)
