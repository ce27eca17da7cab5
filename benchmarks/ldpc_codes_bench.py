"""LDPC codes for reconciliation (issue #15): frame error rate of the designed codes with belief
propagation, against the GA threshold and the BIAWGN Shannon limit.

For each rate and block length n, a code from :func:`sdqkd.postproc.parity_check_matrix` decodes random
frames the way reverse reconciliation does (syndrome of random bits u, BPSK(u) + noise of std σ at the
receiver, ``ldpc.BpDecoder`` product-sum on the syndrome of e = u ⊕ hard(y)), on a grid of SNR going
down from ``--start-db`` above the GA threshold until the FER passes 0.5. Prints one line per point:

    rate  n  sigma  snr_db  fer  frames  decode_ms (mean per frame)

then, per code, the σ where the FER crosses ``--target`` (log-linear interpolation between grid
points) next to σ* and the capacity limit, as SNR in dB and as the gap to the limit.

Run: ``python benchmarks/ldpc_codes_bench.py [--rates 0.47 0.5] [--log2-n 16] [--frames 50]
[--max-iter 100] [--target 0.1] [--start-db 0.2] [--step-db 0.05]``. ldpc's product-sum BP is
single-threaded and slow (≈ 57 ms per iteration at n = 2^16 here), so a point costs minutes.
"""

from __future__ import annotations

import argparse
import itertools
import math
import time

import ldpc
import numpy as np

from sdqkd.postproc import design_distribution, parity_check_matrix
from sdqkd.postproc.density import biawgn_sigma_limit


def _snr_db(sigma: float) -> float:
    return -20.0 * math.log10(sigma)


def _frame_error_rate(
    matrix: object, sigma: float, frames: int, max_iter: int, rng: np.random.Generator
) -> tuple[float, int, float]:
    """(FER, frames run, mean decoding seconds per frame) at noise std ``sigma``; a point whose FER is
    plainly high (over 60 % after 10 frames) stops early."""
    n = matrix.shape[1]  # type: ignore[attr-defined]
    decoder = ldpc.BpDecoder(
        matrix,
        error_channel=np.full(n, 0.1),
        input_vector_type="syndrome",
        bp_method="product_sum",
        max_iter=max_iter,
    )
    errors, seconds = 0, 0.0
    for frame in range(1, frames + 1):
        bits = rng.integers(0, 2, n, dtype=np.uint8)
        syndrome = (matrix @ bits) % 2  # type: ignore[operator]
        received = 1.0 - 2.0 * bits + sigma * rng.standard_normal(n)
        hard = (received < 0).astype(np.uint8)
        decoder.update_channel_probs(1.0 / (1.0 + np.exp(np.abs(2.0 * received / sigma**2))))
        start = time.perf_counter()
        error = decoder.decode(((syndrome + matrix @ hard) % 2).astype(np.uint8))  # type: ignore[operator]
        seconds += time.perf_counter() - start
        errors += int(not np.array_equal(hard ^ error.astype(np.uint8), bits))
        if frame >= 10 and errors > 0.6 * frame:
            break
    return errors / frame, frame, seconds / frame


def _crossing(points: list[tuple[float, float]], target: float) -> float | None:
    """σ where the FER crosses ``target``, interpolating log FER linearly in σ (points by falling σ)."""
    for (s_hi, f_hi), (s_lo, f_lo) in itertools.pairwise(points):
        if f_hi >= target > f_lo:
            if f_lo == 0.0:
                return s_lo
            w = (math.log(f_hi) - math.log(target)) / (math.log(f_hi) - math.log(f_lo))
            return s_hi + w * (s_lo - s_hi)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.47, 0.5])
    parser.add_argument("--log2-n", type=int, nargs="+", default=[16])
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--target", type=float, default=0.1)
    parser.add_argument("--step-db", type=float, default=0.05, help="SNR step of the σ grid")
    parser.add_argument("--start-db", type=float, default=0.3, help="first point: SNR above the GA threshold")
    args = parser.parse_args()
    rng = np.random.default_rng(15)
    summary = []
    print("rate  n  sigma  snr_db  fer  frames  decode_ms")
    for rate in args.rates:
        dist = design_distribution(rate)
        for log2_n in args.log2_n:
            n = 1 << log2_n
            matrix = parity_check_matrix(n, rate, seed=log2_n)
            points: list[tuple[float, float]] = []
            snr_db = _snr_db(dist.sigma_threshold) + args.start_db
            while True:
                sigma = 10.0 ** (-snr_db / 20.0)
                fer, frames, seconds = _frame_error_rate(matrix, sigma, args.frames, args.max_iter, rng)
                line = f"{rate}  {n}  {sigma:.4f}  {snr_db:.3f}  {fer:.3f}  {frames}  {seconds * 1e3:.1f}"
                print(line, flush=True)
                points.append((sigma, fer))
                if fer >= 0.5 or len(points) >= 30:
                    break
                snr_db -= args.step_db
            points.sort(reverse=True)
            summary.append((rate, n, _crossing(points, args.target), dist.sigma_threshold))
    print(f"rate  n  sigma_fer{args.target}  snr_db  ga_sigma  ga_snr_db  limit_sigma  limit_snr_db  gap_db")
    for rate, n, sigma_fer, sigma_ga in summary:
        limit = biawgn_sigma_limit(rate)
        if sigma_fer is None:
            ga, lim = f"{sigma_ga:.4f}  {_snr_db(sigma_ga):.3f}", f"{limit:.4f}  {_snr_db(limit):.3f}"
            print(f"{rate}  {n}  -  -  {ga}  {lim}  -")
            continue
        print(
            f"{rate}  {n}  {sigma_fer:.4f}  {_snr_db(sigma_fer):.3f}  {sigma_ga:.4f}  {_snr_db(sigma_ga):.3f}"
            f"  {limit:.4f}  {_snr_db(limit):.3f}  {_snr_db(sigma_fer) - _snr_db(limit):.3f}"
        )


if __name__ == "__main__":
    main()
