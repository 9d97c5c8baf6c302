"""OIDC bearer JWTs at the worker: the provider's keys read over HTTP, and the
authenticator the access chain asks (``app/access.py``).

Keys are fetched only when the cache in ``models.access.oidc.JwksCache`` needs them
(first token, an unknown key id, once an hour), asynchronously: a request never
waits on the provider otherwise.  Without ``jwks_url`` the key set's address is read
once from the provider's discovery document, whose ``issuer`` must be ours.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from app.config.access_policy import OidcConfig
from models.access.oidc import JwksCache, OidcError, OidcVerifier, looks_like_jwt
from models.access.principal import Principal
from models.access.sessions import is_session

TIMEOUT = aiohttp.ClientTimeout(total=10)


class JwksFetcher:
    """``await fetcher()`` -> the provider's JWKS document."""

    def __init__(self, issuer: str, jwks_url: str | None = None) -> None:
        self.issuer = issuer
        self.jwks_url = jwks_url

    async def __call__(self) -> dict[str, Any]:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            if self.jwks_url is None:
                self.jwks_url = await self._discover(http)
            return await _json(http, self.jwks_url)

    async def _discover(self, http: aiohttp.ClientSession) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await _json(http, url)
        if document.get("issuer") != self.issuer:
            raise OidcError(f"{url} names issuer {document.get('issuer')!r}, not ours")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise OidcError(f"{url} has no jwks_uri")
        return jwks_uri


async def _json(http: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with http.get(url, headers={"Accept": "application/json"}) as response:
        response.raise_for_status()
        document = await response.json(content_type=None)
    if not isinstance(document, dict):
        raise OidcError(f"{url}: expected a JSON object")
    return document


class OidcAuth:
    """``Authorization: Bearer <JWT>`` from the configured provider."""

    def __init__(self, config: OidcConfig) -> None:
        keys = JwksCache(
            JwksFetcher(config.issuer, config.jwks_url),
            min_refresh=config.keys_min_refresh,
            max_age=config.keys_max_age,
        )
        self.verifier = OidcVerifier(config.policy(), keys)

    def configured(self) -> bool:
        return True

    async def authenticate(self, scheme: str, credentials: str) -> Principal | None:
        if scheme != "bearer" or not looks_like_jwt(credentials) or is_session(credentials):
            return None
        return await self.verifier.principal(credentials)  # OidcError: 401 with the reason
