"""``GET /health``: whether a service's background loops are working (:mod:`sdqkd.server.loops`).

200 when every loop is running, 503 when any is backing off after failures; the body lists each
loop's state either way (name, state, failures in a row and in all, last error class, last success),
never an error's message. Who may read it is the app's table's to say (:mod:`sdqkd.server.authz`):
:data:`HEALTH_READERS`, the operator and the controller.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from sdqkd.pki.identity import Role
from sdqkd.server.authz import Rule, allow
from sdqkd.server.loops import LoopState

__all__ = ["HEALTH_READERS", "add_health_route", "health_body"]

HEALTH_READERS: Rule = allow(Role.OPERATOR, Role.CONTROLLER)
"""Who may read ``/health`` (each app's table entry ``("GET", "/health")``): it tells when a service is
failing and why (by class)."""


def health_body(states: list[LoopState]) -> tuple[int, dict[str, object]]:
    """The status and body of ``GET /health`` for ``states``."""
    failing = [state.name for state in states if state.state == "backing-off"]
    body: dict[str, object] = {
        "status": "degraded" if failing else "ok",
        "loops": [state.to_json() for state in states],
    }
    return (503 if failing else 200), body


def add_health_route(app: FastAPI, states: Callable[[], list[LoopState]]) -> None:
    """Serve ``GET /health`` on ``app`` from ``states`` (read at each request), to whom the app's
    table says (:data:`HEALTH_READERS`)."""

    @app.get("/health", include_in_schema=False)
    async def health() -> JSONResponse:
        status, body = health_body(states())
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
