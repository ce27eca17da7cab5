"""Who is calling: the sdqkd identity of the client certificate of a mutually authenticated
connection, as a FastAPI dependency.

Who may call what is each service's table (:mod:`sdqkd.server.authz`). Two refusals, told apart here
once for every service: :class:`~sdqkd.errors.Unauthenticated` when
there is no usable certificate (none, or one without an sdqkd identity: who calls is unknown), and
:class:`~sdqkd.errors.Forbidden` when the caller is known but its role may not make the call. Each
app's error table gives them their status (401 and 403; ETSI GS QKD 014 answers 401 for both).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Annotated, Any

from cryptography import x509
from fastapi import Depends, Request

from sdqkd.errors import PkiError, Unauthenticated
from sdqkd.pki.identity import Identity, identity_of_certificate

__all__ = ["PEER_EXTENSION", "PeerDep", "Unauthenticated", "peer_identity", "with_peer"]

_CACHE_KEY = "sdqkd.identity"


PEER_EXTENSION = "sdqkd.peer"
"""The ASGI extension by which an sdqkd server tells the app who is calling when the connection was
authenticated otherwise than by a client certificate (QKD-TLS: a key the KMEs made for that caller).
Only servers set extensions, never clients: see :func:`with_peer`."""


def with_peer(app: Any, peer: Identity) -> Callable[..., Awaitable[None]]:
    """``app`` with every HTTP request attributed to ``peer``: for an app that only a front which
    authenticated ``peer`` can reach (a private Unix socket behind a QKD-TLS server)."""

    async def attributed(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope["extensions"] = {**(scope.get("extensions") or {}), PEER_EXTENSION: peer}
        await app(scope, receive, send)

    return attributed


def _identity_from_scope(scope: MutableMapping[str, Any]) -> Identity:
    attributed = (scope.get("extensions") or {}).get(PEER_EXTENSION)
    if isinstance(attributed, Identity):
        return attributed
    tls = (scope.get("extensions") or {}).get("tls")
    if not tls or not tls.get("client_cert_chain"):
        raise Unauthenticated("no client certificate")
    cached = tls.get(_CACHE_KEY)
    if isinstance(cached, Identity):
        return cached
    try:
        certificate = x509.load_pem_x509_certificate(tls["client_cert_chain"][0].encode("ascii"))
        identity = identity_of_certificate(certificate)
    except (ValueError, PkiError) as exc:
        raise Unauthenticated(f"client certificate carries no sdqkd identity: {exc}") from exc
    tls[_CACHE_KEY] = identity  # one parse per connection: the extension dict lives as long as it
    return identity


async def peer_identity(request: Request) -> Identity:
    """The identity of the caller's client certificate.

    Raises:
        Unauthenticated: no client certificate, or one without an sdqkd identity.
    """
    return _identity_from_scope(request.scope)


PeerDep = Annotated[Identity, Depends(peer_identity)]
