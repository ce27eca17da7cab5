"""Privacy amplification: Toeplitz hashing over GF(2), exact, by FFT.

The reconciled key ``bits`` (n bits) is compressed to m bits by ``y = T·bits mod 2`` with the m × n
Toeplitz matrix ``T[i, j] = seed[i − j + n − 1]`` (a seed of n + m − 1 bits). Toeplitz matrices with a
uniform seed form a universal₂ family, so the leftover hash lemma applies (see :func:`pa_output_length`).

How: ``y[i] = c[i + n − 1] mod 2`` where ``c = seed ∗ bits`` is the integer (acyclic) convolution, and
``c`` comes from real FFTs (scipy.fft, pocketfft) in float64, rounded to the nearest integer. The input
is cut into chunks of ``c_len`` columns (each with its slice of the seed, again a Toeplitz product) so
that every FFT has a power-of-two length ``L ≥ c_len + m − 1`` — no wrap-around reaches the outputs; the
chunks' spectra are summed and one inverse FFT gives the sums of all chunks (the chunk length is chosen
to minimise the work, :func:`_fft_plan`).

Why the rounding is exact. Every true value is an integer in ``[0, n]``. For a radix-2 FFT
convolution of length ``L = 2^k`` of real vectors x, y, Percival's bound (C. Percival, "Rapid
multiplication modulo the sum and difference of highly composite numbers", Math. Comp. 72 (2003),
Theorem 5.1) gives ``‖z' − z‖_∞ ≤ ‖x‖₂‖y‖₂ · ((1+ε)^{3k} (1+ε√5)^{3k+1} (1+β)^{3k} − 1)`` with
``ε = 2⁻⁵³`` and β the error of the precomputed roots of unity (pocketfft computes them to ≈ ε, take
β ≤ 2ε). First order that is ``‖x‖₂‖y‖₂ · ε · (3k + √5(3k+1) + 6k) ≤ ‖x‖₂‖y‖₂ · ε · 17(k+1)``.
Summing the spectra of the chunks adds their bounds plus one rounding per addition (≤ ε per chunk
on a value the bound already covers), so the total is at most ``Σ_c ‖x_c‖₂‖y_c‖₂ · ε · 18(k+1)``. With
0/1 entries ``‖x_c‖₂‖y_c‖₂ ≤ √(c_len · (c_len + m − 1))``. A single chunk gives at most
``√(n(n + m − 1)) < 2n``; several chunks are only planned with ``L ≤ 4·c_len`` (:func:`_fft_plan`),
so each term is at most ``√(c_len · L) ≤ 2·c_len`` and the sum over the ``⌈n/c_len⌉`` chunks at most
``(n/c_len + 1) · 2·c_len ≤ 4n ≤ 2^28``. With ``k ≤ 28`` (:data:`MAX_FFT_LOG2`) the error is at most
``2^28 · 2⁻⁵³ · 18 · 29 < 2⁻¹⁵`` — a safety factor above 2¹³ under the 1/2 that would change a rounded
value. pocketfft's real transforms
are not literally Percival's complex radix-2 scheme, so the bound is also *checked* on every call:
each rounded value must lie within 1/4 of the float result, or :class:`ArithmeticError` (a bug, never
expected) is raised instead of returning a wrong key. The tests compare bit for bit with a direct
matrix product and, at n = 2^24, with pure-integer dot products of seed rows.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import scipy.fft as sfft

from sdqkd.errors import ConfigError

__all__ = ["MAX_BITS", "MAX_FFT_LOG2", "pa_output_length", "toeplitz_hash"]

MAX_BITS = 1 << 26
"""The largest input block (n) :func:`toeplitz_hash` takes."""

MAX_FFT_LOG2 = 28
"""The largest FFT is 2^28 points; the exactness bound in the module docstring assumes it."""

_MIN_FFT_LOG2 = 10
_ROUNDING_TOLERANCE = 0.25

BitArray = npt.NDArray[np.uint8]


def _as_bits(name: str, value: object, length: int | None = None) -> BitArray:
    array = np.asarray(value)
    if array.ndim != 1:
        raise ConfigError(f"{name} must be a one-dimensional array of bits, not shape {array.shape}")
    if array.dtype.kind not in "biu":
        raise ConfigError(f"{name} must hold integers 0/1, not {array.dtype}")
    if array.size and (array.min() < 0 or array.max() > 1):
        raise ConfigError(f"{name} must hold only 0 and 1")
    if length is not None and array.size != length:
        raise ConfigError(f"{name} must have {length} entries, not {array.size}")
    return array.astype(np.uint8, copy=False)


def _fft_plan(n: int, m: int) -> tuple[int, int]:
    """(chunk length, FFT length): the power-of-two FFT that hashes all n bits with least work.

    Each chunk costs two forward transforms (its bits, its seed slice); one inverse serves them all.
    """
    best: tuple[float, int, int] | None = None
    lowest = max(_MIN_FFT_LOG2, math.ceil(math.log2(m + 1)))
    for k in range(lowest, MAX_FFT_LOG2 + 1):
        size = 1 << k
        chunk = min(n, size - m + 1)
        if 4 * chunk < size and chunk < n:
            continue  # keeps the exactness bound of the module docstring (L ≤ 4·c_len)
        cost = (2 * math.ceil(n / chunk) + 1) * size * k
        if best is None or cost < best[0]:
            best = (cost, chunk, size)
        if chunk == n:
            break
    assert best is not None  # m ≤ n ≤ 2^26 keeps the range non-empty
    return best[1], best[2]


def toeplitz_hash(bits: npt.ArrayLike, seed: npt.ArrayLike, m: int) -> BitArray:
    """``T·bits mod 2`` with ``T[i, j] = seed[i − j + n − 1]`` (m × n), as a uint8 array of m bits.

    ``bits``: n entries 0/1 (1 ≤ n ≤ 2^26); ``seed``: n + m − 1 entries 0/1; ``0 ≤ m ≤ n``. Exact (see
    the module docstring). Raises :class:`~sdqkd.errors.ConfigError` for arguments outside that.
    """
    if isinstance(m, bool) or not isinstance(m, int | np.integer):
        raise ConfigError(f"m must be an integer, not {type(m).__name__}")
    m = int(m)
    key = _as_bits("bits", bits)
    n = key.size
    if not 1 <= n <= MAX_BITS:
        raise ConfigError(f"bits must have between 1 and {MAX_BITS} entries, not {n}")
    if not 0 <= m <= n:
        raise ConfigError(f"m must lie in [0, n] = [0, {n}], not {m}")
    toeplitz_seed = _as_bits("seed", seed, n + m - 1 if m else None)
    if m == 0:
        return np.zeros(0, dtype=np.uint8)
    chunk, size = _fft_plan(n, m)
    spectrum: npt.NDArray[np.complex128] | None = None
    for start in range(0, n, chunk):
        # Columns start … start + chunk − 1 of T are the Toeplitz matrix of the seed slice from
        # n − start − chunk, of chunk + m − 1 entries. The last chunk runs past column n − 1: its
        # missing bits are zeros (so the seed entries they meet, zero-filled below index 0, count
        # for nothing) and every chunk's outputs sit at the same offset, chunk − 1.
        seed_start = n - start - chunk
        if seed_start >= 0:
            part: npt.NDArray[np.generic] = key[start : start + chunk]
            seed_part: npt.NDArray[np.generic] = toeplitz_seed[seed_start : seed_start + chunk + m - 1]
        else:
            part = np.zeros(chunk, np.float64)
            part[: n - start] = key[start:]
            seed_part = np.zeros(chunk + m - 1, np.float64)
            seed_part[-seed_start:] = toeplitz_seed[: seed_start + chunk + m - 1]
        product = sfft.rfft(part.astype(np.float64), size)
        product *= sfft.rfft(seed_part.astype(np.float64), size)
        if spectrum is None:
            spectrum = product
        else:
            spectrum += product
    assert spectrum is not None
    values = sfft.irfft(spectrum, size)[chunk - 1 : chunk - 1 + m]
    rounded = np.rint(values)
    if float(np.max(np.abs(values - rounded))) > _ROUNDING_TOLERANCE:
        raise ArithmeticError("FFT convolution outside its exactness bound; refusing to return a key")
    parity: BitArray = (rounded.astype(np.int64) & 1).astype(np.uint8)
    return parity


def pa_output_length(n: int, secret_fraction: float, epsilon_pa: float = 1e-10, leaked_bits: int = 0) -> int:
    """Bits the Toeplitz hash may output from n reconciled bits: ``⌊n·f − 2·log2(1/ε_PA) − leak⌋``.

    Leftover hash lemma with quantum side information (Tomamichel, Schaffner, Smith, Renner, IEEE
    Trans. Inf. Theory 57, 5524 (2011)): a universal₂ hash to ℓ bits is ε_PA-close to uniform given
    E when ``ℓ ≤ H_min(X|E) − 2·log2(1/ε_PA)`` (their bound allows + 2; dropped, conservatively). The
    finite-size CV-QKD form (Leverrier, Grosshans, Grangier, PRA 81, 062343 (2010), eq. 9 — the same
    term as :func:`sdqkd.physics.privacy_amplification_penalty`) writes ``H_min ≈ n·f`` with the
    secret fraction per bit ``f = β·I_AB − χ_BE − (the √ term of Δ(n))``, so the only PA cost left is
    ``2·log2(1/ε_PA)``. ``leaked_bits``: further public disclosure not already in f (verification-hash
    tags). Returns 0 when no key is left (the caller aborts); never more than n.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"n must be a positive integer, not {n!r}")
    if not math.isfinite(secret_fraction) or not -1.0 <= secret_fraction <= 1.0:
        raise ConfigError(f"secret fraction must be a finite number in [-1, 1], not {secret_fraction!r}")
    if not 0.0 < epsilon_pa < 1.0:
        raise ConfigError(f"ε_PA must lie in (0, 1), not {epsilon_pa!r}")
    if isinstance(leaked_bits, bool) or not isinstance(leaked_bits, int) or leaked_bits < 0:
        raise ConfigError(f"leaked bits must be a non-negative integer, not {leaked_bits!r}")
    length = math.floor(n * secret_fraction - 2.0 * math.log2(1.0 / epsilon_pa)) - leaked_bits
    return max(0, min(n, length))
