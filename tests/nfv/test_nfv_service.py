"""``sdqkd service-manager --config FILE`` as a real process: it announces itself like every role,
starts the real kinds as ``sdqkd`` commands with their output in its log folder, and ends cleanly on
SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from nfv_support import NODE, Pki

from polling import wait_for
from sdqkd.pki import client_ssl_context
from sdqkd.runtime.processes import is_alive as _alive  # a zombie counts as gone

pytestmark = pytest.mark.integration


def test_the_service_manager_process_runs_a_tunnel_exit_order_and_stops_on_sigterm(
    pki: Pki, tmp_path: Path
) -> None:
    endpoint = tmp_path / "nfv" / "norte.endpoint.json"
    config = {
        "node_id": NODE,
        "tls": {"cert": str(pki.server.cert), "key": str(pki.server.key), "ca": str(pki.ca.cert_path)},
        "run_dir": "run",  # no network here: the tunnel exit cannot start, and says so in its log
        "log_dir": "nfv/norte",
        "endpoint_file": "nfv/norte.endpoint.json",
    }
    (tmp_path / "manager.json").write_text(json.dumps(config), encoding="utf-8")
    manager = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sdqkd.cli.app",
            "service-manager",
            "--config",
            str(tmp_path / "manager.json"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(endpoint.exists, bool, 30.0, "the endpoint record")
        record = json.loads(endpoint.read_text(encoding="utf-8"))
        assert record["pid"] == manager.pid
        assert record["node_id"] == NODE
        context = client_ssl_context(pki.controller.cert, pki.controller.key, pki.ca.cert_path)
        with httpx.Client(base_url=record["url"], verify=context, timeout=10) as client:
            order = {
                "kind": "tunnel-exit",
                "args": {"node": NODE, "listen": "127.0.0.1:0", "forward": "127.0.0.1:9"},
            }
            assert client.put("/api/v1/nfv/processes/exit1", json=order).status_code == 201

            def status() -> dict[str, Any]:
                body: dict[str, Any] = client.get("/api/v1/nfv/processes/exit1").json()
                return body

            died = wait_for(status, lambda s: s["last_exit"] is not None, 30.0, "the exit's first death")
        assert died["last_exit"]["code"] != 0
        log = (tmp_path / "nfv" / "norte" / "exit1.log").read_text(encoding="utf-8")
        listen = died["args"]["listen"]  # the manager chose the port: 127.0.0.1:0 is never run
        assert listen.startswith("127.0.0.1:")
        assert int(listen.rpartition(":")[2]) > 0
        assert f"tunnel exit --run-dir {tmp_path / 'run'} --node norte --listen {listen}" in log
        assert f"--stats-file {tmp_path / 'nfv' / 'norte' / 'exit1.stats.json'}" in log
    finally:
        manager.send_signal(signal.SIGTERM)
        _, stderr = manager.communicate(timeout=30)
    assert manager.returncode == 0, stderr.decode()
    assert not endpoint.exists()


_KILLED_MANAGER = """
import asyncio, sys
from pathlib import Path
from nfv_support import KINDS, NODE, POLICY
from sdqkd.nfv import Site, Supervisor

async def main() -> None:
    folder = Path(sys.argv[1])
    supervisor = Supervisor(Site(NODE, folder / "run", folder / "logs"), KINDS, POLICY)
    await supervisor.put("a", "sleeper", {"node": NODE})
    while supervisor.get("a").pid is None:
        await asyncio.sleep(0.02)
    print(supervisor.get("a").pid, flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_manager_killed_with_sigkill_takes_its_processes_with_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    manager = subprocess.Popen(
        [sys.executable, "-c", _KILLED_MANAGER, str(tmp_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert manager.stdout is not None
        child = int(manager.stdout.readline())
        assert _alive(child)
    finally:
        manager.kill()  # no shutdown: only the kernel can stop the child now
        manager.wait(timeout=10)
        manager.stdout.close()
    wait_for(lambda: _alive(child), lambda alive: not alive, 10.0, "the child gone")
