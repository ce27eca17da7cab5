"""An encrypted-tunnel service on a running ``chain:3``, end to end: ``sdqkd service create`` has the
controller admit the key rate n1 → n3 (relayed over n2) and order the exit and the entry at the nodes'
service managers; traffic crosses; the entry killed with SIGKILL heals by itself (its manager restarts
it, the controller sees the service heal and become active again; the healing time is printed);
``sdqkd service delete`` removes both processes and the application."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from runtime_support import SDQKD, Launch, echo_server, free_port, relayed, wait_for, wait_until_serving

from sdqkd.pki import Role, client_ssl_context
from sdqkd.runtime.rundir import RunDir

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _sdqkd(*args: str) -> Any:
    done = subprocess.run([*SDQKD, *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if "--format" in args else done.stdout


def _echoed(port: int, text: bytes) -> bytes | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
            client.sendall(text)
            return client.recv(1024) or None
    except OSError:
        return None


@pytest.fixture
def network(launch: Launch, run_dir: Path, tmp_path: Path) -> dict[str, Any]:
    up = launch(run_dir, tmp_path / "up.out")
    return wait_until_serving(run_dir, up, tmp_path / "up.out", ready=relayed)


def test_an_encrypted_tunnel_service_carries_traffic_heals_after_kill_9_and_is_deleted(
    network: dict[str, Any], run_dir: Path
) -> None:
    run = RunDir(run_dir)
    managers = {node["id"]: node["service_manager_url"] for node in network["nodes"]}
    entry_port = free_port()
    cert, key = run.require_certificate(Role.OPERATOR, "operator")
    with (
        echo_server() as target,
        httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert), timeout=10) as operator,
    ):
        created = _sdqkd(
            "service", "create", "encrypted-tunnel", "--run-dir", str(run_dir), "--a", "n1",
            "--listen", f"127.0.0.1:{entry_port}", "--b", "n3", "--forward", f"127.0.0.1:{target}",
            "--rekey-s", "2", "--min-rate-bps", "100", "--format", "json",
        )  # fmt: skip
        service_id = created["id"]

        def show() -> dict[str, Any]:
            shown: dict[str, Any] = _sdqkd(
                "service", "show", service_id, "--run-dir", str(run_dir), "--format", "json"
            )
            return shown

        active = wait_for(show, lambda s: s["state"] == "active", 60, "the service active")
        assert active["endpoints"]["exit"]["args"]["listen"] != "127.0.0.1:0"  # the port n3's manager chose
        assert (
            active["endpoints"]["entry"]["args"]["connect"] == active["endpoints"]["exit"]["args"]["listen"]
        )
        app = operator.get(f"{network['controller']['url']}/api/v1/apps/{active['apps'][0]}").json()
        assert (app["client_sae_id"], app["server_sae_id"], app["link_id"]) == ("n1-app", "n3-app", "v-n1-n3")
        assert wait_for(lambda: _echoed(entry_port, b"through the service"), bool, 30, "echo") == (
            b"through the service"
        )
        stats = wait_for(
            lambda: show()["endpoints"]["entry"]["stats"], lambda s: s.get("epochs", 0) >= 1, 30, "stats"
        )
        assert stats["key_ids"]

        first = active["endpoints"]["entry"]["pid"]
        killed_at = time.monotonic()
        os.kill(first, signal.SIGKILL)
        crossed = wait_for(lambda: _echoed(entry_port, b"after kill -9"), bool, 60, "echo after the kill")
        traffic_s = time.monotonic() - killed_at
        assert crossed == b"after kill -9"
        healed = wait_for(
            show,
            lambda s: s["state"] == "active" and s["endpoints"]["entry"]["pid"] not in (None, first),
            60,
            "the service active again",
        )
        active_s = time.monotonic() - killed_at
        states = [change["state"] for change in healed["history"]]
        assert "active" in states[states.index("healing") + 1 :], healed["history"]
        assert healed["endpoints"]["entry"]["restarts"] == 1
        print(
            f"\nhealing after kill -9 of the entry: traffic crossed again after {traffic_s:.2f} s, "
            f"the service active again after {active_s:.2f} s (history {states})"
        )

        _sdqkd("service", "delete", service_id, "--run-dir", str(run_dir))
        cert, key = run.require_certificate(Role.CONTROLLER, "controller")
        with httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert), timeout=10) as controller:
            for name in ("entry", "exit"):
                node, process = healed["processes"][name]["node"], healed["processes"][name]["process"]
                assert controller.get(f"{managers[node]}/api/v1/nfv/processes/{process}").status_code == 404
        assert (
            operator.get(f"{network['controller']['url']}/api/v1/apps/{active['apps'][0]}").status_code == 404
        )
        listed = _sdqkd("service", "list", "--run-dir", str(run_dir), "--format", "json")
        assert [s["state"] for s in listed if s["id"] == service_id] == ["terminated"]
        assert _echoed(entry_port, b"nobody listens") is None
