"""The emulator's HTTPS API (mutual TLS): a vendor-neutral management API per module, the optical
plant API, the event stream, and each module's ETSI GS QKD 014 key delivery.

    /api/v1/modules[/{id}[/status|/config|/performance|/fail|/repair]]   management (docs/emulator.md)
    /api/v1/links                                                        module pairs and their rates
    /api/v1/plant/fibres[...], /api/v1/plant/switches[...]               optical plant
    /api/v1/events[?module=ID]                                           server-sent events
    /devices/{module_id}/api/v1/keys/...                                 ETSI GS QKD 014 per module
    /metrics                                                             Prometheus (sdqkd.emulator.metrics)

Errors of the management and plant APIs are RFC 9457 problem details, from one table: no usable
client certificate 401, a known caller that may not make the call 403, no such element 404, a change
the device refuses 409, a malformed request 400 (where and why, never what was sent); ETSI 014
errors are the spec's own. Who may call what is :data:`EMULATOR_TABLE` and
:func:`module_etsi014_table`: the operator and the controller manage everything; an agent
(``agent:NODE``) reads everything and configures the modules of its node; only the KME of a module's
node takes keys from it (never the operator: key material is not for people); the metrics are the
operator's.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal, Self

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ConfigDict, Field, model_validator

from sdqkd import __version__
from sdqkd.emulator.devices import ModuleKeyService
from sdqkd.emulator.engine import Emulator
from sdqkd.emulator.events import Event
from sdqkd.emulator.metrics import EmulatorCollector
from sdqkd.emulator.world import PairState
from sdqkd.errors import (
    DeviceError,
    Forbidden,
    NotFound,
    SubscriptionsFull,
    TooManySubscriptions,
    Unauthenticated,
)
from sdqkd.etsi014.app import create_etsi014_app, etsi014_table
from sdqkd.pki.identity import Identity, Role
from sdqkd.restconf.sse import event_stream_response, format_event
from sdqkd.server.authz import OWN_NODE, Condition, Grant, Table, allow, authorise, own_node
from sdqkd.server.errors import install_error_handlers, problem_table
from sdqkd.server.health import HEALTH_READERS, add_health_route
from sdqkd.server.identity import peer_identity
from sdqkd.server.metrics import add_metrics_route
from sdqkd.server.openapi import EVENT_STREAM_ROUTE, ErrorAnswers, install_openapi, problem_details_schema
from sdqkd.server.streams import StreamLimits
from sdqkd.server.strict_json import StrictJsonRoute
from sdqkd.server.whole_paths import mount
from sdqkd.topology.models import ClassicalChannel, FibreAttachment, QkdModule, quantum_wavelength_nm

__all__ = ["EMULATOR_TABLE", "MODULE_OF_ITS_NODE", "create_emulator_app", "module_etsi014_table"]

MODULE_OF_ITS_NODE = Condition("module of its node", "the module named in the path is on the caller's node")

_READERS = allow(Role.OPERATOR, Role.CONTROLLER, Role.AGENT)
_PLANT = allow(Role.OPERATOR, Role.CONTROLLER)

EMULATOR_TABLE = Table(
    "Emulator (`sdqkd emulator`)",
    {
        ("GET", "/api/v1/modules"): _READERS,
        ("GET", "/api/v1/modules/{module_id}"): _READERS,
        ("GET", "/api/v1/modules/{module_id}/status"): _READERS,
        ("PUT", "/api/v1/modules/{module_id}/config"): allow(
            Role.OPERATOR, Role.CONTROLLER, Grant(Role.AGENT, MODULE_OF_ITS_NODE)
        ),
        ("GET", "/api/v1/modules/{module_id}/performance"): _READERS,
        ("POST", "/api/v1/modules/{module_id}/{action}"): _PLANT,
        ("GET", "/api/v1/links"): _READERS,
        ("GET", "/api/v1/plant/fibres"): _READERS,
        ("GET", "/api/v1/plant/fibres/{fibre_id}"): _READERS,
        ("PUT", "/api/v1/plant/fibres/{fibre_id}/channels/{channel_id}"): _PLANT,
        ("POST", "/api/v1/plant/fibres/{fibre_id}/channels"): _PLANT,
        ("DELETE", "/api/v1/plant/fibres/{fibre_id}/channels/{channel_id}"): _PLANT,
        ("POST", "/api/v1/plant/fibres/{fibre_id}/{action}"): _PLANT,
        ("GET", "/api/v1/plant/switches"): _READERS,
        ("PUT", "/api/v1/plant/switches/{switch_id}"): _PLANT,
        ("GET", "/api/v1/events"): _READERS,
        ("GET", "/metrics"): allow(Role.OPERATOR),
        ("GET", "/health"): HEALTH_READERS,
    },
    note="Paths under `/devices/{module_id}/` are that module's ETSI GS QKD 014 app (next table).",
)
"""Who may call the emulator's management, plant and event routes."""


