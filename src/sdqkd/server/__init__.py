"""Running sdqkd's HTTPS services: uvicorn with mutual TLS, the peer's certificate identity for
FastAPI routes, and a background server for tests and embedded runs.

Every service (emulator, KME, agent, controller) is a FastAPI app served by :func:`serve` or
:class:`BackgroundServer`; routes learn who is calling with :data:`PeerDep` and restrict callers
with :func:`require_roles`.
"""

from __future__ import annotations

from sdqkd.server.identity import PeerDep, Unauthenticated, peer_identity, require_roles
from sdqkd.server.run import BackgroundServer, TlsFiles, serve, uvicorn_config

__all__ = [
    "BackgroundServer",
    "PeerDep",
    "TlsFiles",
    "Unauthenticated",
    "peer_identity",
    "require_roles",
    "serve",
    "uvicorn_config",
]
