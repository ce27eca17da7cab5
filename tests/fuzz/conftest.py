"""Fixtures for the fuzz tests: the session's CA with a certificate for every kind of caller, and each
service built in process the way its own tests build it: a KME (tests/kms), the controller
(tests/controller), the emulator (tests/emulator), an agent's RESTCONF server (tests/agent/restconf).
Each app's lifespan runs while the test uses it (see :func:`fuzz_support.in_process_lifespans`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fuzz_support import RUNS, FuzzPki, examples_per_operation, in_process_lifespans

from sdqkd.agent.datastore import Datastore
from sdqkd.agent.restconf import create_restconf_app, restconf_table
from sdqkd.controller.api import create_controller_app
from sdqkd.controller.core import Controller
from sdqkd.controller.southbound import Southbound
from sdqkd.controller.store import ControllerStore
from sdqkd.emulator.app import create_emulator_app
from sdqkd.emulator.engine import Emulator
from sdqkd.etsi015 import load_data_model, packaged_yang_dir
from sdqkd.kms import Kme, KmeConfig, SqliteKeyStore, create_kme_app
from sdqkd.pki import CertificateAuthority, Role
from sdqkd.restconf.notifications import NotificationStream
from sdqkd.server.authz import allow
from sdqkd.topology.loader import load_topology


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The figures of the fuzz runs: operations, examples and failures per test."""
    if not RUNS:
        return
    write = terminalreporter.write_line
    write(f"fuzz: {examples_per_operation()} examples per operation and generation mode")
    for test, report in RUNS:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(report.statuses.items()))
        write(
            f"  {test.removeprefix('tests/fuzz/')}: {report.operations} operations, "
            f"{sum(report.examples.values())} requests, {len(report.failures)} failures ({statuses})"
        )
    write(
        f"fuzz total: {sum(r.operations for _, r in RUNS)} operations fuzzed, "
        f"{sum(sum(r.examples.values()) for _, r in RUNS)} requests, "
        f"{sum(len(r.failures) for _, r in RUNS)} failures"
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def fuzz_pki(ca_issuing_into: Callable[[str], CertificateAuthority]) -> FuzzPki:
    ca = ca_issuing_into("fuzz")
    return FuzzPki(
        ca=ca,
        operator=ca.issue(Role.OPERATOR, "operator"),
        controller=ca.issue(Role.CONTROLLER, "controller"),
        emulator=ca.issue(Role.EMULATOR, "emulator"),
        agent=ca.issue(Role.AGENT, "n1"),
        kme=ca.issue(Role.KME, "n1"),
        peer_kme=ca.issue(Role.KME, "n2"),
        sae=ca.issue(Role.SAE, "n1-app"),
    )


_CLOSED_PORT = "https://127.0.0.1:9"  # nothing listens: the peer and the device do not answer (503)


@pytest.fixture
def kme_app(fuzz_pki: FuzzPki, tmp_path: Path) -> Iterator[FastAPI]:
    """KME n1 with one link to n2 whose peer and QKD module do not answer, local SAEs n1-app and
    n1-other, and no key supply (key requests over the link find no key: 503)."""
    store = SqliteKeyStore(tmp_path / "n1.db")
    tls = fuzz_pki.kme
    config = KmeConfig.model_validate(
        {
            "kme_id": "n1",
            "tls": {"cert": str(tls.cert), "key": str(tls.key), "ca": str(fuzz_pki.ca.cert_path)},
            "storage": {"backend": "sqlite", "path": str(store.path)},
            "saes": {"n1-app": "n1", "n1-other": "n1", "n2-app": "n2"},
            "links": [
                {
                    "id": "n1-n2",
                    "peer_kme_id": "n2",
                    "peer_url": _CLOSED_PORT,
                    "device": {"etsi014_url": f"{_CLOSED_PORT}/devices/n1-tx", "peer_sae_id": "n2"},
                }
            ],
        }
    )
    try:
        with in_process_lifespans():
            yield create_kme_app(Kme(config, store), supply=False)
    finally:
        store.close()


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


@pytest.fixture
def emulator_app() -> Iterator[FastAPI]:
    """An emulated Madrid, nothing configured, its clock not running."""
    with in_process_lifespans():
        yield create_emulator_app(Emulator(load_topology("madrid")), run_clock=False)


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


@pytest.fixture(scope="module")
def model() -> Any:
    return load_data_model(packaged_yang_dir())


@pytest.fixture
def restconf_app(model: Any) -> Iterator[FastAPI]:
    """The RESTCONF server of a node: the controller and the operator write, agents read."""
    app = create_restconf_app(
        Datastore(model, _NODE),
        table=restconf_table(
            "fuzzed agent", readers=allow(Role.AGENT), writers=allow(Role.OPERATOR, Role.CONTROLLER)
        ),
        stream=NotificationStream(model=model),
    )
    with in_process_lifespans():
        yield app
