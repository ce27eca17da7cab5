"""A KME's HTTPS API (mutual TLS).

    /api/v1/keys/...                       ETSI GS QKD 014 for the SAEs attached to this KME
    /kmeapi/v1/links/{link}/blocks         KME↔KME: hold your copies of these blocks (peer KME only)
    /kmeapi/v1/links/{link}/assignments    KME↔KME: which keys did you make for this slave (peer KME only)
    /api/v1/kme                            pool levels per link (operator, controller, agent)

ETSI 014 errors are the spec's; the others are RFC 9457 problem details.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from sdqkd import __version__
from sdqkd.errors import KeyServiceUnavailable, Unauthorized
from sdqkd.etsi014.app import create_etsi014_app
from sdqkd.kms.kme import Kme
from sdqkd.kms.peer import (
    AssignmentsRequest,
    AssignmentsResponse,
    BlocksRequest,
    BlocksResponse,
    WireAssignment,
)
from sdqkd.pki.identity import Identity, Role
from sdqkd.server.identity import PeerDep, Unauthenticated, require_roles

__all__ = ["create_kme_app"]

ReaderDep = Annotated[Identity, Depends(require_roles(Role.OPERATOR, Role.CONTROLLER, Role.AGENT))]


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
        headers={"Cache-Control": "no-store"},
    )


def create_kme_app(kme: Kme, *, supply: bool = True) -> FastAPI:
    """The app of ``kme``; its lifespan starts and stops the KME (and its key supply)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await kme.start(supply=supply)
        try:
            yield
        finally:
            await kme.stop()

    app = FastAPI(
        title=f"sdqkd KME {kme.id}",
        version=__version__,
        description="Key management entity: ETSI GS QKD 014 for SAEs, KME↔KME synchronisation (mutual TLS).",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # /openapi.json is the mounted ETSI 014 app's: the API SAEs use (the KME↔KME API is
        # documented in sdqkd.kms.peer). Served here, it would hide that one.
        openapi_url=None,
    )

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        return _problem(403, "Forbidden", exc.message)

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
        return _problem(401, "Unauthorized", str(exc))

    @app.exception_handler(KeyServiceUnavailable)
    async def _unavailable(_: Request, exc: KeyServiceUnavailable) -> JSONResponse:
        return _problem(503, "Service Unavailable", exc.message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        error = exc.errors()[0]
        return _problem(
            400, "Bad Request", f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg')}"
        )

    @app.post("/kmeapi/v1/links/{link_id}/blocks")
    async def hold_blocks(link_id: str, body: BlocksRequest, caller: PeerDep) -> BlocksResponse:
        return await kme.hold_blocks(caller, link_id, body.block_ids)

    @app.post("/kmeapi/v1/links/{link_id}/assignments")
    async def assignments(link_id: str, body: AssignmentsRequest, caller: PeerDep) -> AssignmentsResponse:
        found = await kme.assignments(caller, link_id, body.key_ids, body.slave)
        return AssignmentsResponse(assignments=[WireAssignment.of(a) for a in found])

    @app.get("/api/v1/kme")
    async def pools(_: ReaderDep) -> dict[str, Any]:
        return {
            "kme_id": kme.id,
            "links": [
                {
                    "id": levels.link_id,
                    "peer_kme_id": kme.links[levels.link_id].peer_kme_id,
                    "ready_blocks": levels.ready_self,
                    "pending_blocks": levels.pending_self,
                    "blocks_held_for_peer": levels.held_for_peer,
                    "keys_awaiting_slaves": levels.keys_awaiting_slaves,
                    "block_bits": 256,
                }
                for levels in kme.levels()
            ],
        }

    # Everything else is ETSI GS QKD 014, for SAEs (routes above match first).
    etsi = create_etsi014_app(
        kme, title=f"sdqkd KME {kme.id}: ETSI GS QKD 014", allowed_roles=frozenset({Role.SAE})
    )
    app.mount("/", etsi)
    return app
