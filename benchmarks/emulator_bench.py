"""Emulator capacity: module pairs one emulator process sustains in real time, and keys/s served
over ETSI GS QKD 014 (HTTPS, mutual TLS, loopback).

1. Real time: the clock advances every pair each 50 ms tick, and a change to the plant recomputes
   every pair's key rate from the physics. For grid topologies of growing size it prints the time
   of one tick and of one full recompute; a size is sustained while a tick takes well under 50 ms
   (a recompute happens only when the world changes).
2. ETSI 014: a real emulator server; a client takes keys with enc_keys at one end and claims them
   with dec_keys at the other, sequentially and with concurrent requests.

Run: ``python benchmarks/emulator_bench.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from sdqkd.emulator.engine import TICK_S, Emulator
from sdqkd.etsi014.client import Etsi014Client
from sdqkd.pki import Role
from sdqkd.runtime.configs import pair_configuration
from sdqkd.runtime.processes import spawn_sdqkd, terminate
from sdqkd.runtime.rundir import RunDir, provision_pki
from sdqkd.runtime.status import operator_client
from sdqkd.topology import load_topology


def _configured(spec: str, time_scale: float = 1.0) -> Emulator:
    topology = load_topology(spec)
    emulator = Emulator(topology, time_scale=time_scale)
    for module_id, config in pair_configuration(topology).items():
        emulator.world.configure(module_id, config["peers"], config["dwdm_channel"], True)
    emulator.refresh()
    return emulator


def real_time(sizes: list[str]) -> None:
    print(f"{'topology':<12}{'pairs':>7}{'tick_ms':>10}{'recompute_ms':>14}{'tick_share_%':>14}")
    for spec in sizes:
        emulator = _configured(spec)
        ticks = []
        for _ in range(20):
            start = time.perf_counter()
            emulator.advance(TICK_S)
            ticks.append(time.perf_counter() - start)
        recomputes = []
        fibre = emulator.world.topology.fibres[0]
        for index in range(5):
            start = time.perf_counter()
            emulator.world.set_channel_power(fibre.id, fibre.classical_channels[0].id, -float(index))
            emulator.refresh()
            recomputes.append(time.perf_counter() - start)
        tick = statistics.median(ticks)
        pairs = len(emulator.pairs())
        print(
            f"{spec:<12}{pairs:>7}{tick * 1e3:>10.3f}{statistics.median(recomputes) * 1e3:>14.1f}"
            f"{100 * tick / TICK_S:>14.2f}"
        )


async def _etsi_rounds(
    url: str, certs: dict[str, tuple[Path, Path]], ca: Path, rounds: int, number: int
) -> float:
    async with (
        Etsi014Client(f"{url}/devices/n1-n2-tx", cert=certs["n1"][0], key=certs["n1"][1], ca=ca) as master,
        Etsi014Client(f"{url}/devices/n1-n2-rx", cert=certs["n2"][0], key=certs["n2"][1], ca=ca) as slave,
    ):
        start = time.perf_counter()
        for _ in range(rounds):
            container = await master.enc_keys("n2", number=number)
            await slave.dec_keys("n1", [k.key_id for k in container.keys])
        return time.perf_counter() - start


async def _etsi_concurrent(
    url: str, cert: tuple[Path, Path], ca: Path, requests: int, number: int, width: int
) -> float:
    async with Etsi014Client(f"{url}/devices/n1-n2-tx", cert=cert[0], key=cert[1], ca=ca) as master:
        semaphore = asyncio.Semaphore(width)

        async def one() -> None:
            async with semaphore:
                await master.enc_keys("n2", number=number)

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        return time.perf_counter() - start


def etsi014(rounds: int) -> None:
    """Against an emulator in its own process, as ``sdqkd up`` runs it."""
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp))
        topology = load_topology("chain:2")
        provision_pki(run, topology)
        process = spawn_sdqkd(
            ["emulator", "--topology", "chain:2", "--run-dir", tmp, "--time-scale", "1e6"], run.emulator_log
        )
        try:
            deadline = time.monotonic() + 30
            while not run.emulator_endpoint.exists():
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the emulator did not start")
                time.sleep(0.05)
            with operator_client(run) as client:
                for module_id, config in pair_configuration(topology).items():
                    client.configure(module_id, config["peers"], config["dwdm_channel"], True)
            time.sleep(0.2)  # a few ticks at 1e6 × real time fill the buffer
            url = str(run.read_json(run.emulator_endpoint)["url"])
            certs = {node: run.certificate(Role.KME, node) for node in ("n1", "n2")}
            print(f"{'case':<44}{'requests':>9}{'keys':>8}{'seconds':>9}{'keys_per_s':>12}{'req_per_s':>11}")
            for number in (1, 256):
                seconds = asyncio.run(_etsi_rounds(url, certs, run.ca_cert, rounds, number))
                keys = rounds * number
                print(
                    f"{f'enc_keys + dec_keys, {number} key(s) a request':<44}{2 * rounds:>9}{keys:>8}"
                    f"{seconds:>9.2f}{keys / seconds:>12,.0f}{2 * rounds / seconds:>11,.0f}"
                )
            seconds = asyncio.run(_etsi_concurrent(url, certs["n1"], run.ca_cert, rounds, 256, 8))
            print(
                f"{'enc_keys, 256 keys a request, 8 in flight':<44}{rounds:>9}{rounds * 256:>8}"
                f"{seconds:>9.2f}{rounds * 256 / seconds:>12,.0f}{rounds / seconds:>11,.0f}"
            )
        finally:
            terminate(process.pid)
            process.wait(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer rounds")
    args = parser.parse_args()
    sizes = ["grid:3x3", "grid:5x5"] if args.quick else ["grid:3x3", "grid:5x5", "grid:10x10", "grid:20x20"]
    real_time(sizes)
    print()
    etsi014(rounds=50 if args.quick else 200)


if __name__ == "__main__":
    main()
