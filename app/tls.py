"""TLS for the worker's HTTP API: the server's context, and the client context with
which workers (forwarded reads) and the command line reach a TLS worker.

Given ``--tls-cert``/``--tls-key`` the worker's web server (Faust's aiohttp site, through
its ``web_ssl_context`` setting) speaks TLS 1.3 only; with ``--tls-client-ca`` every
client must present a certificate that CA issued (mTLS). SIGHUP loads the certificate
and key again into the live context: new handshakes get the new certificate, open
connections keep theirs (an expiring certificate is replaced without a restart).
A pair that does not load is refused and logged; the running one stays.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING

from app.settings import Settings

if TYPE_CHECKING:  # the client library imports this module: no Faust there
    import faust

log = logging.getLogger(__name__)


def server_context(settings: Settings) -> ssl.SSLContext | None:
    """The web server's context (TLS 1.3 at least), None when no certificate is given;
    ValueError when only half of the pair is."""
    if not (settings.tls_cert or settings.tls_key):
        if settings.tls_client_ca:
            raise ValueError("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if not (settings.tls_cert and settings.tls_key):
        raise ValueError("--tls-cert and --tls-key go together")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    if settings.tls_client_ca:
        context.load_verify_locations(cafile=settings.tls_client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def reload_certificate(context: ssl.SSLContext, cert: str, key: str) -> str | None:
    """Load the pair into the live context; returns the error (nothing changed) or None.

    The pair is tried on a scratch context first: a failed ``load_cert_chain`` may
    leave a context with a certificate and no matching key."""
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert, key)
        context.load_cert_chain(cert, key)
    except OSError as exc:  # ssl.SSLError included
        log.error("TLS certificate reload refused, the running one stays: %s", exc)
        return str(exc)
    log.warning("TLS certificate reloaded from %s", cert)
    return None


def client_context(env: Mapping[str, str], settings: Settings | None = None) -> ssl.SSLContext:
    """How a client verifies a worker: ``ALERTSTREAM_TLS_CA`` (else the system's CAs),
    presenting ``ALERTSTREAM_TLS_CLIENT_CERT``/``_KEY`` when the worker asks for one.
    A worker forwarding to another presents its own server pair (``settings``)."""
    context = ssl.create_default_context(cafile=env.get("ALERTSTREAM_TLS_CA") or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    cert = env.get("ALERTSTREAM_TLS_CLIENT_CERT", "")
    key = env.get("ALERTSTREAM_TLS_CLIENT_KEY", "")
    if not cert and settings is not None and settings.tls_client_ca:
        cert, key = settings.tls_cert, settings.tls_key
    if cert:
        context.load_cert_chain(cert, key or None)
    return context


def api_tls(url: str, env: Mapping[str, str] | None = None) -> ssl.SSLContext | None:
    """The context the command line and ``app.client`` reach a worker's API with: None
    for an http URL (urllib's default)."""
    if not url.startswith("https:"):
        return None
    return client_context(os.environ if env is None else env)


def register(app: faust.App, settings: Settings) -> list[Callable[[], object]]:
    """Serve the worker's HTTP API over TLS when a certificate is given; returns what
    SIGHUP reloads (the pair), nothing without TLS. (Other workers reach this one by
    its https ``canonical_url``, set with the app in ``app/faust_app.py``.)"""
    context = server_context(settings)
    if context is None:
        return []
    app.conf.web_ssl_context = context
    return [partial(reload_certificate, context, settings.tls_cert, settings.tls_key)]
