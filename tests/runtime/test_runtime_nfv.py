"""The service managers ``sdqkd up`` starts, one per node: on a running ``chain:3`` the controller's
certificate orders a tunnel exit at n3 and an entry at n1 through them, and traffic crosses the tunnel
(n1 → n3, relayed over n2); a process killed with SIGKILL is restarted by its manager; the operator may
read but not order; deleting the orders stops the processes."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from runtime_support import Launch, echo_server, free_port, relayed, wait_for, wait_until_serving

from sdqkd.pki import Role, client_ssl_context
from sdqkd.runtime.rundir import RunDir

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _client(run: RunDir, role: Role, name: str) -> httpx.Client:
    cert, key = run.require_certificate(role, name)
    return httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert), timeout=10)


@pytest.fixture
def network(launch: Launch, run_dir: Path, tmp_path: Path) -> dict[str, Any]:
    up = launch(run_dir, tmp_path / "up.out")
    return wait_until_serving(run_dir, up, tmp_path / "up.out", ready=relayed)


def test_the_controller_orders_a_tunnel_through_the_service_managers(
    network: dict[str, Any], run_dir: Path
) -> None:
    run = RunDir(run_dir)
    managers = {node["id"]: node["service_manager_url"] for node in network["nodes"]}
    assert all(url and url.startswith("https://") for url in managers.values())
    exit_port, entry_port = free_port(), free_port()
    with echo_server() as target, _client(run, Role.CONTROLLER, "controller") as controller:
        exit_order = {
            "kind": "tunnel-exit",
            "args": {"node": "n3", "listen": f"127.0.0.1:{exit_port}", "forward": f"127.0.0.1:{target}"},
        }
        entry_order = {
            "kind": "tunnel-entry",
            "args": {
                "node": "n1", "peer": "n3", "listen": f"127.0.0.1:{entry_port}",
                "connect": f"127.0.0.1:{exit_port}", "rekey_s": 2,
            },
        }  # fmt: skip
        assert (
            controller.put(f"{managers['n3']}/api/v1/nfv/processes/t1-exit", json=exit_order).status_code
            == 201
        )
        assert (
            controller.put(f"{managers['n1']}/api/v1/nfv/processes/t1-entry", json=entry_order).status_code
            == 201
        )

        def process(node: str, name: str) -> dict[str, Any]:
            return dict(controller.get(f"{managers[node]}/api/v1/nfv/processes/{name}").json())

        for node, name in (("n3", "t1-exit"), ("n1", "t1-entry")):
            wait_for(
                lambda n=node, m=name: process(n, m), lambda p: p["state"] == "running", 30, f"{name} running"
            )

        def echoed(text: bytes) -> bytes:
            with socket.create_connection(("127.0.0.1", entry_port), timeout=30) as client:
                client.sendall(text)
                return client.recv(1024)

        assert (
            wait_for(lambda: _try(echoed, b"through the tunnel"), bool, 30, "echo") == b"through the tunnel"
        )

        first = process("n1", "t1-entry")
        os.kill(first["pid"], signal.SIGKILL)
        again = wait_for(
            lambda: process("n1", "t1-entry"),
            lambda p: p["state"] == "running" and p["pid"] != first["pid"],
            30,
            "the entry restarted",
        )
        assert again["restarts"] == 1
        assert wait_for(lambda: _try(echoed, b"after a restart"), bool, 30, "echo") == b"after a restart"

        with _client(run, Role.OPERATOR, "operator") as operator:
            assert operator.get(f"{managers['n1']}/api/v1/nfv/processes").status_code == 200
            refused = operator.delete(f"{managers['n1']}/api/v1/nfv/processes/t1-entry")
            assert refused.status_code == 403

        for node, name in (("n1", "t1-entry"), ("n3", "t1-exit")):
            assert controller.delete(f"{managers[node]}/api/v1/nfv/processes/{name}").status_code == 204
            assert controller.get(f"{managers[node]}/api/v1/nfv/processes/{name}").status_code == 404
        gone = again["pid"]
        wait_for(lambda: _alive(gone), lambda alive: not alive, 10, "the entry process gone")


def _try(call: Any, text: bytes) -> bytes | None:
    try:
        answer: bytes = call(text)
    except OSError:
        return None
    return answer or None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
