"""The optical part of the controller's northbound API (operator and controller certificates, as the
controller's table :data:`sdqkd.controller.api.CONTROLLER_TABLE` says):

    GET    /api/v1/optical/fibres[/{fibre}]                 classical and quantum channels per fibre
    POST   /api/v1/optical/fibres/{fibre}/channels          admit a classical channel (201; 409 refused)
    DELETE /api/v1/optical/fibres/{fibre}/channels/{id}     take one off (204)
    GET    /api/v1/optical/actions                          what the controller did (``?limit=N``)
    GET    /api/v1/optical/policy, PUT                      ``{"mode", "target_margin"}``
    GET    /api/v1/switches[/{switch}]                      switched transmitters: port, schedule, shares

Shapes in docs/optical.md; errors are the controller's ``{"message", "details"}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Response

from sdqkd.controller.optical.channels import admit_channel, remove_channel
from sdqkd.controller.optical.manager import OpticalManager, OpticalPolicy
from sdqkd.controller.optical.report import actions_json, fibre_json, fibres_json
from sdqkd.errors import UnknownResource

__all__ = ["add_optical_routes"]


def add_optical_routes(app: FastAPI, manager: OpticalManager) -> None:
    """Add the optical routes to the controller's ``app`` (whose table says who may call them)."""

    @app.get("/api/v1/optical/fibres", tags=["optical"])
    async def list_fibres() -> dict[str, Any]:
        return {"fibres": fibres_json(manager), "plant_error": manager.error}

    @app.get("/api/v1/optical/fibres/{fibre_id}", tags=["optical"])
    async def get_fibre(fibre_id: str) -> dict[str, Any]:
        return fibre_json(manager, fibre_id)

    @app.post("/api/v1/optical/fibres/{fibre_id}/channels", status_code=201, tags=["optical"])
    async def post_channel(fibre_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await admit_channel(manager, fibre_id, body)

    @app.delete(
        "/api/v1/optical/fibres/{fibre_id}/channels/{channel_id}",
        status_code=204,
        tags=["optical"],
    )
    async def delete_channel(fibre_id: str, channel_id: str) -> Response:
        await remove_channel(manager, fibre_id, channel_id)
        return Response(status_code=204)

    @app.get("/api/v1/optical/actions", tags=["optical"])
    async def list_actions(limit: int = Query(1000, ge=1, le=10000)) -> dict[str, Any]:
        return {"actions": actions_json(manager, limit)}

    @app.get("/api/v1/optical/policy", tags=["optical"])
    async def get_policy() -> OpticalPolicy:
        return manager.policy

    @app.get("/api/v1/switches", tags=["optical"])
    async def list_switches() -> dict[str, Any]:
        return {"switches": manager.switching.switches_json() if manager.switching else []}

    @app.get("/api/v1/switches/{switch_id}", tags=["optical"])
    async def get_switch(switch_id: str) -> dict[str, Any]:
        found = [
            s
            for s in (manager.switching.switches_json() if manager.switching else [])
            if s["id"] == switch_id
        ]
        if not found:
            raise UnknownResource(f"no switched transmitter behind a switch {switch_id!r}")
        return found[0]

    @app.put("/api/v1/optical/policy", tags=["optical"])
    async def put_policy(body: OpticalPolicy) -> OpticalPolicy:
        return manager.set_policy(body)
