"""The controller's HTTPS API (mutual TLS): call-home for agents, the northbound API for operators,
Prometheus metrics. OpenAPI at ``/openapi.json`` (the operator's; no interactive pages).

    PUT    /api/v1/nodes/{node_id}     call-home: only the agent certificate of that node
    GET    /api/v1/nodes[/{node_id}]   registered nodes: URLs, reachability, interfaces
    GET    /api/v1/links[/{link_id}]   QKD links (PHYS: status, live SKR, pool levels, reserved capacity;
                                       VIRT: the relayed associations, their path and hops)
    GET    /api/v1/apps[/{app_id}]     applications; POST admits one; DELETE removes one
    GET    /api/v1/services[/{id}]     service intents (tunnels, OPoT); POST creates one; DELETE ends it
    PUT    /api/v1/services/{id}/route an OPoT service's route for test traffic (``{"via": [...]}``)
    GET    /api/v1/alarms              alarms (``?active=true``: only those not cleared)
    GET    /api/v1/topology            the network graph (nodes and edges with their attributes)
    GET    /metrics                    Prometheus text exposition format
    GET    /health                     the background loops' states (200 all running, 503 one failing)

Who may call what is :data:`CONTROLLER_TABLE`: everything but call-home needs an operator or
controller certificate. Errors are
``{"message": ..., "details": [...]}`` with 400 (bad request), 401 (no usable certificate),
403 (a certificate not allowed), 404 (no such node, link or application), 409 (admission refused),
502 (an agent did not take the change).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp

from sdqkd import __version__
from sdqkd.controller.admission import AppRequest
from sdqkd.controller.core import Controller
from sdqkd.controller.links import LinkState, PlannedLink
from sdqkd.controller.optical.routes import add_optical_routes
from sdqkd.controller.registry import NodeView
from sdqkd.controller.services import ServiceIntent
from sdqkd.controller.store import Alarm, AppRecord, NodeRecord
from sdqkd.controller.virtual import VirtualLink
from sdqkd.errors import (
    AdmissionRefused,
    AgentUnavailable,
    ChannelRefused,
    ConfigError,
    Forbidden,
    PlantRefused,
    PlantUnavailable,
    RestconfError,
    Unauthenticated,
    UnknownResource,
)
from sdqkd.pki.identity import NAME_PATTERN, Identity, Role
from sdqkd.server.authz import Condition, Grant, Table, allow, authorise
from sdqkd.server.errors import ErrorTable, HTTPError, install_error_handlers, validation_problems
from sdqkd.server.health import HEALTH_READERS, add_health_route
from sdqkd.server.methods import allowed_methods
from sdqkd.server.middleware import NoStoreAndContain
from sdqkd.server.openapi import ErrorAnswers, install_openapi
from sdqkd.server.strict_json import StrictJsonRoute

__all__ = ["create_controller_app"]

log = logging.getLogger(__name__)
_UINT32 = 2**32 - 1
_NAME = NAME_PATTERN.removesuffix(r"\Z")  # pydantic's (Rust) regex has no \Z; fullmatch anchors it
_SAE_ID = re.compile(NAME_PATTERN)


def _error(status: int, message: str, details: list[Any] | None = None) -> JSONResponse:
    return JSONResponse({"message": message, "details": details or []}, status_code=status)


def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
    details = validation_problems(exc)
    first = details[0] if details else {"field": "", "problem": "invalid"}
    return _error(400, f"{first['field']}: {first['problem']}", list(details))


def _agent_refused(_: Request, exc: RestconfError) -> JSONResponse:
    detail = {"error-tag": exc.error_tag, "error-path": exc.error_path, "error-message": exc.error_message}
    return _error(502, f"an agent refused: {exc.error_tag}: {exc.error_message}", [detail])


def _channel_refused(_: Request, exc: ChannelRefused) -> JSONResponse:
    return _error(409, str(exc), list(exc.details))


def _framework_refusal(request: Request, exc: HTTPError) -> JSONResponse:
    response = _error(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    if exc.status_code == 405:  # RFC 9110 §15.5.6: every method of the path
        response.headers["Allow"] = allowed_methods(request)
    return response


def _status(status: int, prefix: str = "") -> Callable[[Request, Exception], JSONResponse]:
    def render(_: Request, exc: Exception) -> JSONResponse:
        return _error(status, f"{prefix}{exc}")

    return render


_ERRORS: ErrorTable = {
    RequestValidationError: _invalid,
    HTTPError: _framework_refusal,
    ConfigError: _status(400),
    Unauthenticated: _status(401),
    Forbidden: _status(403),
    UnknownResource: _status(404),
    AdmissionRefused: _status(409),
    ChannelRefused: _channel_refused,
    PlantRefused: _status(409),
    PlantUnavailable: _status(502, "the optical plant did not answer: "),
    AgentUnavailable: _status(502, "an agent did not answer: "),
    RestconfError: _agent_refused,
}
"""Every error the API answers, and how (``{"message", "details"}``); anything else is a 500."""

_ERROR_ANSWERS = ErrorAnswers(
    name="Error",
    schema={
        "type": "object",
        "properties": {"message": {"type": "string"}, "details": {"type": "array"}},
        "required": ["message", "details"],
    },
    media_type="application/json",
    statuses={
        400: ("Malformed request (where and why), or a value the network cannot take", "input"),
        401: ("No usable client certificate", "always"),
        403: ("The caller's role or identity may not make this call", "always"),
        404: ("No such node, link, application, service, fibre or switch", "path"),
        409: ("Refused: admission, a channel or the optical plant said no", "write"),
        413: ("The request body is too large", "body"),
        502: ("An agent or the optical plant did not answer or did not take the change", "write"),
    },
)
"""The answers of :data:`_ERRORS`, in the OpenAPI document."""


ITS_OWN_NODE = Condition("the node it registers", "the node id in the path is the certificate's name")

_NORTHBOUND = allow(Role.OPERATOR, Role.CONTROLLER)

CONTROLLER_TABLE = Table(
    "SDN controller (`sdqkd controller`)",
    {
        ("PUT", "/api/v1/nodes/{node_id}"): allow(Grant(Role.AGENT, ITS_OWN_NODE)),  # call-home
        **{
            (method, path): _NORTHBOUND
            for method, path in (
                ("GET", "/api/v1/nodes"),
                ("GET", "/api/v1/nodes/{node_id}"),
                ("GET", "/api/v1/links"),
                ("GET", "/api/v1/links/{link_id}"),
                ("GET", "/api/v1/apps"),
                ("POST", "/api/v1/apps"),
                ("GET", "/api/v1/apps/{app_id}"),
                ("DELETE", "/api/v1/apps/{app_id}"),
                ("GET", "/api/v1/services"),
                ("POST", "/api/v1/services"),
                ("PUT", "/api/v1/services/{service_id}/route"),
                ("GET", "/api/v1/services/{service_id}"),
                ("DELETE", "/api/v1/services/{service_id}"),
                ("GET", "/api/v1/alarms"),
                ("GET", "/api/v1/topology"),
                ("GET", "/metrics"),
                # the optical routes (sdqkd.controller.optical.routes)
                ("GET", "/api/v1/optical/fibres"),
                ("GET", "/api/v1/optical/fibres/{fibre_id}"),
                ("POST", "/api/v1/optical/fibres/{fibre_id}/channels"),
                ("DELETE", "/api/v1/optical/fibres/{fibre_id}/channels/{channel_id}"),
                ("GET", "/api/v1/optical/actions"),
                ("GET", "/api/v1/optical/policy"),
                ("PUT", "/api/v1/optical/policy"),
                ("GET", "/api/v1/switches"),
                ("GET", "/api/v1/switches/{switch_id}"),
            )
        },
        ("GET", "/openapi.json"): allow(Role.OPERATOR),
        ("GET", "/health"): HEALTH_READERS,
    },
)
"""Who may call the controller: agents call home for their own node; the northbound API is the
operator's (and the controller's own certificate's); its OpenAPI description the operator's."""


def _its_own_node(caller: Identity, request: Request) -> bool:
    return request.path_params.get("node_id") == caller.name


# Wire schemas -----------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Registration(_Strict):
    """What an agent says when it calls home."""

    qkdn_id: UUID
    agent_url: str = Field(pattern=r"^https://\S+$", max_length=2048)
    kme_url: str | None = Field(default=None, pattern=r"^https://\S+$", max_length=2048)
    location: str = Field(default="", max_length=256)


class Qos(_Strict):
    """ETSI GS QKD 015 ``app_qos`` (bit/s, ms, s)."""

    max_bandwidth: int | None = Field(default=None, ge=0, le=_UINT32)
    min_bandwidth: int | None = Field(default=None, ge=0, le=_UINT32)
    jitter: int | None = Field(default=None, ge=0, le=_UINT32)
    ttl: int | None = Field(default=None, ge=0, le=_UINT32)
    clients_shared_path_enable: bool = False
    clients_shared_keys_required: bool = False


class AppCreate(_Strict):
    """An application to admit: keys between ``server_sae_id`` at ``server_node`` and
    ``client_sae_id`` at ``client_node``."""

    server_sae_id: str = Field(pattern=f"{_NAME}$")
    server_node: str = Field(min_length=1, max_length=64)
    client_sae_id: str = Field(pattern=f"{_NAME}$")
    client_node: str = Field(min_length=1, max_length=64)
    qos: Qos = Field(default_factory=Qos)
    priority: int = Field(default=0, ge=0, le=_UINT32)


# Views ------------------------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _node_json(view: NodeView) -> dict[str, Any]:
    interfaces = [
        {
            "qkdi_id": entry.qkdi_id,
            "model": entry.qkdi_model,
            "type": entry.qkdi_type,
            "status": entry.qkdi_status,
            "attachment": entry.qkdi_att_point.model_dump(exclude_none=True) if entry.qkdi_att_point else {},
        }
        for entry in (view.tree.interfaces if view.tree is not None else [])
    ]
    record: NodeRecord = view.record
    return {
        "id": record.node_id,
        "qkdn_id": str(record.qkdn_id),
        "location": record.location,
        "agent_url": record.agent_url,
        "kme_url": record.kme_url,
        "registered_at": _iso(record.registered_at),
        "reachable": view.reachable,
        "last_seen": _iso(view.last_seen),
        "error": view.error,
        "interfaces": interfaces,
    }


def _link_json(controller: Controller, link: PlannedLink) -> dict[str, Any]:
    ends = controller.ends(link)
    state = controller.link_states.get(link.id, LinkState.UNKNOWN)
    return {
        "id": link.id,
        "qkdl_id": str(link.qkdl_id),
        "type": "PHYS",
        "nodes": list(link.nodes),
        "fibre": link.fibre,
        "switched": link.switched,
        "dwdm_channel": link.dwdm_channel,
        "status": str(state),
        "skr_bps": controller.capacity_bps(link),
        "target_rate_bps": link.target_rate_bps,
        "reserved_bps": controller.reserved_bps(link.id),
        "apps": [str(app.app_id) for app in controller.apps.values() if app.link_id == link.id],
        "ends": {
            node: None
            if end is None
            else {
                "module": link.end_at(node).module,
                "qkdi_id": link.end_at(node).qkdi_id,
                "role": str(link.end_at(node).role),
                "provisioned": end.provisioned,
                "qkdl_status": end.status,
                "interface_status": end.interface_status,
                "skr_bps": end.skr_bps,
                "eskr_bps": end.eskr_bps,
            }
            for node, end in ends.items()
        },
        "pools": {
            node: view.pools[link.id]
            for node in link.nodes
            if (view := controller.nodes.get(node)) is not None and link.id in view.pools
        },
    }


def _virtual_json(controller: Controller, virtual: VirtualLink) -> dict[str, Any]:
    state = controller.virtual_state(virtual)
    return {
        "id": virtual.id,
        "qkdl_id": str(virtual.qkdl_id),
        "type": "VIRT",
        "nodes": [virtual.path[0], virtual.path[-1]],
        "path": list(virtual.path),
        "hops": list(virtual.hops),
        "status": str(state),
        "skr_bps": min(controller.capacity_bps(controller.link(hop)) for hop in virtual.hops),
        "reserved_bps": virtual.reserved_bps,
        "apps": [str(app.app_id) for app in controller.apps.values() if app.link_id == virtual.id],
        "kmes": {
            node: view.kme_virtual.get(virtual.id)
            for node in virtual.path
            if (view := controller.nodes.get(node)) is not None and view.kme_virtual is not None
        },
    }


def _app_json(controller: Controller, app: AppRecord) -> dict[str, Any]:
    return {**app.to_json(), "status": controller.app_status(app)}


def _alarm_json(alarm: Alarm) -> dict[str, Any]:
    return {
        "id": alarm.id,
        "kind": str(alarm.kind),
        "source": alarm.source,
        "severity": str(alarm.severity),
        "message": alarm.message,
        "active": alarm.active,
        "raised_at": _iso(alarm.raised_at),
        "cleared_at": _iso(alarm.cleared_at),
    }


class ServiceRoute(_Strict):
    """``PUT /api/v1/services/{id}/route``: the nodes an OPoT service's datagrams cross, ingress first."""

    via: list[str] = Field(min_length=1, max_length=16)


