"""A KME's HTTPS API (mutual TLS).

    /api/v1/keys/...                       ETSI GS QKD 014 for the SAEs attached to this KME
    /kmeapi/v1/links/{link}/blocks         KME↔KME: hold your copies of these blocks (peer KME only)
    /kmeapi/v1/links/{link}/assignments    KME↔KME: which keys did you make for this slave (peer KME only)
    /kmapi/v1/ext_keys                     KME↔KME: one hop of a key relay (ETSI GS QKD 020, peer KME only)
    /api/v1/kme                            pool levels per link, local keys (operator, controller, agent)
    /api/v1/kme/virtual_links[/{id}]       virtual links: GET (readers), PUT/DELETE (the controller)
    /metrics                               Prometheus text format (operator; sdqkd.kms.metrics)

Who may call what is :data:`KME_TABLE` (and :func:`kme_etsi014_table` for the mounted ETSI 014 app),
enforced by :func:`sdqkd.server.authz.authorise`. ETSI 014 errors are the spec's (its own app's table:
a caller not allowed is 401 there), and so is a 404 under ``/api/v1/keys``; the others are RFC 9457
problem details, from this app's table: no usable client certificate 401, a known caller that may not
make the call 403, a malformed request 400, a peer KME or QKD module that did not answer 503.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry

from sdqkd import __version__
from sdqkd.errors import Forbidden, KeyRequestInvalid, KeyServiceUnavailable, Unauthenticated, Unavailable
from sdqkd.etsi014.app import create_etsi014_app, etsi014_table
from sdqkd.kms.config import VirtualLinkConfig
from sdqkd.kms.kme import Kme
from sdqkd.kms.metrics import KmeCollector, etsi014_operation
from sdqkd.kms.peer import (
    AssignmentsRequest,
    AssignmentsResponse,
    BlocksRequest,
    BlocksResponse,
    WireAssignment,
)
from sdqkd.kms.relay import AckContainer, ExtKeysRequest
from sdqkd.kms.store import LOCAL_SCOPE
from sdqkd.pki.identity import Identity, Role
from sdqkd.server.authz import OWN_NODE, Condition, Grant, Table, allow, authorise, own_node
from sdqkd.server.errors import install_error_handlers, problem_response, problem_table
from sdqkd.server.health import HEALTH_READERS, add_health_route
from sdqkd.server.identity import PeerDep
from sdqkd.server.metrics import TimedRequests, add_metrics_route, request_duration_histogram
from sdqkd.server.openapi import ErrorAnswers, install_openapi, problem_details_schema
from sdqkd.server.strict_json import StrictJsonRoute
from sdqkd.server.whole_paths import mount

__all__ = ["ATTACHED_SAE", "KME_TABLE", "PEER_KME", "create_kme_app", "kme_etsi014_table"]

PEER_KME = Condition(
    "peer KME",
    "the KME at the far end of one of this KME's configured links (the KME then checks that it is the "
    "peer of the very link, or hop of a relay, the call names)",
)
ATTACHED_SAE = Condition(
    "attached SAE",
    "an SAE that the KME configuration's `saes` maps to this KME (the KME then serves it only its own keys)",
)

_READERS = allow(Role.OPERATOR, Role.CONTROLLER, Grant(Role.AGENT, OWN_NODE))
_PEER = allow(Grant(Role.KME, PEER_KME))

KME_TABLE = Table(
    "KME (`sdqkd kme`): KME↔KME and management",
    {
        ("POST", "/kmeapi/v1/links/{link_id}/blocks"): _PEER,
        ("POST", "/kmeapi/v1/links/{link_id}/assignments"): _PEER,
        ("POST", "/kmapi/v1/ext_keys"): _PEER,
        ("GET", "/api/v1/kme"): _READERS,
        ("GET", "/api/v1/kme/virtual_links"): _READERS,
        # DESIGN §7: only the controller writes KME virtual links
        ("PUT", "/api/v1/kme/virtual_links/{virtual_link_id}"): allow(Role.CONTROLLER),
        ("DELETE", "/api/v1/kme/virtual_links/{virtual_link_id}"): allow(Role.CONTROLLER),
        ("GET", "/metrics"): allow(Role.OPERATOR),
        ("GET", "/health"): HEALTH_READERS,
    },
    note="Paths under `/api/v1/keys` and `/openapi.json` are the mounted ETSI GS QKD 014 app's (next table).",
)
"""Who may call the KME's own routes."""


