"""Fuzzing the SDN controller's API in process: the northbound API as the operator, call-home as the
agent of a node, and every operation as callers that may not call it. The controller follows no
agent (none has called home before the run; those the fuzzer registers do not answer)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fuzz_support import fuzz, in_process_lifespans

from conftest import FuzzPki
from sdqkd.controller.api import create_controller_app
from sdqkd.controller.core import Controller
from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import ControllerStore
from sdqkd.topology.loader import load_topology

pytestmark = pytest.mark.fuzz

_CALL_HOME = r"^PUT /api/v1/nodes/\{node_id\}$"
_NORTHBOUND = r"^(?!PUT /api/v1/nodes/)"


@pytest.fixture
def controller_app(fuzz_pki: FuzzPki, tmp_path: Path) -> Iterator[tuple[Any, dict[str, Any]]]:
    """The controller of the Madrid network (its SQLite file in ``tmp_path``) and its document."""
    store = ControllerStore(tmp_path / "controller.db")
    own = fuzz_pki.controller
    controller = Controller(
        load_topology("madrid"), store, Southbound(own.cert, own.key, fuzz_pki.ca.cert_path, timeout_s=1.0)
    )
    app = create_controller_app(controller)
    try:
        with in_process_lifespans():
            yield app, app.app.openapi()  # type: ignore[attr-defined]  # the FastAPI app inside
    finally:
        store.close()


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
