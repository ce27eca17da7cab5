"""Key relay under a fibre cut: how long keys stop when a hop of a relay path is cut, and whether any key
is lost or repeated, on ``grid:3x3`` run exactly as ``sdqkd up`` runs it (every role its own process).

One SAE (r1c1) asks its KME for one 256-bit key for r3c3-app every 20 ms, four hops away. For each
trial a different hop inside the current path is cut (``sdqkd plant cut``); the gap is the time from the
cut to the first key delivered after it (the controller computes a new path and provisions it at the
agents and KMEs). The fibre is restored before the next trial. At the end the slave SAE claims every key
the master received: lost = keys it cannot get, repeated = keys handed out twice.

Prints per trial the hop cut, when the new path (without it) was configured at every KME on it
("re-routed", from ``sdqkd status``, polled), the gap in keys, and the refusals (503) meanwhile; then keys
delivered, lost, repeated. A cut stops the hop's key generation, not the KMEs' buffered key: the old path
can serve from its pools until the controller has moved the association, so the gap is often short.
Needs the ETSI GS QKD 015 YANG modules (agents and controller).

Run: ``python benchmarks/reroute_bench.py [--trials 3] [--time-scale 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sdqkd.etsi014 import Etsi014Client
from sdqkd.etsi014.client import Etsi014ClientError
from sdqkd.runtime.rundir import RunDir
from sdqkd.runtime.status import network_status

SDQKD = [sys.executable, "-m", "sdqkd.cli.app"]
PAIR = "v-r1c1-r3c3"


def _sae(status: dict[str, Any], node: str) -> Etsi014Client:
    found = next(n for n in status["nodes"] if n["id"] == node)
    sae = found["saes"][0]
    return Etsi014Client(
        found["kme_url"], cert=Path(sae["cert"]), key=Path(sae["key"]), ca=Path(status["ca"])
    )


def _relay(run: RunDir) -> dict[str, Any] | None:
    try:
        status = network_status(run)
    except Exception:  # not serving yet
        return None
    found = next((link for link in status["links"] if link["id"] == PAIR), None)
    if found and found["status"] == "up" and set(found["configured_kmes"]) == set(found["path"]):
        return found
    return None


def _wait_relay(run: RunDir, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (found := _relay(run)) is None:
        if time.monotonic() > deadline:
            raise SystemExit(f"no relay path {PAIR} within {timeout_s} s")
        time.sleep(0.2)
    return found


async def _trial(
    run: RunDir, status: dict[str, Any], hop: str, delivered: list[tuple[float, str, bytes]]
) -> tuple[float, int]:
    refusals = 0
    stop = asyncio.Event()

    async def ask() -> None:
        nonlocal refusals
        async with _sae(status, "r1c1") as master:
            while not stop.is_set():
                try:
                    answer = await master.enc_keys("r3c3-app", number=1)
                except Etsi014ClientError:
                    refusals += 1
                else:
                    delivered.append(
                        (time.monotonic(), str(answer.keys[0].key_id), answer.keys[0].material())
                    )
                await asyncio.sleep(0.02)

    asking = asyncio.create_task(ask())
    await asyncio.sleep(2)
    cut_at = time.monotonic()
    await asyncio.to_thread(
        subprocess.run,
        [*SDQKD, "plant", "cut", "--fibre", hop, "--run-dir", str(run.root)],
        check=True,
        capture_output=True,
    )
    while not [t for t, _, _ in delivered if t > cut_at] and time.monotonic() - cut_at < 30:
        await asyncio.sleep(0.01)
    gap = min((t for t, _, _ in delivered if t > cut_at), default=float("inf")) - cut_at
    while True:  # the new path, without the cut hop, configured at every KME on it
        relay = await asyncio.to_thread(_relay, run)
        if relay is not None and hop not in relay["hops"]:
            break
        if time.monotonic() - cut_at > 30:
            raise SystemExit(f"no new path 30 s after cutting {hop}")
        await asyncio.sleep(0.02)
    rerouted = time.monotonic() - cut_at
    await asyncio.sleep(1)
    stop.set()
    await asking
    return gap, rerouted, refusals


async def _claim(status: dict[str, Any], delivered: list[tuple[float, str, bytes]]) -> tuple[int, int]:
    from uuid import UUID

    lost = repeated = 0
    async with _sae(status, "r3c3") as slave:
        for _, key_id, value in delivered:
            try:
                got = await slave.dec_keys("r1c1-app", [UUID(key_id)])
            except Etsi014ClientError:
                lost += 1
                continue
            lost += got.keys[0].material() != value
            try:
                await slave.dec_keys("r1c1-app", [UUID(key_id)])
                repeated += 1
            except Etsi014ClientError:
                pass
    return lost, repeated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--time-scale", default="50")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp) / "run")
        log = (Path(tmp) / "up.log").open("w")
        up = subprocess.Popen(
            [
                *SDQKD,
                "up",
                "--topology",
                "grid:3x3",
                "--run-dir",
                str(run.root),
                "--time-scale",
                args.time_scale,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            relay = _wait_relay(run)
            status = network_status(run)
            delivered: list[tuple[float, str, bytes]] = []
            header = ("trial", "path before", "hop cut", "re-routed ms", "gap ms", "503s")
            print("{:>5} {:32} {:10} {:>12} {:>7} {:>5}".format(*header))
            for trial in range(1, args.trials + 1):
                hop = relay["hops"][1 + (trial - 1) % max(len(relay["hops"]) - 2, 1)]
                path = " ".join(relay["path"])
                gap, rerouted, refusals = asyncio.run(_trial(run, status, hop, delivered))
                print(
                    f"{trial:>5} {path:32} {hop:10} {rerouted * 1e3:>12.0f} {gap * 1e3:>7.0f} {refusals:>5}"
                )
                subprocess.run(
                    [*SDQKD, "plant", "restore", "--fibre", hop, "--run-dir", str(run.root)],
                    check=True,
                    capture_output=True,
                )
                time.sleep(3)
                relay = _wait_relay(run)
            lost, repeated = asyncio.run(_claim(status, delivered))
            print(json.dumps({"keys_delivered": len(delivered), "lost": lost, "repeated": repeated}))
        finally:
            up.terminate()
            up.wait(timeout=30)
            log.close()


if __name__ == "__main__":
    main()
