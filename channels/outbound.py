"""Outbound HTTP whose every connection is checked against a ``DestinationPolicy``.

The check sits where the socket is made (aiohttp's ``socket_factory``), after the
name has been resolved and for each address aiohttp is about to connect to: a URL
naming an IP literal, a host name resolving to loopback, a name that resolved to a
public address a moment ago and to a private one now (DNS rebinding), a redirect and
a proxy are all judged by the address actually connected to. A refused address is
skipped (another address of the name may be allowed); when all are, the request fails
with ``DestinationRefused``, which ``channels.http`` turns into a give-up: the
notification is dead-lettered with the reason, never retried.

Connections are pooled per session, so the checked session is never shared with
the operator's own receivers' (an unchecked pooled connection would bypass it).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable

import aiohttp

from models.access.destinations import DestinationPolicy

REFUSED = "refused by the outbound policy"


class DestinationRefused(OSError):
    def __init__(self, reason: str) -> None:
        super().__init__(errno.EACCES, f"{REFUSED}: {reason}")


def refusal(exc: BaseException) -> str | None:
    """Why a failed request failed, if only because the policy refused every address
    (several refusals reach us joined into one OSError by the connection racer)."""
    os_error = getattr(exc, "os_error", exc)
    if not isinstance(os_error, OSError) or os_error.errno != errno.EACCES:
        return None
    reason = os_error.strerror or str(os_error)
    return reason if REFUSED in reason else None


def checked_socket_factory(policy: DestinationPolicy) -> Callable[..., socket.socket]:
    def make(addr_info: tuple) -> socket.socket:
        family, type_, proto, _, sockaddr = addr_info
        reason = policy.refusal(str(sockaddr[0]))
        if reason:
            raise DestinationRefused(reason)
        return socket.socket(family=family, type=type_, proto=proto)

    return make


class CheckedConnector(aiohttp.TCPConnector):
    """A connector whose sockets ``policy`` allows; channels that connect by other
    means than the session (SMTP) find the policy on it (``policy_of``)."""

    def __init__(self, policy: DestinationPolicy) -> None:
        super().__init__(socket_factory=checked_socket_factory(policy))
        self.policy = policy


def checked_session(policy: DestinationPolicy) -> aiohttp.ClientSession:
    """A session that connects only to addresses ``policy`` allows (make it inside the
    running loop)."""
    return aiohttp.ClientSession(connector=CheckedConnector(policy))


def policy_of(session: aiohttp.ClientSession | None) -> DestinationPolicy | None:
    """The policy a channel's session checks destinations with; None: unchecked."""
    connector = getattr(session, "connector", None)
    return connector.policy if isinstance(connector, CheckedConnector) else None


async def checked_connection(
    host: str, port: int, policy: DestinationPolicy, timeout: float
) -> socket.socket:
    """A socket connected to the first address of ``host`` (resolved now) that the
    policy allows, for clients that take a connected socket (aiosmtplib);
    DestinationRefused when it allows none."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    reasons = []
    for family, type_, proto, _, sockaddr in infos:
        reason = policy.refusal(str(sockaddr[0]))
        if reason:
            reasons.append(reason)
            continue
        sock = socket.socket(family=family, type=type_, proto=proto)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, sockaddr), timeout)
        except BaseException:
            sock.close()
            raise
        return sock
    raise DestinationRefused("; ".join(dict.fromkeys(reasons)))


class OutboundSessions:
    """Which session a tenant's notifications go out through: the operator's own
    (``trusted``) for receivers from the operator's files, the checked one for
    receivers a tenant set (``checked(tenant)``), made on first use."""

    def __init__(
        self,
        trusted: aiohttp.ClientSession,
        policy: DestinationPolicy,
        checked: Callable[[str], bool],
    ) -> None:
        self.trusted = trusted
        self.policy = policy
        self.checked = checked
        self._session: aiohttp.ClientSession | None = None

    def for_tenant(self, tenant: str) -> aiohttp.ClientSession:
        if not self.checked(tenant):
            return self.trusted
        if self._session is None or self._session.closed:
            self._session = checked_session(self.policy)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
