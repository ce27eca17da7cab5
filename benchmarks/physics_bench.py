"""Key-rate evaluations per second of the vectorised GG02 model.

Target (issue #2): 1e6 link configurations in under 1 s on the project machine (2 cores).
Each configuration draws its own T, ξ, V_A, η, v_el and β; every evaluation computes I_AB, χ_BE,
the key and the rate (and, for finite size, the worst-case channel). Prints one line per case:

    case  configurations  best_s  median_s  evaluations_per_s

Run: ``python benchmarks/physics_bench.py [--n 1000000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from sdqkd.physics import FiniteSizeSecurity, evaluate_key_rate


def _configurations(n: int, seed: int = 2018) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "transmittance": rng.uniform(1e-3, 1.0, n),
        "excess_noise_snu": rng.uniform(0.0, 0.05, n),
        "modulation_variance_snu": rng.uniform(2.0, 20.0, n),
        "efficiency": rng.uniform(0.5, 0.7, n),
        "electronic_noise_snu": rng.uniform(0.01, 0.2, n),
        "reconciliation_efficiency": rng.uniform(0.93, 0.99, n),
    }


def _time(run: Callable[[], object], repeat: int) -> list[float]:
    run()  # warm-up: page in arrays, import lazily-loaded code
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="configurations per call")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per case")
    args = parser.parse_args()
    config = _configurations(args.n)
    finite = FiniteSizeSecurity(block_size=1e8)
    cases: dict[str, Callable[[], object]] = {}
    for detection in ("homodyne", "heterodyne"):
        for regime, security in (("asymptotic", None), ("finite-1e8", finite)):
            cases[f"{detection}/{regime}"] = lambda d=detection, s=security: evaluate_key_rate(
                **config, symbol_rate_bd=1e6, frame_error_rate=0.1, detection=d, finite_size=s
            )
    print(f"{'case':<26}{'configurations':>16}{'best_s':>10}{'median_s':>10}{'evaluations_per_s':>20}")
    for name, run in cases.items():
        times = _time(run, args.repeat)
        best = min(times)
        print(f"{name:<26}{args.n:>16,}{best:>10.3f}{statistics.median(times):>10.3f}{args.n / best:>20,.0f}")


if __name__ == "__main__":
    main()
