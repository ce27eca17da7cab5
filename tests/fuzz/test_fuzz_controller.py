"""Fuzzing the SDN controller's API in process: the northbound API as the operator, call-home as the
agent of a node, and every operation as callers that may not call it. The controller follows no
agent (none has called home before the run; those the fuzzer registers do not answer)."""

from __future__ import annotations

from typing import Any

import pytest
from fuzz_support import FuzzPki, fuzz

pytestmark = pytest.mark.fuzz

_CALL_HOME = r"^PUT /api/v1/nodes/\{node_id\}$"
_NORTHBOUND = r"^(?!PUT /api/v1/nodes/)"


def test_fuzz_controller_northbound_as_the_operator(
    controller_app: tuple[Any, dict[str, Any]], fuzz_pki: FuzzPki
) -> None:
    app, document = controller_app
    report = fuzz(document, app, fuzz_pki.operator, only=_NORTHBOUND)
    assert report.operations == sum(len(item) for item in document["paths"].values()) - 1
    assert not report.failures, report.summary()


def test_fuzz_controller_call_home_as_an_agent(
    controller_app: tuple[Any, dict[str, Any]], fuzz_pki: FuzzPki
) -> None:
    app, document = controller_app
    report = fuzz(document, app, fuzz_pki.agent, only=_CALL_HOME)
    assert report.operations == 1
    assert not report.failures, report.summary()


@pytest.mark.parametrize(("caller", "refused"), [("sae", 403), ("kme", 403), (None, 401)])
def test_fuzz_controller_refuses_other_callers(
    controller_app: tuple[Any, dict[str, Any]], fuzz_pki: FuzzPki, caller: str | None, refused: int
) -> None:
    app, document = controller_app
    certificate = getattr(fuzz_pki, caller) if caller else None
    report = fuzz(document, app, certificate, refused={refused})
    assert not report.failures, report.summary()


def test_fuzz_controller_elements_that_exist_as_the_operator(
    controller_app: tuple[Any, dict[str, Any]], fuzz_pki: FuzzPki
) -> None:
    # generated bodies for a node, a fibre, a channel and a switch of the topology
    app, document = controller_app
    existing = {
        "node_id": "norte",
        "fibre_id": "concepcion-norte",
        "channel_id": "c10g-20",
        "switch_id": "concepcion-switch",
        "link_id": "concepcion-norte",
    }
    report = fuzz(
        document, app, fuzz_pki.operator, only="^(?!PUT /api/v1/nodes/)(.*[{])", path_parameters=existing
    )
    assert report.operations >= 8
    assert not report.failures, report.summary()
