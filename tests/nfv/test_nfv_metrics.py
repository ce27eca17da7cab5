"""The service manager's ``/metrics`` (Prometheus text format): processes by state and their
restarts, for the operator only."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
from nfv_support import KINDS, NODE, POLICY, Manager
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from asgi_support import clients_presenting
from polling import wait_for
from sdqkd.nfv import create_service_manager_app
from sdqkd.nfv.kinds import Site
from sdqkd.nfv.supervisor import Supervisor

pytestmark = pytest.mark.integration

SLEEPER = {"kind": "sleeper", "args": {"node": NODE}}
TIMEOUT_S = 20.0


def scrape(manager: Manager) -> list[Sample]:
    """Every sample of the manager's ``/metrics``, read with the operator's certificate."""
    with manager.client(manager.pki.operator) as operator:
        response = operator.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return [sample for family in text_string_to_metric_families(response.text) for sample in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    """The value of the one sample ``name`` whose labels include ``labels``."""
    (found,) = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    return found


def test_metrics_count_the_processes_by_state_and_their_restarts(
    manager: Manager, controller: httpx.Client
) -> None:
    assert value(scrape(manager), "sdqkd_nfv_info", node=NODE) == 1
    assert controller.put("/api/v1/nfv/processes/p1", json=SLEEPER).status_code == 201
    running = wait_for(
        lambda: scrape(manager),
        lambda s: value(s, "sdqkd_nfv_process_state", process="p1", state="running") == 1,
        TIMEOUT_S,
        "p1 running in the metrics",
    )
    assert value(running, "sdqkd_nfv_processes", kind="sleeper", state="running") == 1
    assert value(running, "sdqkd_nfv_process_restarts_total", process="p1", kind="sleeper") == 0

    first = controller.get("/api/v1/nfv/processes/p1").json()["pid"]
    os.kill(first, 9)
    restarted = wait_for(
        lambda: scrape(manager),
        lambda s: (
            value(s, "sdqkd_nfv_process_restarts_total", process="p1") == 1
            and value(s, "sdqkd_nfv_process_state", process="p1", state="running") == 1
        ),
        TIMEOUT_S,
        "p1 restarted in the metrics",
    )
    assert value(restarted, "sdqkd_nfv_processes", kind="sleeper", state="failed") == 0


@pytest.mark.parametrize("name", ["controller", "own_agent", "other_agent"])
def test_metrics_are_for_the_operator_only(manager: Manager, name: str) -> None:
    with manager.client(getattr(manager.pki, name)) as client:
        response = client.get("/metrics")

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


def test_metrics_without_a_client_certificate_are_401(tmp_path: Path) -> None:
    # over TLS a client without a certificate cannot even connect: in process, the app itself says 401
    supervisor = Supervisor(Site(NODE, tmp_path / "run", tmp_path / "logs"), KINDS, POLICY)

    async def call() -> tuple[int, str]:
        async with clients_presenting(create_service_manager_app(supervisor), "https://nfv") as call_as:
            response = await call_as(None).get("/metrics")
        return response.status_code, response.headers["content-type"]

    assert asyncio.run(call()) == (401, "application/problem+json")
