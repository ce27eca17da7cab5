"""Time from ``sdqkd up`` to a network ready for applications: the emulator, the controller, the agents
(on the ETSI 015 model shipped with sdqkd) and the KMEs started, the links provisioned by the
controller, and key at both KMEs of every link that can make key. Prints one line per run, then the median.

Run: ``python benchmarks/startup_bench.py [--topology madrid] [--runs 3]`` (real time, no time scale).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

READY = "paste into a shell"  # the line `sdqkd up` prints once every link's KMEs hold key


def one_run(topology: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "up.log"
        start = time.perf_counter()
        with log.open("w") as output:
            up = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sdqkd.cli.app",
                    "up",
                    "--topology",
                    topology,
                    "--run-dir",
                    f"{tmp}/run",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            try:
                while READY not in log.read_text():
                    if up.poll() is not None or time.perf_counter() - start > 120:
                        raise RuntimeError(f"sdqkd up did not get ready:\n{log.read_text()}")
                    time.sleep(0.05)
                return time.perf_counter() - start
            finally:
                subprocess.run(
                    [sys.executable, "-m", "sdqkd.cli.app", "down", "--run-dir", f"{tmp}/run"],
                    capture_output=True,
                    check=False,
                )
                up.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topology", default="madrid")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    times = []
    for index in range(args.runs):
        seconds = one_run(args.topology)
        times.append(seconds)
        print(f"run {index + 1}: {args.topology} ready after {seconds:.1f} s")
    print(f"median: {statistics.median(times):.1f} s")


if __name__ == "__main__":
    main()
