"""``POST /api/v1/login``: a local user's password and TOTP code for a session token.

Basic auth proves one factor; a role that requires MFA (``access.mfa.roles``) is only
usable with a session token from here, which says the user also showed a TOTP code
(``totp_secret`` on the user in ``access.users``).  The session is a bearer JWT
(``models.access.sessions``) that carries the user's name, not their roles: each
request reads the roles from the configuration, so a removed user's sessions stop
working at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import faust
import orjson
from faust.web import Request, Response, View

from app.config.access import BasicUserConfig
from app.web import json_response, refuse
from models.access.oidc import looks_like_jwt
from models.access.passwords import PasswordCheck, hash_password
from models.access.permissions import PUBLIC
from models.access.principal import Principal
from models.access.sessions import Session, SessionError, Sessions, is_session
from models.access.totp import TotpCheck

PATH = "/api/v1/login"


class Login:
    """The one owner of local logins: the users, their password and TOTP checks, and
    the session key."""

    def __init__(self, users: Sequence[BasicUserConfig], sessions: Sessions) -> None:
        self.users = {u.name: u for u in users}
        self.sessions = sessions
        self.passwords = PasswordCheck()
        self.totp = TotpCheck()
        self._decoy: str | None = None  # a hash to check unknown users against

    async def login(self, name: str, password: str, code: str) -> tuple[str, Session] | None:
        """A session token for a user whose password and code are right, else None.
        An unknown user costs the same scrypt as a known one (no user enumeration)."""
        user = self.users.get(name)
        if user is None or user.totp_secret is None:
            if self._decoy is None:
                self._decoy = await asyncio.to_thread(hash_password, "decoy")
            await asyncio.to_thread(self.passwords, name, password, self._decoy)
            return None
        if not await asyncio.to_thread(self.passwords, name, password, user.password_hash):
            return None
        if not self.totp.verify(name, user.totp_secret, code):
            return None
        return self.sessions.issue(name, mfa=True)

    def principal(self, session: Session) -> Principal:
        """The caller a valid session stands for, with the user's roles as configured now."""
        user = self.users.get(session.user)
        if user is None:
            raise SessionError(f"user {session.user} no longer exists")
        base = user.principal()
        return Principal(
            id=f"session:{user.name}",
            roles=base.roles,
            mfa=session.mfa,
            allow_from=base.allow_from,
        )


class SessionAuth:
    """``Authorization: Bearer <session token>`` from ``POST /api/v1/login``."""

    def __init__(self, login: Login) -> None:
        self.login = login

    def configured(self) -> bool:
        return False  # sessions come from users, which basic auth already counts

    async def authenticate(self, scheme: str, credentials: str) -> Principal | None:
        if scheme != "bearer" or not looks_like_jwt(credentials) or not is_session(credentials):
            return None
        return self.login.principal(self.login.sessions.check(credentials))


class LoginView(View):
    """Public: the password and code in the body are the credential (and the access
    chain's per-address rate limit bounds how fast they can be guessed)."""

    permissions = {"POST": PUBLIC}
    login: Login

    async def post(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return refuse(400, f"body: not JSON: {exc}")
        if not isinstance(body, dict):
            return refuse(400, "body: expected an object with user, password and code")
        missing = [
            f"{key}: required string"
            for key in ("user", "password", "code")
            if not isinstance(body.get(key), str) or not body[key]
        ]
        if missing:
            return refuse(400, "; ".join(missing))
        issued = await self.login.login(body["user"], body["password"], body["code"])
        if issued is None:
            return refuse(401, "invalid user, password or TOTP code")
        token, session = issued
        expires = datetime.fromtimestamp(session.expires, UTC).isoformat()
        return json_response(
            {"status": "success", "token": token, "expires_at": expires, "mfa": session.mfa}
        )


def register(app: faust.App, login: Login) -> None:
    app.page(PATH)(type(LoginView.__name__, (LoginView,), {"login": login}))
