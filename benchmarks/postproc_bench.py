"""CV-QKD post-processing throughput (issue #15). Part ``pa``: exact Toeplitz privacy amplification;
part ``sim``: the GG02 quadrature simulator (symbols per second, homodyne and heterodyne, best of
``--repeat`` blocks of ``--symbols``).

Prints one line per block size n (input bits) and output ratio m/n:

    part  n  m  best_s  median_s  Mbit_per_s (input bits per second, best run)

single-threaded (scipy.fft's default, one worker). Anchors: target ≥ 100 Mbit/s per core at n = 2^24;
published CPU FFT Toeplitz 71 Mbit/s (Tang et al., Sci Rep 9, 15733, 2019).

Run: ``python benchmarks/postproc_bench.py pa [--sizes 20 22 24] [--ratios 0.5 0.1] [--repeat 3]``,
``python benchmarks/postproc_bench.py sim [--symbols 10000000] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from sdqkd.postproc import LinkParameters, simulate_quadratures, toeplitz_hash


def _bench_pa(log2_sizes: list[int], ratios: list[float], repeat: int) -> None:
    print("part  n  m  best_s  median_s  Mbit_per_s")
    rng = np.random.default_rng(1905)
    for log2_n in log2_sizes:
        n = 1 << log2_n
        for ratio in ratios:
            m = max(1, round(n * ratio))
            bits = rng.integers(0, 2, n, dtype=np.uint8)
            seed = rng.integers(0, 2, n + m - 1, dtype=np.uint8)
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                toeplitz_hash(bits, seed, m)
                times.append(time.perf_counter() - start)
            best = min(times)
            print(
                f"pa  2^{log2_n}  {m}  {best:.3f}  {statistics.median(times):.3f}  {n / best / 1e6:.1f}",
                flush=True,
            )


def _bench_sim(symbols: int, repeat: int) -> None:
    print("part  detection  symbols  best_s  Msymbols_per_s")
    link = LinkParameters(modulation_variance_snu=4.0, transmittance=0.5, excess_noise_snu=0.01)
    for detection in ("homodyne", "heterodyne"):
        times = []
        for trial in range(repeat):
            start = time.perf_counter()
            simulate_quadratures(link, symbols, detection, seed=trial)
            times.append(time.perf_counter() - start)
        best = min(times)
        print(f"sim  {detection}  {symbols}  {best:.3f}  {symbols / best / 1e6:.1f}", flush=True)


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("part", choices=["pa", "sim"], nargs="?", default="pa")
    parser.add_argument("--symbols", type=int, default=10_000_000, help="symbols per sim block")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 22, 24], help="log2 of n")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5, 0.1], help="m / n")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.part == "pa":
        _bench_pa(args.sizes, args.ratios, args.repeat)
    else:
        _bench_sim(args.symbols, args.repeat)


if __name__ == "__main__":
    main()