class _Metrics(Collector):
    """The controller's state as Prometheus gauges, computed at each scrape."""

    def __init__(self, controller: Controller) -> None:
        self.controller = controller

    def collect(self) -> Iterator[Metric]:
        c = self.controller
        up = GaugeMetricFamily("sdqkd_link_up", "1 while the QKD link makes key", labels=["link"])
        skr = GaugeMetricFamily(
            "sdqkd_link_skr_bps", "secret key rate of the QKD link, bit/s", labels=["link"]
        )
        reserved = GaugeMetricFamily(
            "sdqkd_link_reserved_bps", "key rate reserved by admitted applications, bit/s", labels=["link"]
        )
        pools = GaugeMetricFamily(
            "sdqkd_pool_ready_blocks", "key blocks ready at a KME for the link", labels=["link", "node"]
        )
        for link in c.links:
            up.add_metric([link.id], 1.0 if c.link_states.get(link.id) is LinkState.UP else 0.0)
            skr.add_metric([link.id], float(c.capacity_bps(link)))
            reserved.add_metric([link.id], float(c.reserved_bps(link.id)))
            for node in link.nodes:
                view = c.nodes.get(node)
                if view is not None and link.id in view.pools:
                    pools.add_metric([link.id, node], float(view.pools[link.id].get("ready_blocks", 0)))
        reachable = GaugeMetricFamily(
            "sdqkd_node_reachable", "1 while the node's agent answers", labels=["node"]
        )
        for node_id, view in sorted(c.nodes.items()):
            reachable.add_metric([node_id], 1.0 if view.reachable else 0.0)
        alarms = GaugeMetricFamily("sdqkd_alarms_active", "active alarms", labels=["severity"])
        counts: dict[str, int] = {}
        for alarm in c.store.alarms(active_only=True):
            counts[str(alarm.severity)] = counts.get(str(alarm.severity), 0) + 1
        for severity, count in sorted(counts.items()):
            alarms.add_metric([severity], float(count))
        apps = GaugeMetricFamily("sdqkd_apps", "admitted applications")
        apps.add_metric([], float(len(c.apps)))
        yield from (up, skr, reserved, pools, reachable, alarms, apps)


