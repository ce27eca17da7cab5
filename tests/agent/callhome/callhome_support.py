"""Test support for the agent's call-home (imported by the conftest and the tests): the session's
certificates, a fake SDN controller that records every registration with the identity of the certificate
that made it, and serving an app on a chosen port (a controller that comes up where nothing listened)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from polling import wait_for as wait_for
from polling import wait_for_async as wait_for_async
from sdqkd.etsi015 import packaged_yang_dir
from sdqkd.pki import CertificateAuthority, IssuedCertificate
from sdqkd.server import TlsFiles, peer_identity
from sdqkd.server.run import bind_socket, uvicorn_config

SPECS = packaged_yang_dir()
"""The ETSI GS QKD 015 YANG modules shipped with sdqkd (tests/etsi015 checks them against the official)."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class CallHomePki:
    """A CA and the certificates of the test: the controller's, two agents' and the emulator's."""

    ca: CertificateAuthority
    controller: IssuedCertificate
    emulator: IssuedCertificate
    norte: IssuedCertificate  # agent:norte
    quintin: IssuedCertificate  # agent:quintin

    def tls(self, issued: IssuedCertificate) -> TlsFiles:
        return TlsFiles(issued.cert, issued.key, self.ca.cert_path)


@dataclass(frozen=True)
class Call:
    """One registration as the fake controller received it."""

    node_id: str
    caller: str  # the identity of the client certificate, e.g. "agent:norte"
    body: Any
    status_code: int


@dataclass
class FakeController:
    """The controller's call-home endpoint, as docs/controller.md specifies it: only the agent certificate
    of a node may register it (403 otherwise), the body must hold the four members (400 otherwise), 201
    for a new node and 200 for a known one.

    Attributes:
        answers: statuses to answer before the contract's (consumed one per call), e.g. ``[503, 503]``.
        delays_s: seconds to wait before answering (consumed one per call), e.g. to outlast a timeout.
        calls: every call received, in order.
    """

    answers: list[int] = field(default_factory=list)
    delays_s: list[float] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.put("/api/v1/nodes/{node_id}")
        async def register(node_id: str, request: Request) -> JSONResponse:
            caller = await peer_identity(request)
            try:
                body = await request.json()
            except ValueError:
                body = None
            if self.delays_s:
                await asyncio.sleep(self.delays_s.pop(0))
            known = any(call.node_id == node_id and call.status_code in (200, 201) for call in self.calls)
            if self.answers:
                status, message = self.answers.pop(0), "not now"
            elif str(caller) != f"agent:{node_id}":
                status, message = 403, f"{caller} may not register node {node_id!r}"
            elif not isinstance(body, dict) or set(body) != {"qkdn_id", "agent_url", "kme_url", "location"}:
                status, message = 400, "the body must hold qkdn_id, agent_url, kme_url and location"
            else:
                status, message = (200 if known else 201), ""
            self.calls.append(Call(node_id, str(caller), body, status))
            if status >= 300:
                return JSONResponse({"message": message, "details": []}, status_code=status)
            return JSONResponse({"id": node_id}, status_code=status)

        return app


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serve_on(app: Any, tls: TlsFiles, port: int) -> Iterator[str]:
    """Serve ``app`` with mutual TLS on loopback port ``port`` in a background thread; its base URL."""
    server = uvicorn.Server(uvicorn_config(app, tls, "127.0.0.1", port))
    sock = bind_socket("127.0.0.1", port)

    def run() -> None:
        with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
            runner.run(server.serve(sockets=[sock]))

    thread = threading.Thread(target=run, name=f"test-server-{port}", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, bool, 10.0, "the server started")
        yield f"https://localhost:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
