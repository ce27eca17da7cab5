"""Fuzzing an agent's RESTCONF server in process, against its written OpenAPI document
(:mod:`sdqkd.agent.restconf_openapi`): as the controller (who may read and write), as a reader (an
agent), and as callers that may not call. The datastore holds an ETSI GS QKD 015 node with one
CV-QKD interface."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fuzz_support import FuzzPki, fuzz

pytestmark = pytest.mark.fuzz

_NOT_METRICS = "^(?!GET /metrics)"


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