def module_etsi014_table() -> Table:
    """Who may call a module's ETSI GS QKD 014 app: the KME of the module's node only."""
    return etsi014_table(
        "Emulator: each module's ETSI GS QKD 014 (`/devices/{module_id}`)", Grant(Role.KME, OWN_NODE)
    )


_HEARTBEAT_S = 15.0


class _Body(BaseModel):
    # A misspelt member must be refused, not ignored: ignoring {"enable": true} would leave
    # ``enabled`` at its default and switch the module off.
    model_config = ConfigDict(extra="forbid")


class ModuleConfigBody(_Body):
    """``PUT /api/v1/modules/{id}/config``."""

    peers: list[str] = Field(default_factory=list, description="peer module ids")
    dwdm_channel: int | None = Field(default=None, ge=1, le=99, description="quantum channel")
    enabled: bool = False


class ChannelBody(_Body):
    """``PUT /api/v1/plant/fibres/{f}/channels/{c}``: a new launch power, a new grid channel, or both."""

    launch_power_dbm: float | None = Field(default=None, description="launch power, dBm")
    dwdm_channel: int | None = Field(default=None, ge=1, le=99, description="100 GHz grid channel")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.launch_power_dbm is None and self.dwdm_channel is None:
            raise ValueError("give launch_power_dbm, dwdm_channel or both")
        return self


class SwitchBody(_Body):
    port: str | None


_ERROR_TABLE = problem_table(
    {
        Unauthenticated: (401, "Unauthorized"),
        Forbidden: (403, "Forbidden"),
        NotFound: (404, "Not Found"),
        DeviceError: (409, "Refused by the device"),
        TooManySubscriptions: (429, "Too Many Requests"),
        SubscriptionsFull: (503, "Service Unavailable"),
    }
)
_ERROR_ANSWERS = ErrorAnswers(
    name="Problem",
    schema=problem_details_schema(),
    media_type="application/problem+json",
    statuses={
        400: ("Malformed request (where and why)", "input"),
        401: ("No usable client certificate", "always"),
        403: ("The caller's role or node may not make this call", "always"),
        404: ("No such module, fibre, channel or switch", "input"),
        409: ("Refused by the device or the plant", "write"),
        413: ("The request body is too large", "body"),
    },
)
"""The answers of :data:`_ERROR_TABLE`, in the OpenAPI document."""