def kme_etsi014_table() -> Table:
    """Who may call the KME's ETSI GS QKD 014 app: the SAEs attached to it, nobody else."""
    return etsi014_table("KME (`sdqkd kme`): ETSI GS QKD 014", Grant(Role.SAE, ATTACHED_SAE))


_VIRTUAL_COUNTERS = (
    "keys_relayed_out", "keys_relayed_in", "keys_forwarded", "blocks_used", "relay_failures", "hops_refused",
)  # fmt: skip


_NO_STORE = {"Cache-Control": "no-store"}

# The KME↔KME and management APIs (the mounted ETSI 014 app has its own table).
_ERROR_TABLE = problem_table(
    {
        Unauthenticated: (401, "Unauthorized"),
        Forbidden: (403, "Forbidden"),
        KeyRequestInvalid: (400, "Bad Request"),
        Unavailable: (503, "Service Unavailable"),  # a peer KME or the QKD module did not answer
        KeyServiceUnavailable: (503, "Service Unavailable"),
    },
    headers=_NO_STORE,
)
_ERROR_ANSWERS = ErrorAnswers(
    name="Problem",
    schema=problem_details_schema(),
    media_type="application/problem+json",
    statuses={
        400: ("Malformed request (where and why)", "input"),
        401: ("No usable client certificate", "always"),
        403: ("The caller's role or identity may not make this call", "always"),
        413: ("The request body is too large", "body"),
    },
)
_PEER_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"description": "A peer KME or the QKD module did not answer, or not enough key"}
}


