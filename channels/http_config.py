"""Prometheus' ``http_config`` for HTTP channels: authentication, TLS, proxy, redirects.

The names are Prometheus common/config's, so an Alertmanager receiver pastes in
unchanged.  ``options()`` is what a rendered request carries to ``send_http``.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import SecretStr, model_validator

from channels.config_fields import Strict
from channels.tls import TLSConfig


def basic_auth_header(username: str, password: str) -> dict[str, str]:
    raw = f"{username}:{password}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


class BasicAuth(Strict):
    username: str = ""
    password: SecretStr = SecretStr("")


class Authorization(Strict):
    type: str = "Bearer"
    credentials: SecretStr = SecretStr("")


class HTTPConfig(Strict):
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    bearer_token: SecretStr | None = None  # deprecated Prometheus spelling
    tls_config: TLSConfig = TLSConfig()
    proxy_url: str = ""
    follow_redirects: bool = True
    enable_http2: bool = True  # accepted for compatibility; aiohttp speaks HTTP/1.1

    @model_validator(mode="after")
    def _one_auth(self) -> HTTPConfig:
        given = [self.basic_auth, self.authorization, self.bearer_token]
        if sum(x is not None for x in given) > 1:
            raise ValueError("at most one of basic_auth, authorization, bearer_token")
        return self

    def auth_headers(self) -> dict[str, str]:
        if self.basic_auth is not None:
            auth = self.basic_auth
            return basic_auth_header(auth.username, auth.password.get_secret_value())
        if self.authorization is not None and self.authorization.credentials.get_secret_value():
            cred = self.authorization.credentials.get_secret_value()
            return {"Authorization": f"{self.authorization.type or 'Bearer'} {cred}"}
        if self.bearer_token is not None:
            return {"Authorization": f"Bearer {self.bearer_token.get_secret_value()}"}
        return {}

    def options(self, timeout: float) -> dict[str, Any]:
        return {
            "timeout": timeout,
            **self.tls_config.options(),
            "proxy_url": self.proxy_url,
            "follow_redirects": self.follow_redirects,
        }
