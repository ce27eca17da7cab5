"""The service manager's authorisation table walked exhaustively in process: the controller orders,
the operator reads, nobody else calls."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from nfv_support import KINDS, NODE, POLICY

from authz_support import Certificates, walk
from sdqkd.nfv import Site, Supervisor
from sdqkd.nfv.app import SERVICE_MANAGER_TABLE, create_service_manager_app
from sdqkd.pki import CertificateAuthority
from sdqkd.server.authz import route_keys

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def manager_app(tmp_path: Path) -> Any:
    supervisor = Supervisor(
        Site(NODE, tmp_path / "run", tmp_path / "logs"), KINDS, POLICY, stop_timeout_s=2.0
    )
    return create_service_manager_app(supervisor)


def test_every_route_of_the_service_manager_is_in_its_table_and_every_entry_is_a_route(
    manager_app: Any,
) -> None:
    assert route_keys(manager_app) == (set(SERVICE_MANAGER_TABLE.rules), set())


async def test_the_service_manager_does_what_its_table_says(
    manager_app: Any, ca_issuing_into: Callable[[str], CertificateAuthority]
) -> None:
    certificates = Certificates(ca_issuing_into("nfv-authz"))
    assert await walk(manager_app, SERVICE_MANAGER_TABLE, certificates, {"process_id": "opot-1"}, {}) == []
