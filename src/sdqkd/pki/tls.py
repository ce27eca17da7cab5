"""TLS contexts for mutual authentication with the project's CA (TLS 1.2 or newer, verification
always on)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from sdqkd.errors import PkiError

__all__ = ["async_https_client", "client_ssl_context", "server_ssl_context"]


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


def async_https_client(
    owner: str,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    timeout_s: float,
    http_client: httpx.AsyncClient | None = None,
) -> tuple[httpx.AsyncClient, bool]:
    """The HTTPS client of a service client (``owner``): ``http_client`` if given (it stays the
    caller's), else a new one presenting ``cert`` and verifying against ``ca``. Returns it and whether
    the caller made it here (and so must close it).

    Raises:
        PkiError: the certificate, key or CA cannot be used.
        TypeError: neither ``http_client`` nor all of ``cert``, ``key``, ``ca``.
    """
    if http_client is not None:
        return http_client, False
    if cert is None or key is None or ca is None:
        raise TypeError(f"{owner} needs cert, key and ca, or an http_client")
    try:
        context = client_ssl_context(cert, key, ca)  # verification always on, never verify=False
    except OSError as exc:  # ssl.SSLError is one: a key that is not the certificate's, a bad PEM
        raise PkiError(f"cannot use certificate {cert} (key {key}, CA {ca}): {exc}") from exc
    return httpx.AsyncClient(verify=context, timeout=timeout_s), True
