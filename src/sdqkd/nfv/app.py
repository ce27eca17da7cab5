"""The service manager's HTTPS API (mutual TLS), in RFC 9457 problem details when it refuses:

    PUT    /api/v1/nfv/processes/{id}   {"kind", "args"}: 201 started, 200 unchanged or replaced
    GET    /api/v1/nfv/processes        every process
    GET    /api/v1/nfv/processes/{id}   one process: state, pid, restarts, last exit, log, stats
    DELETE /api/v1/nfv/processes/{id}   204: stopped (SIGTERM, then SIGKILL) and forgotten
    GET    /metrics                     Prometheus text format (operator only; sdqkd.nfv.metrics)

Only the SDN controller orders (PUT, DELETE); the controller and the operator read. No usable client
certificate is 401; another role (an agent, even of this node; a KME; an SAE) 403; a body that does
not validate, an unknown kind, arguments for another node 400; an unknown id 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Path, Response
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, Field

from sdqkd import __version__
from sdqkd.errors import Forbidden, Unauthenticated
from sdqkd.nfv.kinds import ProcessRefused
from sdqkd.nfv.metrics import SupervisorCollector
from sdqkd.nfv.supervisor import PROCESS_ID_PATTERN, ProcessInfo, State, Supervisor, UnknownProcess
from sdqkd.pki.identity import Role
from sdqkd.server.authz import Table, allow, authorise
from sdqkd.server.errors import install_error_handlers, problem_table
from sdqkd.server.metrics import add_metrics_route
from sdqkd.server.strict_json import StrictJsonRoute

__all__ = ["ProcessOrder", "ProcessStatus", "create_service_manager_app"]

_READERS = allow(Role.CONTROLLER, Role.OPERATOR)

SERVICE_MANAGER_TABLE = Table(
    "Service manager (`sdqkd nfv`)",
    {
        ("GET", "/api/v1/nfv/processes"): _READERS,
        ("GET", "/api/v1/nfv/processes/{process_id}"): _READERS,
        ("PUT", "/api/v1/nfv/processes/{process_id}"): allow(Role.CONTROLLER),
        ("DELETE", "/api/v1/nfv/processes/{process_id}"): allow(Role.CONTROLLER),
        ("GET", "/metrics"): allow(Role.OPERATOR),
    },
)
"""Who may call a node's service manager: the controller orders, the operator reads."""
ProcessId = Annotated[str, Path(pattern=PROCESS_ID_PATTERN)]

_ERROR_TABLE = problem_table(
    {
        Unauthenticated: (401, "Unauthorized"),
        Forbidden: (403, "Forbidden"),
        ProcessRefused: (400, "Bad Request"),
        UnknownProcess: (404, "Not Found"),
    }
)


class ProcessOrder(BaseModel):
    """The body of a PUT: a kind of the manager's table and its arguments."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=64)
    args: dict[str, Any] = Field(default_factory=dict)


class ProcessStatus(BaseModel):
    """One process as the manager reports it."""

    id: str
    kind: str
    args: dict[str, Any]
    state: State
    pid: int | None
    restarts: int
    last_exit: dict[str, Any] | None
    """``{"code": N}``, ``{"signal": "SIGKILL"}``, or ``{"error": …}`` when it could not be started."""
    started_at: str | None
    log_file: str
    stats: dict[str, Any] | None
    """The JSON of the process's stats file, once it wrote one."""
    reason: str | None
    """Why it is ``failed``."""

    @classmethod
    def of(cls, info: ProcessInfo) -> ProcessStatus:
        return cls.model_validate(info, from_attributes=True)


class ProcessList(BaseModel):
    node_id: str
    processes: list[ProcessStatus]


def create_service_manager_app(supervisor: Supervisor) -> FastAPI:
    """The app of ``supervisor``; its shutdown stops every process."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await supervisor.close()

    app = FastAPI(
        title=f"sdqkd service manager {supervisor.site.node_id}",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        dependencies=[authorise(SERVICE_MANAGER_TABLE)],
    )
    app.router.route_class = StrictJsonRoute  # no repeated members, bounded depth
    install_error_handlers(app, _ERROR_TABLE)
    registry = CollectorRegistry()  # the manager's own: other services may share the process
    registry.register(SupervisorCollector(supervisor))
    add_metrics_route(app, registry)

    @app.get("/api/v1/nfv/processes")
    async def list_processes() -> ProcessList:
        return ProcessList(
            node_id=supervisor.site.node_id, processes=[ProcessStatus.of(p) for p in supervisor.list()]
        )

    @app.get("/api/v1/nfv/processes/{process_id}")
    async def get_process(process_id: ProcessId) -> ProcessStatus:
        return ProcessStatus.of(supervisor.get(process_id))

    @app.put("/api/v1/nfv/processes/{process_id}")
    async def put_process(process_id: ProcessId, order: ProcessOrder, response: Response) -> ProcessStatus:
        outcome = await supervisor.put(process_id, order.kind, order.args)
        response.status_code = 201 if outcome == "created" else 200
        return ProcessStatus.of(supervisor.get(process_id))

    @app.delete("/api/v1/nfv/processes/{process_id}", status_code=204)
    async def delete_process(process_id: ProcessId) -> Response:
        await supervisor.delete(process_id)
        return Response(status_code=204)

    return app
