"""Fuzzing an agent's RESTCONF server in process, against its written OpenAPI document
(:mod:`sdqkd.agent.restconf_openapi`): as the controller (who may read and write), as a reader (an
agent), and as callers that may not call. The datastore holds an ETSI GS QKD 015 node with one
CV-QKD interface."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fuzz_support import fuzz, in_process_lifespans

from conftest import FuzzPki
from sdqkd.agent.datastore import Datastore
from sdqkd.agent.restconf import create_restconf_app
from sdqkd.etsi015 import load_data_model, packaged_yang_dir
from sdqkd.pki import Role
from sdqkd.restconf.notifications import NotificationStream

pytestmark = pytest.mark.fuzz

_TYPES = "etsi-qkd-node-types:"
_NODE: dict[str, Any] = {
    "etsi-qkd-sdn-node:qkd_node": {
        "qkdn_id": "5f0e3c1e-8d7a-4b5e-9c61-2a4d9e0b7c11",
        "qkdn_status": f"{_TYPES}OPERATING",
        "qkdn_location_id": "madrid-norte",
        "qkd_interfaces": {
            "qkd_interface": [
                {
                    "qkdi_id": 1,
                    "qkdi_model": "sdqkd emulated GG02 transmitter",
                    "qkdi_type": f"{_TYPES}CV-QKD",
                    "qkdi_att_point": {"device": "switch-norte", "port": 3},
                    "qkdi_capabilities": {
                        "role_support": f"{_TYPES}TRANSMITTER",
                        "wavelength_range": "20-60",
                    },
                    "qkdi_status": f"{_TYPES}ENABLED",
                }
            ]
        },
    }
}
_NOT_METRICS = "^(?!GET /metrics)"


@pytest.fixture(scope="module")
def model() -> Any:
    return load_data_model(packaged_yang_dir())


@pytest.fixture
def restconf_app(model: Any) -> Iterator[FastAPI]:
    """The RESTCONF server of a node: the controller and the operator write, agents read."""
    app = create_restconf_app(
        Datastore(model, _NODE),
        readers=frozenset({Role.AGENT}),
        writers=frozenset({Role.OPERATOR, Role.CONTROLLER}),
        stream=NotificationStream(model=model),
    )
    with in_process_lifespans():
        yield app


def test_fuzz_restconf_as_the_controller(restconf_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    document = restconf_app.openapi()
    report = fuzz(document, restconf_app, fuzz_pki.controller, only=_NOT_METRICS)
    assert report.operations == sum(len(item) for item in document["paths"].values()) - 1
    assert not report.failures, report.summary()


def test_fuzz_restconf_metrics_as_the_operator(restconf_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    report = fuzz(restconf_app.openapi(), restconf_app, fuzz_pki.operator, only="^GET /metrics$")
    assert report.operations == 1
    assert not report.failures, report.summary()


def test_fuzz_restconf_reads_as_a_reader(restconf_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    report = fuzz(restconf_app.openapi(), restconf_app, fuzz_pki.agent, only="^(GET|HEAD|OPTIONS) /restconf")
    assert report.operations == 10
    assert not report.failures, report.summary()


def test_fuzz_restconf_refuses_writes_of_a_reader_with_403(restconf_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    report = fuzz(
        restconf_app.openapi(), restconf_app, fuzz_pki.agent, refused={403}, only="^(PUT|POST|PATCH|DELETE)"
    )
    assert report.operations == 5
    assert not report.failures, report.summary()


@pytest.mark.parametrize(("caller", "refused"), [("sae", 403), ("kme", 403), (None, 401)])
def test_fuzz_restconf_refuses_other_callers(
    restconf_app: FastAPI, fuzz_pki: FuzzPki, caller: str | None, refused: int
) -> None:
    certificate = getattr(fuzz_pki, caller) if caller else None
    report = fuzz(restconf_app.openapi(), restconf_app, certificate, refused={refused})
    assert not report.failures, report.summary()


def test_fuzz_restconf_writes_of_the_node_as_the_controller(restconf_app: FastAPI, fuzz_pki: FuzzPki) -> None:
    # bodies generated for a resource that exists: the datastore validates them against the model
    node = {"resource": "etsi-qkd-sdn-node:qkd_node"}
    report = fuzz(
        restconf_app.openapi(), restconf_app, fuzz_pki.controller, only="{resource}", path_parameters=node
    )
    assert report.operations == 7
    assert not report.failures, report.summary()
