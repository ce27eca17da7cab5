"""In-process calls to an ASGI app as a certificate holder, exactly as the services see callers:
the client certificate reaches the app as ``scope["extensions"]["tls"]`` (what
:mod:`sdqkd.server.tls_extension` does over real TLS). Importable as ``asgi_support`` from any test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

import httpx

from sdqkd.pki import IssuedCertificate

CallAs = Callable[[IssuedCertificate | None], httpx.AsyncClient]


class WithClientCertificate:
    """ASGI middleware giving every request ``scope["extensions"]["tls"]`` with ``pem`` as the client
    certificate, or none when ``pem`` is None."""

    def __init__(self, app: Any, pem: str | None) -> None:
        self.app, self.pem = app, pem

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self.pem is not None:
            extensions = {**(scope.get("extensions") or {}), "tls": {"client_cert_chain": [self.pem]}}
            scope = {**scope, "extensions": extensions}
        await self.app(scope, receive, send)


@contextlib.asynccontextmanager
async def clients_presenting(app: Any, base_url: str) -> AsyncIterator[CallAs]:
    """``call_as(certificate)``: an in-process client of ``app`` presenting ``certificate`` (None:
    none); every client made is closed on exit."""
    clients: list[httpx.AsyncClient] = []

    def make(certificate: IssuedCertificate | None) -> httpx.AsyncClient:
        pem = certificate.cert.read_text() if certificate is not None else None
        transport = httpx.ASGITransport(app=WithClientCertificate(app, pem))
        clients.append(httpx.AsyncClient(transport=transport, base_url=base_url))
        return clients[-1]

    try:
        yield make
    finally:
        for client in clients:
            await client.aclose()
