"""Support for the KME benchmarks (imported by ``kme_bench.py`` and ``relay_bench.py``, run from this
folder): an emulator and one KME per node of a topology as separate processes, exactly as ``sdqkd up``
runs them, with the module pairs configured directly (no agents or controller: the figures are the
KMEs'), pools filled before the load, and latency summaries."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from sdqkd.pki import Role, client_ssl_context
from sdqkd.runtime.configs import pair_configuration
from sdqkd.runtime.launcher import free_port, kme_configs
from sdqkd.runtime.processes import spawn_sdqkd
from sdqkd.runtime.rundir import RunDir, provision_pki
from sdqkd.runtime.status import operator_client
from sdqkd.topology import load_topology


def _wait_file(path: Path, timeout_s: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return dict(json.loads(path.read_text()))
        time.sleep(0.05)
    raise RuntimeError(f"{path} did not appear")


def start_network(
    root: Path, topology_spec: str, pool_blocks: int, virtual_links: Sequence[dict[str, Any]] = ()
) -> tuple[dict[str, int], dict[str, str]]:
    """Start the emulator (time × 1e5) and the KMEs of ``topology_spec`` in ``root``; each KME tops its
    pools up to ``pool_blocks`` and holds the ``virtual_links`` whose path names it. Returns the
    processes' ids and the KMEs' URLs by node."""
    run = RunDir(root)
    topology = load_topology(topology_spec)
    provision_pki(run, topology)
    pids: dict[str, int] = {}
    args = ["emulator", "--topology", topology_spec, "--run-dir", str(root), "--time-scale", "1e5"]
    pids["emulator"] = spawn_sdqkd(args, run.emulator_log).pid
    url = str(_wait_file(run.emulator_endpoint)["url"])
    with operator_client(run) as client:
        for module_id, config in pair_configuration(topology).items():
            client.configure(module_id, config["peers"], config["dwdm_channel"], True)
    run.kme_dir.mkdir(parents=True, exist_ok=True)
    ports = {node.id: free_port() for node in topology.nodes}
    for node, config in kme_configs(topology, run, url, ports).items():
        config["pool_target_blocks"] = pool_blocks
        config["virtual_links"] = [v for v in virtual_links if node in v["path"]]
        run.write_json(run.kme_config(node), config)
        pids[f"kme_{node}"] = spawn_sdqkd(
            ["kme", "--config", str(run.kme_config(node))], run.kme_log(node)
        ).pid
    kmes = {node.id: str(_wait_file(run.kme_endpoint(node.id))["url"]) for node in topology.nodes}
    return pids, kmes


def wait_for_pools(root: Path, kmes: dict[str, str], blocks: int, timeout_s: float = 900) -> int:
    """Until every link of every KME in ``kmes`` has ``blocks`` ready blocks; the lowest level."""
    run = RunDir(root)
    cert, key = run.certificate(Role.OPERATOR, "operator")
    with httpx.Client(verify=client_ssl_context(cert, key, run.ca_cert)) as http:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            levels = [
                int(link["ready_blocks"])
                for url in kmes.values()
                for link in http.get(f"{url}/api/v1/kme").json()["links"]
            ]
            if min(levels) >= blocks:
                return min(levels)
            time.sleep(0.5)
    raise RuntimeError("the pools did not fill")


def latency_summary(latencies: list[float], seconds: float) -> dict[str, float]:
    """Count, rate (per second) and p50/p99/max latency in ms of a run of ``seconds``."""
    ordered = sorted(latencies)
    return {
        "count": len(ordered),
        "rate": len(ordered) / seconds,
        "p50": 1e3 * statistics.median(ordered),
        "p99": 1e3 * ordered[int(0.99 * (len(ordered) - 1))],
        "max": 1e3 * ordered[-1],
    }
