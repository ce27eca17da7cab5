"""The controller's optical layer on the shared fibre, on a network run exactly as ``sdqkd up`` runs it.

Three figures:

1. **Time to target.** Per trial, the operator changes the plant behind the controller's back — the
   Madrid case of the issue: ``c100g-36`` on concepcion-norte to +15 dBm and four 10G channels at +3 dBm
   on the grid channels next to the quantum channel (57, 58, 60, 61) — and the time from the first
   change to every active link back at its target is measured on the emulator's own key rates (the
   physical truth, polled every 20 ms), and again on the controller's view (the agents' ``skr``, as
   ``GET /api/v1/optical/fibres`` reports it). The plant is then put back and the controller given
   time to raise the powers back.
2. **Key kept.** The same change held for ``--hold-s`` seconds under ``protect-qkd`` and under
   ``observe`` (the controller only reports): concepcion-norte's mean key rate while it is active
   (integrated from the emulator's rate; the switch may serve Quintín part of the time), and the ratio.
3. **Switch schedule efficiency.** Over ``--switch-s`` seconds, the key each switched receiver got
   (the emulator's pair rates integrated while up) against ideal time-sharing with the shares the
   switch actually had and no dead time (``rate × share × duration``), with the moves made.

Prints the figures; the target (40 kbit/s × 1.05, the Madrid topology's ``target_rate_bps`` plus the
default 5 % margin) is the anchor of 1.

Run: ``python benchmarks/optical_bench.py [--trials 5] [--hold-s 20] [--switch-s 60]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from sdqkd.emulator.client import EmulatorClient
from sdqkd.pki import client_ssl_context
from sdqkd.runtime.rundir import RunDir
from sdqkd.runtime.status import network_status, operator_client

_FIBRE = "concepcion-norte"
_NEAR = (57, 58, 60, 61)


def _until(probe: Callable[[], Any], accept: Callable[[Any], bool], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = probe()
        if accept(answer):
            return answer
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out; last answer {answer!r}")
        time.sleep(0.02)


def _disturb(plant: EmulatorClient) -> None:
    plant.set_power(_FIBRE, "c100g-36", 15.0)
    for n in _NEAR:
        spec = {
            "id": f"bench-{n}",
            "dwdm_channel": n,
            "launch_power_dbm": 3.0,
            "direction": "a_to_b",
            "rate_class": "10G",
        }
        plant.add_channel(_FIBRE, spec)


def _restore(plant: EmulatorClient) -> None:
    for n in _NEAR:
        plant.remove_channel(_FIBRE, f"bench-{n}")
    plant.set_power(_FIBRE, "c100g-36", 0.0)


def _targets(http: httpx.Client) -> dict[str, float]:
    fibres = http.get("/api/v1/optical/fibres").json()["fibres"]
    return {q["link"]: q["target_bps"] for f in fibres for q in f["quantum_channels"]}


def _emulator_ok(
    plant: EmulatorClient, targets: dict[str, float], modules: dict[tuple[str, str], str]
) -> bool:
    for pair in plant.links():
        link = modules.get((pair["transmitter"], pair["receiver"]))
        if pair["active"] and link is not None and pair["skr_bps"] < targets[link] - 1e-6:
            return False
    return True


def _controller_ok(http: httpx.Client) -> bool:
    fibres = http.get("/api/v1/optical/fibres").json()["fibres"]
    return all(
        q["measured_skr_bps"] is None or q["measured_skr_bps"] >= q["target_bps"] - 1e-6
        for f in fibres
        for q in f["quantum_channels"]
    )


def _key_bits(plant: EmulatorClient, pair: tuple[str, str], seconds: float) -> tuple[float, float]:
    """The key ``pair`` makes over ``seconds`` and the seconds it was active, integrated from the
    emulator's rate every 50 ms (the switch may serve the other receiver meanwhile)."""
    total, active, end = 0.0, 0.0, time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        found = [p for p in plant.links() if (p["transmitter"], p["receiver"]) == pair and p["active"]]
        time.sleep(0.05)
        if found:
            step = time.monotonic() - now
            total += found[0]["skr_bps"] * step
            active += step
    return total, active


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--hold-s", type=float, default=20.0)
    parser.add_argument("--switch-s", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp) / "run")
        log_path = Path(tmp) / "up.log"
        up = subprocess.Popen(
            [sys.executable, "-m", "sdqkd.cli.app", "up", "--topology", "madrid", "--run-dir", str(run.root)],
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
        )
        try:
            _until(lambda: "paste into a shell" in log_path.read_text(), bool, 120)
            status = network_status(run)
            verify = client_ssl_context(
                Path(status["operator"]["cert"]), Path(status["operator"]["key"]), run.ca_cert
            )
            http = httpx.Client(base_url=status["controller"]["url"], verify=verify, timeout=10)
            plant = operator_client(run)
            modules = {
                (link["transmitter"], link["receiver"]): link["id"]
                for link in status["links"]
                if link["type"] == "PHYS"
            }
            _until(lambda: _targets(http), bool, 30)
            targets = _targets(http)

            emulator_s, controller_s = [], []
            for _ in range(args.trials):
                start = time.monotonic()
                _disturb(plant)
                _until(lambda: _emulator_ok(plant, targets, modules), bool, 30)
                emulator_s.append(time.monotonic() - start)
                _until(lambda: _controller_ok(http), bool, 30)
                controller_s.append(time.monotonic() - start)
                _restore(plant)
                time.sleep(3.0)
            print(f"time to target, {args.trials} trials (change: +15 dBm on c100g-36 and 4 x 10G at +3 dBm)")
            print(
                f"  emulator rates   p50 {statistics.median(emulator_s):.2f} s  max {max(emulator_s):.2f} s"
                "  (done-when: 5 s)"
            )
            print(
                f"  controller view  p50 {statistics.median(controller_s):.2f} s"
                f"  max {max(controller_s):.2f} s"
            )

            pair = next(p for p, link in modules.items() if link == _FIBRE)
            kept = {}
            for mode in ("protect-qkd", "observe"):
                http.put(
                    "/api/v1/optical/policy", json={"mode": mode, "target_margin": 0.05}
                ).raise_for_status()
                plant.set_switch("concepcion-switch", "to-norte")
                time.sleep(1.0)
                _disturb(plant)
                kept[mode] = _key_bits(plant, pair, args.hold_s)
                _restore(plant)
                time.sleep(2.0)
            http.put(
                "/api/v1/optical/policy", json={"mode": "protect-qkd", "target_margin": 0.05}
            ).raise_for_status()
            mean = {mode: bits / active if active else 0.0 for mode, (bits, active) in kept.items()}
            ratio = mean["protect-qkd"] / mean["observe"] if mean["observe"] else float("inf")
            print(
                f"key kept on {_FIBRE} over {args.hold_s:g} s of the change"
                " (switch set to Norte at the start)"
            )
            print(
                f"  mean key rate while active: protect-qkd {mean['protect-qkd'] / 1e3:.1f} kbit/s,"
                f" observe {mean['observe'] / 1e3:.1f} kbit/s: x{ratio:.2f}"
            )

            switched = {p: link for p, link in modules.items() if p[0] == "concepcion-tx"}
            delivered = dict.fromkeys(switched.values(), 0.0)
            connected = dict.fromkeys(switched.values(), 0.0)
            rates = dict.fromkeys(switched.values(), 0.0)
            moves_before = http.get("/api/v1/switches").json()["switches"][0]["moves"]
            last, end = time.monotonic(), time.monotonic() + args.switch_s
            while (now := time.monotonic()) < end:
                pairs = {(p["transmitter"], p["receiver"]): p for p in plant.links()}
                switches = {s["id"]: s for s in plant.switches()}
                port = switches["concepcion-switch"]["connected_port"]
                time.sleep(0.05)
                step = time.monotonic() - now
                for key, link in switched.items():
                    found = pairs.get(key)
                    if found is None:
                        continue
                    if found["active"]:
                        delivered[link] += found["skr_bps"] * step
                        rates[link] = max(rates[link], found["skr_bps"])
                    if port == ("to-norte" if link == "concepcion-norte" else "to-quintin"):
                        connected[link] += step
            duration = time.monotonic() - last
            moves = http.get("/api/v1/switches").json()["switches"][0]["moves"] - moves_before
            print(f"switch schedule over {duration:.0f} s, {moves} moves (no demand: equal shares)")
            for link in switched.values():
                share = connected[link] / duration
                ideal = rates[link] * share * duration
                print(
                    f"  {link}: share {share:.2f}, key {delivered[link] / 1e3:.0f} kbit"
                    f" of ideal {ideal / 1e3:.0f} kbit"
                    f" ({delivered[link] / ideal if ideal else 0:.2f})"
                )
            plant.close()
        finally:
            subprocess.run(
                [sys.executable, "-m", "sdqkd.cli.app", "down", "--run-dir", str(run.root)], check=False
            )
            up.wait(timeout=60)


if __name__ == "__main__":
    main()
