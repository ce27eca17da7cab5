"""LDPC syndrome decoding for CV-QKD reconciliation (issue #15): sdqkd's layered numba decoder
(:class:`sdqkd.postproc.SyndromeDecoder`, sum-product and normalised min-sum) against the `ldpc` library's
flooding ``product_sum`` and ``minimum_sum`` (its C++ BP, driven as reconciliation.py drives it: decode
``e = b ⊕ hard(L)`` from ``s ⊕ H·hard(L)`` with priors ``1/(1 + e^{|L|})``). One thread, 100 iterations
at most, the same frames for every decoder.

Codes, n = 2^16 by default: a (3,6)-regular code (random socket permutation, duplicate edges dropped;
BIAWGN threshold SNR ≈ 1.1 dB), and, when :mod:`sdqkd.postproc.codes` exists, its irregular rate-0.5
``parity_check_matrix(n, 0.5, seed)``. The channel: BPSK over AWGN at SNR = 1/σ² (dB), LLR = 2y/σ².

Prints one line per code, SNR and decoder:

    code  snr_db  decoder  frames  FER  avg_iter  s_per_frame  Mbit_per_s  (frame bits decoded per second)

A frame counts as an error when the decoder does not converge or returns bits other than Bob's.

Run: ``python benchmarks/decoder_bench.py [--log2-n 16] [--frames 10] [--snr 1.2 1.4 1.6 2.0]
[--irregular-snr 0.5 1.0 1.5]`` (the first call compiles the numba kernels, ~2 s, before timing).
"""

from __future__ import annotations

import argparse
import importlib
import math
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from sdqkd.postproc import SyndromeDecoder
from sdqkd.postproc.decoder import DEFAULT_SCALING

Decode = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, bool, int]]


def _regular_code(n: int, rng: np.random.Generator, dv: int = 3, dc: int = 6) -> sp.csr_matrix:
    checks = n * dv // dc
    rows = np.repeat(np.arange(checks), dc)
    cols = rng.permutation(np.repeat(np.arange(n), dv))
    code = sp.csr_matrix((np.ones(rows.size, dtype=np.uint8), (rows, cols)), shape=(checks, n))
    code.sum_duplicates()
    code.data[:] = 1
    return code


def _parity(code: sp.csr_matrix, bits: np.ndarray) -> np.ndarray:
    return (np.asarray(code @ bits.astype(np.int64)) & 1).astype(np.uint8)


def _ours(code: sp.csr_matrix, method: str) -> Decode:
    decoder = SyndromeDecoder(code, method=method)  # type: ignore[arg-type]

    def decode(llrs: np.ndarray, syndrome: np.ndarray) -> tuple[np.ndarray, bool, int]:
        result = decoder.decode(llrs, syndrome)
        return result.bits, result.converged, result.iterations

    return decode


def _ldpc(code: sp.csr_matrix, method: str) -> Decode | None:
    try:
        ldpc = importlib.import_module("ldpc")
    except ImportError:
        return None
    decoder = ldpc.BpDecoder(
        code,
        error_rate=0.1,
        max_iter=100,
        bp_method=method,
        ms_scaling_factor=DEFAULT_SCALING,
        input_vector_type="syndrome",
    )

    def decode(llrs: np.ndarray, syndrome: np.ndarray) -> tuple[np.ndarray, bool, int]:
        hard = (llrs < 0).astype(np.uint8)
        decoder.update_channel_probs(1.0 / (1.0 + np.exp(np.abs(llrs))))
        difference = np.asarray(decoder.decode(syndrome ^ _parity(code, hard)), dtype=np.uint8)
        return hard ^ difference, bool(decoder.converge), int(decoder.iter)

    return decode


def _bench(name: str, code: sp.csr_matrix, snrs_db: list[float], frames: int) -> None:
    n = code.shape[1]
    decoders: dict[str, Decode | None] = {
        "ours-sum-product": _ours(code, "sum-product"),
        "ours-min-sum": _ours(code, "min-sum"),
        "ldpc-product_sum": _ldpc(code, "product_sum"),
        "ldpc-minimum_sum": _ldpc(code, "minimum_sum"),
    }
    rng = np.random.default_rng(1905)
    warm = rng.normal(size=n)
    for decode in decoders.values():
        if decode is not None:
            decode(warm, _parity(code, (warm < 0).astype(np.uint8)))  # compile and warm up
    for snr_db in snrs_db:
        sigma2 = 10 ** (-snr_db / 10)
        bits = rng.integers(0, 2, (frames, n), dtype=np.uint8)
        llrs = 2.0 * (1.0 - 2.0 * bits + rng.normal(0.0, math.sqrt(sigma2), bits.shape)) / sigma2
        syndromes = [_parity(code, b) for b in bits]
        for label, decode in decoders.items():
            if decode is None:
                print(f"{name}  {snr_db:.2f}  {label}  (ldpc not installed)")
                continue
            errors = iterations = 0
            seconds = 0.0
            for b, llr, s in zip(bits, llrs, syndromes, strict=True):
                start = time.perf_counter()
                decoded, converged, used = decode(llr, s)
                seconds += time.perf_counter() - start
                errors += not (converged and np.array_equal(decoded, b))
                iterations += used
            print(
                f"{name}  {snr_db:.2f}  {label}  {frames}  {errors / frames:.2f}  {iterations / frames:.1f}"
                f"  {seconds / frames:.4f}  {frames * n / seconds / 1e6:.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--log2-n", type=int, default=16)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--snr", type=float, nargs="+", default=[1.2, 1.4, 1.6, 2.0])
    parser.add_argument("--irregular-snr", type=float, nargs="+", default=[0.5, 1.0, 1.5])
    args = parser.parse_args()
    n = 1 << args.log2_n
    print("code  snr_db  decoder  frames  FER  avg_iter  s_per_frame  Mbit_per_s")
    _bench("regular-3-6", _regular_code(n, np.random.default_rng(7)), args.snr, args.frames)
    try:
        codes = importlib.import_module("sdqkd.postproc.codes")
    except ImportError:
        print("irregular-0.5  (sdqkd.postproc.codes not available: skipped)")
        return
    _bench("irregular-0.5", codes.parity_check_matrix(n, 0.5, 1), args.irregular_snr, args.frames)


if __name__ == "__main__":
    main()
