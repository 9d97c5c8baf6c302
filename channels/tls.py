"""TLS for outbound connections: Prometheus' ``tls_config`` and the SSL context it builds.

HTTP channels and SMTP share it, so a CA file, a client certificate or
``insecure_skip_verify`` mean the same everywhere.  Contexts are cached per
setting: building one reads files and costs milliseconds.
"""

from __future__ import annotations

import ssl
from functools import lru_cache

from channels.config_fields import Strict


class TLSConfig(Strict):
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    insecure_skip_verify: bool = False
    min_version: str = ""

    def options(self) -> dict[str, object]:
        """The settings a rendered request carries (JSON, so a dead letter replays them)."""
        return {
            "insecure_skip_verify": self.insecure_skip_verify,
            "ca_file": self.ca_file,
            "cert_file": self.cert_file,
            "key_file": self.key_file,
        }


@lru_cache(maxsize=32)
def _context(ca_file: str, cert_file: str, key_file: str, insecure: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file or None)
    if insecure:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cert_file:
        ctx.load_cert_chain(cert_file, key_file or None)
    return ctx


def tls_context(options: dict[str, object]) -> ssl.SSLContext | None:
    """The context for these settings, or None when the library default will do."""
    ca = str(options.get("ca_file") or "")
    cert = str(options.get("cert_file") or "")
    key = str(options.get("key_file") or "")
    insecure = bool(options.get("insecure_skip_verify"))
    if not (ca or cert or insecure):
        return None
    return _context(ca, cert, key, insecure)
