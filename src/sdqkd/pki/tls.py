"""TLS contexts for mutual authentication with the project's CA (TLS 1.2 or newer, verification
always on)."""

from __future__ import annotations

import ssl
from pathlib import Path

__all__ = ["client_ssl_context", "server_ssl_context"]


def server_ssl_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """A server context that requires a client certificate issued by ``ca``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # ETSI GS QKD 014 §5: TLS 1.2 or higher
    context.load_cert_chain(cert, key)
    context.load_verify_locations(cafile=ca)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_ssl_context(cert: Path, key: Path, ca: Path) -> ssl.SSLContext:
    """A client context that presents ``cert`` and verifies the server against ``ca`` (hostname
    checked)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