def create_emulator_app(
    emulator: Emulator, *, run_clock: bool = True, streams: StreamLimits | None = None
) -> FastAPI:
    """The emulator's app. With ``run_clock`` the world advances in real time while it serves;
    ``streams`` limits the event streams open at once (default: :class:`StreamLimits`'s)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_clock:
            emulator.start()
        try:
            yield
        finally:
            await emulator.stop()

    world = emulator.world
    limits = streams or StreamLimits()

    def module_of_its_node(caller: Identity, request: Request) -> bool:
        module_id = request.path_params.get("module_id")
        modules = {module.id: module for module in world.topology.qkd_modules}
        return module_id in modules and modules[module_id].node == caller.name

    app = FastAPI(
        title="sdqkd emulator",
        version=__version__,
        description="Emulated optical plant and CV-QKD modules (mutual TLS; see docs/emulator.md).",
        lifespan=lifespan,
        docs_url=None,  # nothing is served that the table does not name
        redoc_url=None,
        openapi_url=None,
        dependencies=[authorise(EMULATOR_TABLE, {MODULE_OF_ITS_NODE: module_of_its_node})],
    )
    app.router.route_class = StrictJsonRoute  # no repeated members, bounded depth

    install_error_handlers(app, _ERROR_TABLE)
    registry = CollectorRegistry()  # the emulator's own: other services may share the process
    registry.register(EmulatorCollector(emulator))
    add_metrics_route(app, registry)
    add_health_route(app, emulator.loops.states)  # GET /health: the clock loop

    def describe(module: QkdModule) -> dict[str, Any]:
        profile = world.topology.profile(module.profile)
        attachment = module.attachment
        return {
            "id": module.id,
            "node": module.node,
            "model": profile.model,
            "technology": module.technology,
            "protocol": profile.protocol,
            "role": str(module.role),
            "profile": profile.id,
            "wavelength_range_nm": [profile.quantum_wavelength_min_nm, profile.quantum_wavelength_max_nm],
            "max_absorption_db": profile.max_absorption_db,
            "attachment": (
                {"device": "fibre", "id": attachment.fibre}
                if isinstance(attachment, FibreAttachment)
                else {"device": "switch", "id": attachment.switch, "port": "common"}
            ),
            "etsi014_path": f"/devices/{module.id}",
        }

    def status(module_id: str) -> dict[str, Any]:
        module = world.module(module_id)
        config = world.configs[module_id]
        pair = emulator.pair_for_module(module_id)
        state, reason = emulator.module_state(module_id)
        return {
            "id": module.id,
            "state": state,
            "reason": reason,
            "peers": config.peers,
            "dwdm_channel": config.dwdm_channel,
            "wavelength_nm": quantum_wavelength_nm(config.dwdm_channel) if config.dwdm_channel else None,
            "enabled": config.enabled,
            "paired_with": None if pair is None else _other_end(pair, module_id),
        }

    def performance(module_id: str) -> dict[str, Any]:
        world.module(module_id)
        pair = emulator.pair_for_module(module_id)
        budget = pair.budget if pair else None
        keys = emulator.keys.get(pair.key) if pair else None
        size = emulator.limits.key_size_bits
        return {
            "id": module_id,
            "skr_bps": pair.rate_bps if pair else 0.0,
            "snr": float(budget.result.snr) if budget and pair and pair.active else None,
            "excess_noise_snu": budget.total_excess_noise_snu if budget else None,
            "raman_excess_noise_snu": budget.raman_noise_snu if budget else None,
            "loss_db": budget.loss_db if budget else None,
            "keys_available": keys.stored_keys(size) if keys else 0,
            "key_size_bits": size,
            "keys_waiting": keys.waiting(module_id) if keys else 0,
            "keys_delivered": keys.delivered_keys if keys else 0,
            **_protocol_json(emulator, pair),
        }

    # Modules -----------------------------------------------------------------------------------------

    @app.get("/api/v1/modules")
    async def list_modules() -> dict[str, Any]:
        return {"modules": [describe(m) for m in world.topology.qkd_modules]}

    @app.get("/api/v1/modules/{module_id}")
    async def get_module(module_id: str) -> dict[str, Any]:
        return describe(world.module(module_id))

    @app.get("/api/v1/modules/{module_id}/status")
    async def get_status(module_id: str) -> dict[str, Any]:
        return status(module_id)

    @app.put("/api/v1/modules/{module_id}/config")
    async def put_config(module_id: str, body: ModuleConfigBody) -> dict[str, Any]:
        world.module(module_id)
        emulator.change(
            "module_configured",
            {"module": module_id, **body.model_dump()},
            lambda: world.configure(module_id, body.peers, body.dwdm_channel, body.enabled),
            (module_id,),
        )
        return status(module_id)

    @app.get("/api/v1/modules/{module_id}/performance")
    async def get_performance(module_id: str) -> dict[str, Any]:
        return performance(module_id)

    @app.post("/api/v1/modules/{module_id}/{action}")
    async def module_action(module_id: str, action: Literal["fail", "repair"]) -> dict[str, Any]:
        world.module(module_id)
        act = world.fail_module if action == "fail" else world.repair_module
        emulator.change(f"module_{action}ed", {"module": module_id}, lambda: act(module_id), (module_id,))
        return status(module_id)

    @app.get("/api/v1/links")
    async def list_links() -> dict[str, Any]:
        return {"links": [_pair_json(emulator, p) for p in emulator.pairs()]}

    # Optical plant -----------------------------------------------------------------------------------

    def fibre_json(fibre_id: str) -> dict[str, Any]:
        fibre = world.fibre(fibre_id)
        return {
            "id": fibre.id,
            "a": fibre.a,
            "b": fibre.b,
            "length_km": fibre.length_km,
            "loss_db": fibre.loss_db,
            "cut": fibre.id in world.cut_fibres,
            "channels": [_channel_json(c) for c in fibre.classical_channels],
        }

    @app.get("/api/v1/plant/fibres")
    async def list_fibres() -> dict[str, Any]:
        return {"fibres": [fibre_json(f.id) for f in world.topology.fibres]}

    @app.get("/api/v1/plant/fibres/{fibre_id}")
    async def get_fibre(fibre_id: str) -> dict[str, Any]:
        return fibre_json(fibre_id)

    @app.put("/api/v1/plant/fibres/{fibre_id}/channels/{channel_id}")
    async def set_channel(fibre_id: str, channel_id: str, body: ChannelBody) -> dict[str, Any]:
        current = world.channel(fibre_id, channel_id)
        power_dbm = current.launch_power_dbm if body.launch_power_dbm is None else body.launch_power_dbm
        data: dict[str, Any] = {"fibre": fibre_id, "channel": channel_id}
        if body.dwdm_channel is not None and world.moves(fibre_id, channel_id, body.dwdm_channel):
            event = "channel_tuned"
            data |= {"dwdm_channel": body.dwdm_channel, "launch_power_dbm": power_dbm}
        else:
            event = "channel_power"
            data |= {"launch_power_dbm": power_dbm}
        emulator.change(
            event,
            data,
            lambda: world.set_channel(
                fibre_id, channel_id, launch_power_dbm=body.launch_power_dbm, dwdm_channel=body.dwdm_channel
            ),
        )
        return fibre_json(fibre_id)

    @app.post("/api/v1/plant/fibres/{fibre_id}/channels", status_code=201)
    async def add_channel(fibre_id: str, body: dict[str, Any]) -> dict[str, Any]:
        emulator.change(
            "channel_added", {"fibre": fibre_id, **body}, lambda: world.add_channel(fibre_id, body)
        )
        return fibre_json(fibre_id)

    @app.delete("/api/v1/plant/fibres/{fibre_id}/channels/{channel_id}")
    async def remove_channel(fibre_id: str, channel_id: str) -> dict[str, Any]:
        data = {"fibre": fibre_id, "channel": channel_id}
        emulator.change("channel_removed", data, lambda: world.remove_channel(fibre_id, channel_id))
        return fibre_json(fibre_id)

    @app.post("/api/v1/plant/fibres/{fibre_id}/{action}")
    async def fibre_action(fibre_id: str, action: Literal["cut", "restore"]) -> dict[str, Any]:
        act = world.cut_fibre if action == "cut" else world.restore_fibre
        event = "fibre_cut" if action == "cut" else "fibre_restored"
        emulator.change(event, {"fibre": fibre_id}, lambda: act(fibre_id))
        return fibre_json(fibre_id)

    @app.get("/api/v1/plant/switches")
    async def list_switches() -> dict[str, Any]:
        return {
            "switches": [s.model_dump(mode="json", exclude={"provenance"}) for s in world.topology.switches]
        }

    @app.put("/api/v1/plant/switches/{switch_id}")
    async def set_switch(switch_id: str, body: SwitchBody) -> dict[str, Any]:
        data = {"switch": switch_id, "port": body.port}
        switch = emulator.change("switch_changed", data, lambda: world.set_switch(switch_id, body.port))
        return switch.model_dump(mode="json", exclude={"provenance"})

    # Events ------------------------------------------------------------------------------------------

    @app.get("/api/v1/events", **EVENT_STREAM_ROUTE)
    async def events(request: Request, module: str | None = None) -> StreamingResponse:
        if module is not None:
            world.module(module)

        def render(event: Event) -> str | None:
            return _sse(event) if module is None or module in event.modules else None

        return limits.held_by(
            await peer_identity(request),
            event_stream_response(
                emulator.events.broker,
                render,
                is_disconnected=request.is_disconnected,
                opening=format_event(
                    retry_ms=2000
                ),  # sent once subscribed: nothing published after is missed
                heartbeat_s=_HEARTBEAT_S,
                headers={"Cache-Control": "no-store"},
            ),
        )

    install_openapi(app, _ERROR_ANSWERS)

    # ETSI GS QKD 014 per module ------------------------------------------------------------------------

    for module in world.topology.qkd_modules:
        mount(
            app,
            f"/devices/{module.id}",
            create_etsi014_app(
                ModuleKeyService(emulator, module.id),
                title=f"sdqkd emulated module {module.id}: ETSI GS QKD 014",
                table=module_etsi014_table(),
                checks={OWN_NODE: own_node(module.node)},
            ),
        )
    return app


def _other_end(pair: PairState, module_id: str) -> str:
    return pair.receiver if pair.transmitter == module_id else pair.transmitter


def _channel_json(channel: ClassicalChannel) -> dict[str, Any]:
    """A classical channel with its frequency and its transceiver resolved (its own figures, or its
    rate class's defaults: what the plant would report of a real transponder)."""
    data = channel.model_dump(mode="json", exclude={"provenance"}, exclude_none=True)
    transceiver = channel.transceiver
    return {
        **data,
        "frequency_thz": channel.frequency_thz,
        "rate_class": str(transceiver.rate_class),
        "receiver_sensitivity_dbm": transceiver.receiver_sensitivity_dbm,
        "required_margin_db": transceiver.required_margin_db,
        "tunable": transceiver.tunable,
    }


def _pair_json(emulator: Emulator, pair: PairState) -> dict[str, Any]:
    world = emulator.world
    keys = emulator.keys.get(pair.key)
    return {
        "transmitter": pair.transmitter,
        "receiver": pair.receiver,
        "nodes": [world.module(pair.transmitter).node, world.module(pair.receiver).node],
        "fibre": pair.fibre,
        "active": pair.active,
        "reason": pair.reason,
        "skr_bps": pair.rate_bps,
        "keys_available": keys.stored_keys(emulator.limits.key_size_bits) if keys else 0,
        **_protocol_json(emulator, pair),
    }


def _protocol_json(emulator: Emulator, pair: PairState | None) -> dict[str, Any]:
    """``{"protocol": figures}`` of a pair with the ``protocol`` engine (what its blocks measured:
    :class:`~sdqkd.emulator.protocol.ProtocolFigures`), ``{}`` with the ``rate`` engine."""
    if emulator.protocol is None:
        return {}
    if pair is None:
        return {"protocol": None}
    return {"protocol": emulator.protocol.figures_of(pair.key).as_json(emulator.time_scale)}


def _sse(event: Event) -> str:
    """One server-sent event (WHATWG HTML §9.2): id, event type and one line of JSON data."""
    payload = json.dumps({"time": event.time_s, "modules": list(event.modules), **event.data})
    return format_event(payload, event=event.type, id=event.id)