# The app ----------------------------------------------------------------------------------------------


def create_controller_app(controller: Controller) -> ASGIApp:
    """The controller's ASGI app; its lifespan starts and stops ``controller``."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await controller.start()
        try:
            yield
        finally:
            await controller.stop()

    app = FastAPI(
        title="sdqkd SDN controller",
        version=__version__,
        description="Node registry (call-home), QKD links, applications and alarms of an SD-QKD network.",
        lifespan=lifespan,
        docs_url=None,  # the interactive pages load scripts from a CDN; the description is below
        redoc_url=None,
        openapi_url=None,
        dependencies=[authorise(CONTROLLER_TABLE, {ITS_OWN_NODE: _its_own_node})],
    )
    app.router.route_class = StrictJsonRoute  # no repeated members, bounded depth
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Metrics(controller))

    install_error_handlers(app, _ERRORS)
    add_optical_routes(app, controller.optical)
    add_health_route(app, controller.services.loops.states)  # GET /health: the background loops

    # Call-home ------------------------------------------------------------------------------------------

    @app.put("/api/v1/nodes/{node_id}", status_code=200)
    async def call_home(node_id: str, body: Registration) -> JSONResponse:
        if not _SAE_ID.fullmatch(node_id):
            raise ConfigError(f"invalid node id {node_id!r}")
        record = NodeRecord(
            node_id=node_id,
            qkdn_id=body.qkdn_id,
            agent_url=body.agent_url.rstrip("/"),
            kme_url=body.kme_url.rstrip("/") if body.kme_url else None,
            location=body.location,
            registered_at=dt.datetime.now(dt.UTC),
        )
        new = await controller.register(record)
        return JSONResponse(_node_json(controller.nodes[node_id]), status_code=201 if new else 200)

    # Northbound ----------------------------------------------------------------------------------------

    @app.get("/api/v1/nodes")
    async def nodes() -> list[dict[str, Any]]:
        return [_node_json(view) for _, view in sorted(controller.nodes.items())]

    @app.get("/api/v1/nodes/{node_id}")
    async def node(node_id: str) -> dict[str, Any]:
        view = controller.nodes.get(node_id)
        if view is None:
            raise UnknownResource(f"no node {node_id!r} has called home")
        return _node_json(view)

    @app.get("/api/v1/links")
    async def links() -> list[dict[str, Any]]:
        physical = [_link_json(controller, link) for link in controller.links]
        virtual = sorted(controller.virtual.values(), key=lambda v: v.id)
        return physical + [_virtual_json(controller, v) for v in virtual]

    @app.get("/api/v1/links/{link_id}")
    async def link(link_id: str) -> dict[str, Any]:
        for virtual in controller.virtual.values():
            if virtual.id == link_id:
                return _virtual_json(controller, virtual)
        return _link_json(controller, controller.link(link_id))

    @app.get("/api/v1/apps")
    async def apps() -> list[dict[str, Any]]:
        return [_app_json(controller, app) for app in controller.apps.values()]

    @app.post(
        "/api/v1/apps", status_code=201, responses={404: {"description": "A node named has not called home"}}
    )
    async def create_app(body: AppCreate) -> dict[str, Any]:
        request = AppRequest(
            server_sae_id=body.server_sae_id,
            server_node=body.server_node,
            client_sae_id=body.client_sae_id,
            client_node=body.client_node,
            qos=body.qos.model_dump(),
            priority=body.priority,
        )
        return _app_json(controller, await controller.create_app(request))

    @app.get("/api/v1/apps/{app_id}")
    async def get_app(app_id: UUID) -> dict[str, Any]:
        found = controller.apps.get(app_id)
        if found is None:
            raise UnknownResource(f"no application {app_id}")
        return _app_json(controller, found)

    @app.delete("/api/v1/apps/{app_id}", status_code=204)
    async def delete_app(app_id: UUID) -> Response:
        await controller.delete_app(app_id)
        return Response(status_code=204)

    @app.get("/api/v1/services")
    async def services() -> list[dict[str, Any]]:
        return controller.services.list()

    @app.post("/api/v1/services", status_code=201)
    async def create_service(body: ServiceIntent) -> dict[str, Any]:
        return await controller.services.create(body)

    @app.put("/api/v1/services/{service_id}/route")
    async def route_service(service_id: UUID, body: ServiceRoute) -> dict[str, Any]:
        return await controller.services.route(str(service_id), body.via)

    @app.get("/api/v1/services/{service_id}")
    async def get_service(service_id: UUID) -> dict[str, Any]:
        return await controller.services.show(str(service_id))

    @app.delete("/api/v1/services/{service_id}", status_code=204)
    async def delete_service(service_id: UUID) -> Response:
        await controller.services.delete(str(service_id))
        return Response(status_code=204)

    @app.get("/api/v1/alarms")
    async def alarms(active: bool = False) -> list[dict[str, Any]]:
        return [_alarm_json(alarm) for alarm in controller.store.alarms(active_only=active)]

    @app.get("/api/v1/topology")
    async def topology() -> dict[str, Any]:
        graph = controller.graph()
        return {
            "name": controller.topology.name,
            "nodes": [{"id": node, **attrs} for node, attrs in graph.nodes(data=True)],
            "edges": [{"a": a, "b": b, **attrs} for a, b, attrs in graph.edges(data=True)],
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    install_openapi(app, _ERROR_ANSWERS)

    def internal_error() -> ASGIApp:
        return _error(500, "internal error")

    return NoStoreAndContain(
        app, error_response=internal_error, logger=log, label="controller", traceback=True
    )
