"""Email over SMTP (aiosmtplib): multipart/alternative with a text and an HTML part.

Alertmanager's ``email_configs`` fields.  ``require_tls`` (default true, as
Alertmanager's global ``smtp_require_tls``) demands STARTTLS and fails when the
server does not offer it; false sends in the clear.  Port 465 means implicit TLS.
"""

from __future__ import annotations

import ssl
import time
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, getaddresses, parseaddr
from typing import Any, ClassVar

import aiosmtplib
from pydantic import Field, SecretStr, field_validator, model_validator

from channels import templating
from channels.channel import Channel
from channels.config_fields import DEFAULT_TIMEOUT, ChannelConfig, template_field
from channels.outbound import checked_connection, policy_of, refusal
from channels.outcome import Outcome
from channels.tls import TLSConfig, tls_context
from models.notify.notification import Notification


class EmailConfig(ChannelConfig):
    send_resolved: bool = False
    to: str
    from_: str = Field("", alias="from")  # 'from' in YAML
    smarthost: str
    hello: str = "localhost"
    auth_username: str = ""
    auth_password: SecretStr = SecretStr("")
    auth_identity: str = ""
    require_tls: bool = True
    tls_config: TLSConfig = TLSConfig()
    html: str = ""  # Jinja2 template; empty = built-in email.html
    text: str = ""  # Jinja2 template; empty = built-in email.txt
    headers: dict[str, str] = {}

    check_html = template_field("html", html=True)
    check_text = template_field("text", "headers")

    @field_validator("smarthost")
    @classmethod
    def _hostport(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"smarthost {value!r} must be host:port")
        return value

    @field_validator("headers")
    @classmethod
    def _canonical_headers(cls, value: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in value.items():
            name = "-".join(p.capitalize() for p in k.split("-"))
            if name in out:
                raise ValueError(f"duplicate header {name!r} in email config")
            out[name] = v
        return out

    @model_validator(mode="after")
    def _addresses(self) -> EmailConfig:
        if not self.from_:
            raise ValueError("from is required in email_configs")
        if not [a for _, a in getaddresses([self.to]) if a]:
            raise ValueError(f"to {self.to!r} has no address")
        return self


def split_hostport(smarthost: str) -> tuple[str, int]:
    host, _, port = smarthost.rpartition(":")
    return host.strip("[]"), int(port)


class EmailChannel(Channel):
    kind: ClassVar[str] = "email"
    config_key: ClassVar[str] = "email_configs"
    Config = EmailConfig
    config: EmailConfig

    def render(self, notification: Notification) -> dict[str, Any]:
        cfg = self.config
        ctx = templating.context(notification)
        headers = {
            "Subject": templating.render_file("email.subject.txt", ctx),
            "To": cfg.to,
            "From": cfg.from_,
        }
        for name, tpl in cfg.headers.items():
            headers[name] = templating.render_string(tpl, ctx)
        text = templating.render(cfg.text, "email.txt", ctx)
        html = templating.render(cfg.html, "email.html", ctx, html=True)

        msg = EmailMessage(policy=SMTP)
        for name, value in headers.items():
            msg[name] = value.replace("\r", " ").replace("\n", " ")
        if "Date" not in headers:
            msg["Date"] = formatdate(notification.created_at or time.time())
        if "Message-Id" not in headers:
            msg["Message-Id"] = f"<{notification.id}@alertstream>"
        msg["X-Alertstream-Tenant"] = notification.tenant
        msg.set_content(text + "\n")
        msg.add_alternative(html + "\n", subtype="html")

        port = split_hostport(cfg.smarthost)[1]
        return {
            "kind": "smtp",
            "smarthost": cfg.smarthost,
            "hello": cfg.hello,
            "from": parseaddr(cfg.from_)[1],
            "to": [a for _, a in getaddresses([headers["To"]]) if a],
            "message": msg.as_string(),
            "auth": (
                {
                    "username": cfg.auth_username,
                    "password": cfg.auth_password.get_secret_value(),
                    "identity": cfg.auth_identity,
                }
                if cfg.auth_username
                else None
            ),
            "tls": {
                "implicit": port == 465,
                "require_tls": cfg.require_tls,
                **cfg.tls_config.options(),
            },
            "timeout": cfg.attempt_timeout(),
        }

    @staticmethod
    def destination(rendered: dict[str, Any]) -> str:
        return "smtp://" + rendered["smarthost"]

    async def send(self, rendered: dict[str, Any]) -> Outcome:
        host, port = split_hostport(rendered["smarthost"])
        tls = rendered.get("tls") or {}
        auth = rendered.get("auth") or {}
        start = time.monotonic()
        timeout = float(rendered.get("timeout") or DEFAULT_TIMEOUT)
        policy = policy_of(self.session)  # a receiver a tenant set: only allowed addresses
        try:
            sock = None if policy is None else await checked_connection(host, port, policy, timeout)
            errors, reply = await aiosmtplib.send(
                rendered["message"],
                sender=rendered["from"],
                recipients=rendered["to"],
                hostname=host,
                port=port if sock is None else None,
                sock=sock,
                local_hostname=rendered.get("hello") or None,
                username=auth.get("username") or None,
                password=auth.get("password") or None,
                use_tls=bool(tls.get("implicit")),
                start_tls=False if tls.get("implicit") else bool(tls.get("require_tls")),
                tls_context=tls_context(tls),
                timeout=timeout,
            )
        except Exception as exc:
            if reason := refusal(exc):
                return Outcome.give_up(None, reason, latency=time.monotonic() - start)
            return classify_smtp(exc, time.monotonic() - start)
        detail = reply
        if errors:
            detail = f"{reply}; refused: {', '.join(sorted(errors))}"
        return Outcome.delivered(250, detail, latency=time.monotonic() - start)


def classify_smtp(exc: BaseException, latency: float) -> Outcome:
    """4xx replies and network trouble retry; 5xx replies and TLS/config errors give up."""
    name = type(exc).__name__
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        code = min(codes) if codes else 550
        kind = Outcome.retry if any(400 <= c < 500 for c in codes) else Outcome.give_up
        return kind(code, f"{name}: {exc}", latency=latency)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        kind = Outcome.retry if 400 <= exc.code < 500 else Outcome.give_up
        return kind(exc.code, f"{name}: {exc.code} {exc.message}", latency=latency)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return Outcome.give_up(None, f"TLS: {exc}", latency=latency)
    if isinstance(
        exc,
        aiosmtplib.SMTPConnectError
        | aiosmtplib.SMTPTimeoutError
        | aiosmtplib.SMTPServerDisconnected
        | TimeoutError
        | OSError,
    ):
        return Outcome.retry(None, f"{name}: {exc}", latency=latency)
    # STARTTLS not offered with require_tls, no AUTH support, bad arguments...
    return Outcome.give_up(None, f"{name}: {exc}", latency=latency)
