"""SDN controller: how fast a failure in the emulated plant becomes an alarm at the controller, and how
fast its northbound API answers, on a network run exactly as ``sdqkd up`` runs it (every role its own
process, mutual TLS everywhere).

For each trial: a QKD module of Norte-Quintín fails (then is repaired), or the Norte-Quintín fibre is cut
(then restored); the time from the emulator's answer to the first ``GET /api/v1/alarms?active=true``
that shows the alarm (``interface_down``, ``link_down``) is recorded (polled every 10 ms, so figures
carry up to ~10 ms of polling granularity). Then ``GET /api/v1/links`` is timed over keep-alive.

The latencies are bimodal, so a p50 over 10 trials moves by tens of ms from run to run on the same code.
An alarm is raised either by the read that the agent's notification wakes, 100 ms after it
(``_WAKE_DELAY_S`` of ``sdqkd.controller.registry``: the agent announces the event first, then
refreshes its datastore), or earlier, by a read already due for another reason that finds the new
state (about half of the module failures, most of the fibre cuts). Compare versions with
``--trials 30`` or more, back to back.

Prints per case: trials, p50 / max latency. Needs the ETSI GS QKD 015 YANG modules (agents).

Run: ``python benchmarks/controller_bench.py [--trials 10]``.
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

from sdqkd.etsi015 import qkdi_id
from sdqkd.pki import client_ssl_context
from sdqkd.runtime.rundir import RunDir
from sdqkd.runtime.status import network_status, operator_client


def _until(probe: Callable[[], Any], accept: Callable[[Any], bool], timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = probe()
        if accept(answer):
            return answer
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out; last answer {answer!r}")
        time.sleep(0.01)


def _has(alarms: list[dict[str, Any]], kind: str, source: str) -> bool:
    return any(a["kind"] == kind and a["source"] == source for a in alarms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp) / "run")
        log = (Path(tmp) / "up.log").open("w")
        up = subprocess.Popen(
            [sys.executable, "-m", "sdqkd.cli.app", "up", "--topology", "madrid", "--run-dir", str(run.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _until(lambda: "paste into a shell" in (Path(tmp) / "up.log").read_text(), bool, 120)
            status = network_status(run)
            if not status["controller"]["url"]:
                raise SystemExit("no controller: the ETSI GS QKD 015 YANG modules were not found")
            verify = client_ssl_context(
                Path(status["operator"]["cert"]), Path(status["operator"]["key"]), run.ca_cert
            )
            http = httpx.Client(base_url=status["controller"]["url"], verify=verify, timeout=10)
            plant = operator_client(run)

            def alarms() -> list[dict[str, Any]]:
                return list(http.get("/api/v1/alarms", params={"active": "true"}).json())

            def link_up() -> bool:
                links = {link["id"]: link for link in http.get("/api/v1/links").json()}
                return bool(links["norte-quintin"]["status"] == "up")

            interface = f"interface:quintin/{qkdi_id('quintin-rx2')}"
            cases: dict[str, list[float]] = {
                "module failure → interface_down": [],
                "fibre cut → link_down": [],
            }
            for _ in range(args.trials):
                _until(lambda: link_up(), bool)
                plant.module_action("quintin-rx2", "fail")
                failed = time.perf_counter()
                _until(alarms, lambda found: _has(found, "interface_down", interface))
                cases["module failure → interface_down"].append(time.perf_counter() - failed)
                plant.module_action("quintin-rx2", "repair")
                _until(lambda: link_up(), bool)
                plant.fibre_action("norte-quintin", "cut")
                cut = time.perf_counter()
                _until(alarms, lambda found: _has(found, "link_down", "link:norte-quintin"))
                cases["fibre cut → link_down"].append(time.perf_counter() - cut)
                plant.fibre_action("norte-quintin", "restore")
            reads = []
            for _ in range(200):
                started = time.perf_counter()
                http.get("/api/v1/links").raise_for_status()
                reads.append(time.perf_counter() - started)
            print(f"{'case':36} {'trials':>6} {'p50 ms':>8} {'max ms':>8}")
            for name, values in cases.items():
                p50, worst = statistics.median(values) * 1e3, max(values) * 1e3
                print(f"{name:36} {len(values):>6} {p50:>8.0f} {worst:>8.0f}")
            print(
                f"{'GET /api/v1/links (keep-alive)':36} {len(reads):>6} "
                f"{statistics.median(reads) * 1e3:>8.1f} {max(reads) * 1e3:>8.1f}"
            )
            plant.close()
            http.close()
        finally:
            up.terminate()
            up.wait(timeout=30)
            log.close()


if __name__ == "__main__":
    main()
