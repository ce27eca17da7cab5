"""Running sdqkd's HTTPS services: uvicorn with mutual TLS, the peer's certificate identity for
FastAPI routes, and a background server for tests and embedded runs.

Every service (emulator, KME, agent, controller) is a FastAPI app served by :func:`serve_role` (a
service process, announced by its endpoint record) or :class:`BackgroundServer`, with the files of its
:class:`TlsConfig`; routes learn who is calling with :data:`PeerDep`, and each app's table
(:mod:`sdqkd.server.authz`) says who may call what. Every service has the same limits on connections and
requests (:mod:`sdqkd.server.limits`), enforced by the guarded listener (:mod:`sdqkd.server.guard`), the
HTTP protocol (:mod:`sdqkd.server.protocol`) and the body limit (:mod:`sdqkd.server.body_limit`).
"""

from __future__ import annotations

from sdqkd.server.config import TlsConfig
from sdqkd.server.identity import PeerDep, Unauthenticated, peer_identity
from sdqkd.server.run import BackgroundServer, TlsFiles, serve, serve_role, uvicorn_config

__all__ = [
    "BackgroundServer",
    "PeerDep",
    "TlsConfig",
    "TlsFiles",
    "Unauthenticated",
    "peer_identity",
    "serve",
    "serve_role",
    "uvicorn_config",
]
