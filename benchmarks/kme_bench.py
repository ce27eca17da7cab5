"""KME throughput and latency: ETSI GS QKD 014 ``enc_keys`` over HTTPS with mutual TLS.

A network of its own: the emulator and two KMEs (chain:2) as separate processes, exactly as
``sdqkd up`` runs them, with a KME pool pre-filled well beyond what the run consumes, so key supply
is not the bottleneck. Load comes from client processes, each running asyncio with persistent
(keep-alive) mTLS connections, one per simulated client; requests are ``enc_keys`` of 1×256 or
10×256-bit keys for the SAE of node n1 with slave n2-app.

Prints per case: concurrent clients, requests, requests/s, p50/p99/max latency (ms).

Run: ``python benchmarks/kme_bench.py [--seconds 5] [--quick]``. On a 2-core machine the client
processes share the cores with the KME (and its peer and the emulator), so the figures are a
lower bound of what the KME alone sustains.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from kme_network import latency_summary, start_network, wait_for_pools
from sdqkd.pki import Role, client_ssl_context
from sdqkd.runtime.processes import terminate
from sdqkd.runtime.rundir import RunDir, sae_id

POOL_BLOCKS = 120_000


async def _client_loop(url: str, ctx: Any, number: int, stop_at: float, latencies: list[float]) -> None:
    async with httpx.AsyncClient(verify=ctx, http2=False, timeout=30) as http:
        path = f"{url}/api/v1/keys/{sae_id('n2')}/enc_keys?number={number}"
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            response = await http.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"enc_keys answered {response.status_code}: {response.text}")
            latencies.append(time.perf_counter() - start)


def _load_process(url: str, root: str, clients: int, number: int, seconds: float, queue: Any) -> None:
    run = RunDir(Path(root))
    cert, key = run.certificate(Role.SAE, sae_id("n1"))
    ctx = client_ssl_context(cert, key, run.ca_cert)
    latencies: list[float] = []

    async def main() -> None:
        stop_at = time.perf_counter() + seconds
        await asyncio.gather(*(_client_loop(url, ctx, number, stop_at, latencies) for _ in range(clients)))

    asyncio.run(main())
    queue.put(latencies)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_case(
    url: str, root: Path, clients: int, number: int, seconds: float, services: dict[str, int]
) -> dict[str, float]:
    processes = 1 if clients == 1 else 2
    before = {name: cpu_seconds(pid) for name, pid in services.items()}
    queue: Any = mp.get_context("spawn").Queue()
    workers = [
        mp.get_context("spawn").Process(
            target=_load_process,
            args=(url, str(root), clients // processes + (i < clients % processes), number, seconds, queue),
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    latencies = [value for _ in workers for value in queue.get()]
    busy = {name: (cpu_seconds(pid) - before[name]) / seconds for name, pid in services.items()}
    for worker in workers:
        worker.join()
    return {**{f"cpu_{name}": share for name, share in busy.items()}, **latency_summary(latencies, seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each case")
    parser.add_argument("--quick", action="store_true", help="fewer cases")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pids, kmes = start_network(root, "chain:2", POOL_BLOCKS)
        try:
            needed = POOL_BLOCKS if not args.quick else 20_000  # a full pool: the supply loop idles
            ready = wait_for_pools(root, {"n1": kmes["n1"]}, needed, timeout_s=600)
            print(f"pool: {ready:,} ready 256-bit blocks at KME n1")
            print(
                f"{'keys/request':>13}{'clients':>9}{'requests':>10}{'req/s':>9}{'p50_ms':>9}{'p99_ms':>9}{'max_ms':>9}"
            )
            cases = [(1, 1), (1, 10), (1, 100), (10, 1), (10, 10), (10, 100)]
            for number, clients in cases[::3] if args.quick else cases:
                r = run_case(kmes["n1"], root, clients, number, args.seconds, pids)
                print(
                    f"{number:>13}{clients:>9}{r['count']:>10.0f}{r['rate']:>9.0f}"
                    f"{r['p50']:>9.1f}{r['p99']:>9.1f}{r['max']:>9.1f}"
                    f"   {r['cpu_kme_n1']:>6.2f} {r['cpu_kme_n2']:>6.2f} {r['cpu_emulator']:>8.2f}"
                )
        finally:
            for pid in reversed(pids.values()):
                terminate(pid)


if __name__ == "__main__":
    main()