def create_kme_app(kme: Kme, *, supply: bool = True) -> FastAPI:
    """The app of ``kme``; its lifespan starts and stops the KME (and its key supply)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await kme.start(supply=supply)
        try:
            yield
        finally:
            await kme.stop()

    def peer_kme(caller: Identity, request: Request) -> bool:
        return any(link.peer_kme_id == caller.name for link in kme.links.values())

    def attached_sae(caller: Identity, request: Request) -> bool:
        return kme.config.saes.get(caller.name) == kme.id

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
        dependencies=[authorise(KME_TABLE, {OWN_NODE: own_node(kme.id), PEER_KME: peer_kme})],
    )
    app.router.route_class = StrictJsonRoute  # no repeated members, bounded depth
    install_error_handlers(app, _ERROR_TABLE)

    registry = CollectorRegistry()  # the KME's own: other services may share the process
    registry.register(KmeCollector(kme))
    latency = request_duration_histogram(
        registry,
        "sdqkd_kme_etsi014_request_duration_seconds",
        "time to answer an ETSI GS QKD 014 request, by operation and status code, seconds",
    )
    app.add_middleware(TimedRequests, histogram=latency, operation=etsi014_operation)
    add_metrics_route(app, registry)
    add_health_route(app, kme.loops.states)  # the key supply and housekeeping loops

    @app.post("/kmeapi/v1/links/{link_id}/blocks", responses=_PEER_DOWN)
    async def hold_blocks(link_id: str, body: BlocksRequest, caller: PeerDep) -> BlocksResponse:
        return await kme.hold_blocks(caller, link_id, body.block_ids)

    @app.post("/kmeapi/v1/links/{link_id}/assignments", responses=_PEER_DOWN)
    async def assignments(link_id: str, body: AssignmentsRequest, caller: PeerDep) -> AssignmentsResponse:
        found = await kme.assignments(caller, link_id, body.key_ids, body.slave)
        return AssignmentsResponse(assignments=[WireAssignment.of(a) for a in found])

    @app.post("/kmapi/v1/ext_keys", responses=_PEER_DOWN)
    async def ext_keys(body: ExtKeysRequest, caller: PeerDep) -> AckContainer:
        return await kme.ext_keys(caller, body)

    def virtual_links() -> list[dict[str, Any]]:
        found = []
        for virtual in kme.virtual_links.values():
            counters = kme.store.counters(virtual.id)
            found.append(
                {
                    "id": virtual.id,
                    "path": virtual.config.path,
                    "peer_kme_id": virtual.config.far_end(kme.id),
                    "prev_hop": virtual.prev_hop,
                    "next_hop": virtual.next_hop,
                    **{name: counters.get(name, 0) for name in _VIRTUAL_COUNTERS},
                }
            )
        return found

    @app.get("/api/v1/kme")
    async def pools() -> dict[str, Any]:
        links = []
        for levels in kme.levels():
            counters = kme.store.counters(levels.link_id)
            links.append(
                {
                    "id": levels.link_id,
                    "peer_kme_id": kme.links[levels.link_id].peer_kme_id,
                    "ready_blocks": levels.ready_self,
                    "target_blocks": kme.config.pool_target_blocks,
                    "pending_blocks": levels.pending_self,
                    "blocks_held_for_peer": levels.held_for_peer,
                    "keys_awaiting_slaves": levels.keys_awaiting_slaves,
                    "blocks_used_for_keys": counters.get("blocks_used_for_keys", 0),
                    "blocks_used_for_relay": counters.get("blocks_used_for_relay", 0),
                    "peer_blocks_used_for_relay": counters.get("peer_blocks_used_for_relay", 0),
                    "block_bits": 256,
                }
            )
        local = {
            "keys_local": kme.store.counters(LOCAL_SCOPE).get("keys_local", 0),
            "keys_awaiting_slaves": kme.store.levels(LOCAL_SCOPE).keys_awaiting_slaves,
        }
        return {"kme_id": kme.id, "links": links, "virtual_links": virtual_links(), "local": local}

    @app.get("/api/v1/kme/virtual_links")
    async def list_virtual_links() -> dict[str, Any]:
        return {"virtual_links": virtual_links()}

    @app.put("/api/v1/kme/virtual_links/{virtual_link_id}")
    async def put_virtual_link(
        virtual_link_id: str, body: VirtualLinkConfig, response: Response
    ) -> dict[str, Any]:
        if body.id != virtual_link_id:
            raise KeyRequestInvalid("the body's id is not the path's")
        response.status_code = 201 if kme.put_virtual_link(body) else 200
        return body.model_dump(mode="json")

    @app.delete(
        "/api/v1/kme/virtual_links/{virtual_link_id}",
        status_code=204,
        responses={404: {"description": "No such virtual link"}},
    )
    async def delete_virtual_link(virtual_link_id: str) -> Response:
        if not kme.remove_virtual_link(virtual_link_id):
            return problem_response(404, "Not Found", f"no virtual link {virtual_link_id!r}", _NO_STORE)
        return Response(status_code=204)

    install_openapi(app, _ERROR_ANSWERS)

    # Everything else is ETSI GS QKD 014, for SAEs (routes above match first).
    etsi = create_etsi014_app(
        kme,
        title=f"sdqkd KME {kme.id}: ETSI GS QKD 014",
        table=kme_etsi014_table(),
        checks={ATTACHED_SAE: attached_sae},
        max_key_ids=kme.limits.max_keys_per_request,
    )
    # ETSI 014 takes its own paths (with a newline too: sdqkd.server.whole_paths), no others: a wrong
    # method on this app's routes is 405 here, an unknown path this app's 404 (problem details), one
    # under /api/v1/keys the ETSI app's (its Error body)
    mount(app, "/", etsi, under=("/api/v1/keys", "/openapi.json"))
    return app
