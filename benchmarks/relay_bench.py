"""Trusted-node key relay: relayed keys per second and ``enc_keys`` latency over 1, 2 and 4 hops.

A network of its own: the emulator and five KMEs (chain:5) as separate processes, exactly as
``sdqkd up`` runs them, with virtual links from n1 to n2 (1 hop), n3 (2 hops) and n5 (4 hops) in
their configurations, and every pool pre-filled beyond what the run consumes (each request spends
2 blocks on every hop), so key supply is not the bottleneck. Load: concurrent clients in one
process, each an asyncio task with a persistent mutual-TLS connection, asking n1's KME for one
256-bit key for ``nK-app``; each answer comes only once the far end stored the key. After each case
one key is fetched at the far end and compared.

Prints per case: hops, clients, keys relayed, keys/s, p50/p99/max latency (ms).

Run: ``python benchmarks/relay_bench.py [--seconds 5] [--clients 1,10] [--pool 30000]``. All the
processes share the machine's cores, so the figures are a lower bound of what a KME per host does.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from kme_network import latency_summary, start_network, wait_for_pools
from sdqkd.etsi014 import Etsi014Client
from sdqkd.pki import Role, client_ssl_context
from sdqkd.runtime.processes import terminate
from sdqkd.runtime.rundir import RunDir, sae_id

HOPS = {1: "n2", 2: "n3", 4: "n5"}
NODES = ["n1", "n2", "n3", "n4", "n5"]


async def run_case(
    root: Path, kmes: dict[str, str], far: str, clients: int, seconds: float
) -> dict[str, float]:
    run = RunDir(root)
    cert, key = run.certificate(Role.SAE, sae_id("n1"))
    ctx = client_ssl_context(cert, key, run.ca_cert)
    latencies: list[float] = []
    last: list[Any] = []

    async def client_loop(stop_at: float) -> None:
        async with httpx.AsyncClient(verify=ctx, timeout=30) as http:
            path = f"{kmes['n1']}/api/v1/keys/{sae_id(far)}/enc_keys"
            while time.perf_counter() < stop_at:
                start = time.perf_counter()
                response = await http.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"enc_keys answered {response.status_code}: {response.text}")
                latencies.append(time.perf_counter() - start)
                last[:] = response.json()["keys"]

    stop_at = time.perf_counter() + seconds
    await asyncio.gather(*(client_loop(stop_at) for _ in range(clients)))
    # the last key, as the slave SAE gets it at the far end: the same bytes
    slave_cert, slave_key = run.certificate(Role.SAE, sae_id(far))
    async with Etsi014Client(kmes[far], cert=slave_cert, key=slave_key, ca=run.ca_cert) as slave:
        fetched = await slave.dec_keys(sae_id("n1"), [last[0]["key_ID"]])
    if fetched.keys[0].key != last[0]["key"]:
        raise RuntimeError("the far end delivered other key bytes")
    return latency_summary(latencies, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each case")
    parser.add_argument("--clients", default="1,10", help="concurrent clients, comma-separated")
    parser.add_argument("--pool", type=int, default=30_000, help="ready blocks per link before the run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        virtual = [{"id": f"v-n1-{far}", "path": NODES[: NODES.index(far) + 1]} for far in HOPS.values()]
        pids, kmes = start_network(root, "chain:5", args.pool, virtual)
        try:
            lowest = wait_for_pools(root, kmes, args.pool)
            print(f"pools: at least {lowest:,} ready 256-bit blocks on every link")
            print(f"{'hops':>5}{'clients':>9}{'keys':>8}{'keys/s':>9}{'p50_ms':>9}{'p99_ms':>9}{'max_ms':>9}")
            for clients in (int(c) for c in args.clients.split(",")):
                for hops, far in HOPS.items():
                    r = asyncio.run(run_case(root, kmes, far, clients, args.seconds))
                    print(
                        f"{hops:>5}{clients:>9}{r['count']:>8.0f}{r['rate']:>9.0f}"
                        f"{r['p50']:>9.1f}{r['p99']:>9.1f}{r['max']:>9.1f}"
                    )
        finally:
            for pid in reversed(pids.values()):
                terminate(pid)


if __name__ == "__main__":
    main()
