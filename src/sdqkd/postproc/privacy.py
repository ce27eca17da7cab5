"""Privacy amplification: Toeplitz hashing over GF(2), exact, by FFT (CPU, or a GPU through CuPy).

The reconciled key ``bits`` (n bits) is compressed to m bits by ``y = T·bits mod 2`` with the m × n
Toeplitz matrix ``T[i, j] = seed[i − j + n − 1]`` (a seed of n + m − 1 bits). Toeplitz matrices with a
uniform seed form a universal₂ family, so the leftover hash lemma applies (see :func:`pa_output_length`).

How: ``y[i] = c[i + n − 1] mod 2`` where ``c = seed ∗ bits`` is the integer convolution, computed by
real FFTs in float64 and rounded to the nearest integer. Only the m "middle" values are needed, so a
*cyclic* convolution of any length ``L ≥ c_len + m − 1`` serves (its wrap-around lands below index
c_len − 1, never on an output). The input is cut into chunks of ``c_len`` columns (each with its
slice of the seed, again a Toeplitz product); the chunks' spectra are summed and one inverse FFT gives
the sums of all chunks. :func:`_fft_plan` picks the chunk length and L (2^a·3^b·5^c) with least work.

The transform (CPU, scipy.fft/pocketfft). A one-dimensional FFT of 2^24 points runs from main
memory and is three times slower per point than many short ones, so for ``L ≥ 2^16`` the DFT is
computed by the four-step (Gentleman–Sande) decomposition: with ``L = R·C`` (R = 2^r rows) and the
signal laid out row by row (``j = C·j₁ + j₂``), length-R real FFTs run down the columns, the result
is multiplied by the twiddles ``ω_L^{k₁·j₂}`` (``ω_L = e^{−2πi/L}``), and length-C complex FFTs run
along the rows; entry ``[k₁, k₂]`` is then the DFT at ``k = k₁ + R·k₂`` for ``k₁ ≤ R/2`` — one of
each conjugate pair, which is all a real convolution needs. The inverse runs the same steps
backwards. The twiddles come from two small tables (``ω_L^{k₁·u}`` and ``ω_L^{k₁·B·v}`` with
``j₂ = u + B·v``), multiplied block by block, so no L-sized table is ever built.

Why the rounding is exact. Every true value is an integer in ``[0, n]``. For a radix-2 FFT
convolution of length ``L = 2^k`` of real vectors x, y, Percival's bound (C. Percival, "Rapid
multiplication modulo the sum and difference of highly composite numbers", Math. Comp. 72 (2003),
Theorem 5.1) gives ``‖z' − z‖_∞ ≤ ‖x‖₂‖y‖₂ · ((1+ε)^{3k} (1+ε√5)^{3k+1} (1+β)^{3k} − 1)`` with
``ε = 2⁻⁵³`` and β the error of the precomputed roots of unity (pocketfft computes them to ≈ ε, take
β ≤ 2ε). When R and C are powers of two the four-step transform *is* a radix-2 FFT, its k butterfly
stages grouped as r and k − r, with the twiddles between the groups applied as one explicit stage:
one more complex multiplication per transform (3 in all, ``(1+ε√5)³``) whose twiddles are products of
two table entries, each within 20ε (the ``exp`` of an argument reduced exactly mod L), so within
``β_t = 45ε``. First order the error is ``‖x‖₂‖y‖₂ · ε · (3k + √5(3k+4) + 6k + 3·45) ≤
‖x‖₂‖y‖₂ · ε · 17(k+9)``. Summing the spectra of the chunks adds their bounds plus one rounding per
addition (≤ ε per chunk on a value the bound already covers), so the total is at most
``Σ_c ‖x_c‖₂‖y_c‖₂ · ε · 18(k+9)``. With 0/1 entries ``‖x_c‖₂‖y_c‖₂ ≤ √(c_len · (c_len + m − 1))``. A
single chunk gives at most ``√(n(n + m − 1)) < 2n``; several chunks are only planned with
``L ≤ 4·c_len``, so each term is at most ``√(c_len · L) ≤ 2·c_len`` and the sum over the
``⌈n/c_len⌉`` chunks at most ``(n/c_len + 1) · 2·c_len ≤ 4n ≤ 2^28``. With ``k ≤ 28``
(:data:`MAX_FFT_LOG2`) the error is at most ``2^28 · 2⁻⁵³ · 18 · 37 < 2⁻¹⁵`` — a safety factor above
2¹³ under the 1/2 that would change a rounded value.

What that proof does not cover, said plainly: most planned lengths have factors 3 or 5 (they are up
to a third shorter than the next power of two), and pocketfft's radix-3 and radix-5 passes, like its
real-input passes, are not literally Percival's complex radix-2 scheme. A radix-r pass forms each
output from r inputs and fixed rotations, so its rounding error is a few ε per pass as for radix 2
(the argument of N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., §24.1,
applies pass by pass), and there are fewer passes (log_r L, not log₂ L); even a per-pass constant ten
times the radix-2 one leaves the bound under 2⁻¹¹. That is an estimate, not a published theorem for
these kernels — and the same holds for cuFFT on the GPU path. So the bound is also *checked* on every
call, on every backend: each rounded value must lie within 1/4 of the float result, or
:class:`ArithmeticError` (a bug, never expected) is raised instead of returning a key. That check is
what guarantees that no wrong key is ever returned. The tests compare bit for bit with a direct
matrix product, with one exact integer product (Kronecker substitution) on the four-step path, and, at
n = 2^24, with pure-integer dot products of seed rows; and the GPU path bit for bit with the CPU path.

Backends: ``"cpu"`` (scipy.fft, ``workers`` threads, one by default); ``"gpu"`` (CuPy's cuFFT in
float64, one chunk; CuPy is optional, imported only when asked for or auto-detected); ``"auto"``
takes the GPU when CuPy imports and sees a CUDA device (checked once per process) and the block has
at least 2^18 bits (below that the transfers and launches cost more than the FFTs), else the CPU.
"""

from __future__ import annotations

import functools
import importlib
import math
import sys
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.fft as sfft

from sdqkd.errors import ConfigError

__all__ = ["MAX_BITS", "MAX_FFT_LOG2", "Backend", "gpu_available", "pa_output_length", "toeplitz_hash"]

MAX_BITS = 1 << 26
"""The largest input block (n) :func:`toeplitz_hash` takes."""

MAX_FFT_LOG2 = 28
"""The largest FFT has at most 2^28 points; the exactness bound in the module docstring assumes it."""

Backend = Literal["auto", "cpu", "gpu"]
"""Where :func:`toeplitz_hash` runs its FFTs."""

_MIN_FFT_LENGTH = 1 << 10
_FOUR_STEP_LENGTH = 1 << 16  # from here on the four-step layout beats one long transform
_TWIDDLE_BLOCK_BYTES = 1 << 20  # the twiddles of one block of rows stay in cache while applied
_GPU_MIN_BITS = 1 << 18  # "auto" keeps smaller blocks on the CPU: the transfers would cost more
_ROUNDING_TOLERANCE = 0.25
_ROUNDING_SHIFT = 1.5 * 2.0**52  # x + this is round(x) + this, exactly, for |x| < 2^51 (the ulp there is 1)
_LOW_BYTE = 0 if sys.byteorder == "little" else 7  # the byte of a float64 holding its last mantissa bit
_PARITY_BLOCK = 1 << 16  # values rounded per step: the temporaries stay in cache

BitArray = npt.NDArray[np.uint8]
FloatArray = npt.NDArray[np.float64]
ComplexArray = npt.NDArray[np.complex128]


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


def _four_step_rows(size: int) -> int:
    """Rows R of the four-step layout for an FFT of ``size`` points: 2^⌊log₂√size⌋ / 2, or 1 below
    :data:`_FOUR_STEP_LENGTH` (one plain transform). Measured best at 2^22–2^26: R ≈ √L / 2."""
    if size < _FOUR_STEP_LENGTH:
        return 1
    return 1 << (size.bit_length() - 1) // 2 - 1


@functools.cache
def _fft_lengths() -> tuple[int, ...]:
    """The FFT lengths :func:`_fft_plan` may choose, ascending: 2^a·3^b·5^c in [2^10, 2^28] whose
    power of two holds the four-step rows (so R = 2^r divides L)."""
    lengths = []
    power3 = 1
    while power3 <= 1 << MAX_FFT_LOG2:
        power35 = power3
        while power35 <= 1 << MAX_FFT_LOG2:
            size = power35
            while size <= 1 << MAX_FFT_LOG2:
                if size >= _MIN_FFT_LENGTH and size % _four_step_rows(size) == 0:
                    lengths.append(size)
                size *= 2
            power35 *= 5
        power3 *= 3
    return tuple(sorted(lengths))


def _fft_plan(n: int, m: int) -> tuple[int, int]:
    """(chunk length, FFT length) that hashes all n bits with least work.

    Each chunk costs two forward transforms (its bits, its seed slice); one inverse serves them all.
    """
    best: tuple[float, int, int] | None = None
    for size in _fft_lengths():
        if size < m + 1:
            continue  # a chunk needs at least 2 columns' room beside the m outputs
        chunk = min(n, size - m + 1)
        if 4 * chunk < size and chunk < n:
            continue  # keeps the exactness bound of the module docstring (L ≤ 4·c_len)
        cost = (2 * math.ceil(n / chunk) + 1) * size * math.log2(size)
        if best is None or cost < best[0]:
            best = (cost, chunk, size)
        if chunk == n:
            break
    assert best is not None  # m ≤ n ≤ 2^26 keeps the range non-empty
    return best[1], best[2]


def _twiddle_table(rows: int, size: int, step: int, count: int) -> ComplexArray:
    """``ω_L^{k₁·step·t}`` for k₁ ≤ R/2, t < count; the exponent is reduced mod L exactly first."""
    exponent = (np.arange(rows // 2 + 1, dtype=np.int64)[:, None] * (step * np.arange(count))) % size
    table: ComplexArray = np.exp((-2j * np.pi / size) * exponent)
    table.setflags(write=False)
    return table


@dataclass(frozen=True, slots=True)
class _Transform:
    """The real DFT of one length L as ``forward``/``inverse``, one plain FFT or four-step.

    ``forward(x)`` gives the DFT of the real vector x in some fixed layout holding one of each
    conjugate pair; ``inverse`` takes a spectrum in that layout back to the real vector.
    """

    size: int
    rows: int
    cols: int
    block: int  # B: the column twiddle index is u + B·v
    low: ComplexArray  # ω_L^{k₁·u}, u < B
    high: ComplexArray  # ω_L^{k₁·B·v}, v < C/B
    rows_per_block: int

    @classmethod
    def of_size(cls, size: int) -> _Transform:
        rows = _four_step_rows(size)
        cols = size // rows
        empty = np.zeros((0, 0), np.complex128)
        if rows == 1:
            return cls(size, 1, size, 1, empty, empty, 1)
        block = max(d for d in range(1, math.isqrt(cols) + 1) if cols % d == 0)
        rows_per_block = max(1, _TWIDDLE_BLOCK_BYTES // (16 * cols))
        low = _twiddle_table(rows, size, 1, block)
        high = _twiddle_table(rows, size, block, cols // block)
        return cls(size, rows, cols, block, low, high, rows_per_block)

    def _twiddle(self, half: ComplexArray, conjugate: bool) -> None:
        """``half[k₁, j₂] *= ω_L^{±k₁·j₂}`` in place, block by block of rows."""
        by_block = half.reshape(half.shape[0], self.cols // self.block, self.block)
        scratch = np.empty((self.rows_per_block, *by_block.shape[1:]), np.complex128)
        for start in range(0, half.shape[0], self.rows_per_block):
            stop = min(start + self.rows_per_block, half.shape[0])
            factor = scratch[: stop - start]
            np.multiply(self.low[start:stop, None, :], self.high[start:stop, :, None], out=factor)
            if conjugate:
                np.conjugate(factor, out=factor)
            by_block[start:stop] *= factor

    def forward(self, signal: FloatArray, workers: int | None) -> ComplexArray:
        if self.rows == 1:
            spectrum: ComplexArray = sfft.rfft(signal, workers=workers)
            return spectrum
        half: ComplexArray = sfft.rfft(signal.reshape(self.rows, self.cols), axis=0, workers=workers)
        self._twiddle(half, conjugate=False)
        full: ComplexArray = sfft.fft(half, axis=1, overwrite_x=True, workers=workers)
        return full

    def inverse(self, spectrum: ComplexArray, workers: int | None) -> FloatArray:
        if self.rows == 1:
            signal: FloatArray = sfft.irfft(spectrum, self.size, workers=workers)
            return signal
        half: ComplexArray = sfft.ifft(spectrum, axis=1, overwrite_x=True, workers=workers)
        self._twiddle(half, conjugate=True)
        grid: FloatArray = sfft.irfft(half, self.rows, axis=0, overwrite_x=True, workers=workers)
        return grid.reshape(self.size)


@functools.lru_cache(maxsize=8)
def _transform(size: int) -> _Transform:
    return _Transform.of_size(size)


def _refuse_inexact(worst: float) -> None:
    if worst > _ROUNDING_TOLERANCE:
        raise ArithmeticError("FFT convolution outside its exactness bound; refusing to return a key")


def _parity_cpu(values: FloatArray) -> BitArray:
    """The parities of the nearest integers to ``values``, after the 1/4 check, block by block.

    ``values + 1.5·2^52`` rounds to the nearest integer (plus an even constant), so its last
    mantissa bit is the parity; that bit is read from the float's low byte, with no integer array.
    """
    parity = np.empty(values.size, np.uint8)
    shifted = np.empty(min(values.size, _PARITY_BLOCK), np.float64)
    error = np.empty_like(shifted)
    worst = 0.0
    for start in range(0, values.size, _PARITY_BLOCK):
        block = values[start : start + _PARITY_BLOCK]
        here, there = shifted[: block.size], error[: block.size]
        np.add(block, _ROUNDING_SHIFT, out=here)
        np.subtract(here, _ROUNDING_SHIFT, out=there)
        np.subtract(there, block, out=there)
        worst = max(worst, float(there.max()), -float(there.min()))
        np.bitwise_and(here.view(np.uint8)[_LOW_BYTE::8], 1, out=parity[start : start + block.size])
    _refuse_inexact(worst)
    return parity


def _hash_cpu(key: BitArray, seed: BitArray, m: int, workers: int | None) -> BitArray:
    n = key.size
    chunk, size = _fft_plan(n, m)
    transform = _transform(size)
    spectrum: ComplexArray | None = None
    # One signal buffer for every chunk's bits and seed slice, written in full each time: arrays of
    # this size are fresh pages from the kernel, whose zeroing is a large part of the time at 2^26.
    signal = np.empty(size, np.float64)
    for start in range(0, n, chunk):
        # Columns start … start + chunk − 1 of T are the Toeplitz matrix of the seed slice from
        # n − start − chunk, of chunk + m − 1 entries. The last chunk runs past column n − 1: its
        # missing bits are zeros (so the seed entries they meet, zero-filled below index 0, count
        # for nothing) and every chunk's outputs sit at the same offset, chunk − 1.
        count = min(chunk, n - start)
        signal[:count] = key[start : start + count]
        signal[count:] = 0.0
        product = transform.forward(signal, workers)
        seed_start = n - start - chunk
        below = max(0, -seed_start)
        signal[:below] = 0.0
        signal[below : chunk + m - 1] = seed[seed_start + below : seed_start + chunk + m - 1]
        signal[chunk + m - 1 :] = 0.0
        product *= transform.forward(signal, workers)
        if spectrum is None:
            spectrum = product
        else:
            spectrum += product
    del signal
    assert spectrum is not None
    return _parity_cpu(transform.inverse(spectrum, workers)[chunk - 1 : chunk - 1 + m])


def _hash_gpu(key: BitArray, seed: BitArray, m: int) -> BitArray:
    """The same hash on the GPU: one chunk, one cyclic convolution of length ≥ n + m − 1 in cuFFT
    (cupy.fft.rfft/irfft, float64), the same rounding check; the bits come back to the host."""
    cp = _cupy()
    n = key.size
    size = next(length for length in _fft_lengths() if length >= n + m - 1)
    part = cp.zeros(size, cp.float64)
    part[:n] = cp.asarray(key)
    seed_part = cp.zeros(size, cp.float64)
    seed_part[: n + m - 1] = cp.asarray(seed)
    spectrum = cp.fft.rfft(part)
    del part
    spectrum *= cp.fft.rfft(seed_part)
    del seed_part
    values = cp.fft.irfft(spectrum, size)[n - 1 : n - 1 + m]
    rounded = cp.rint(values)
    _refuse_inexact(float(cp.max(cp.abs(values - rounded))))
    parity: BitArray = cp.asnumpy((rounded.astype(cp.int64) & 1).astype(cp.uint8))
    return parity


def _cupy() -> Any:
    return importlib.import_module("cupy")


@functools.cache
def gpu_available() -> bool:
    """Whether CuPy imports and sees at least one CUDA device (checked once per process)."""
    try:
        cp = _cupy()
    except ImportError:
        return False
    try:
        return int(cp.cuda.runtime.getDeviceCount()) > 0
    except cp.cuda.runtime.CUDARuntimeError:  # CuPy without a driver or a device
        return False


def toeplitz_hash(
    bits: npt.ArrayLike,
    seed: npt.ArrayLike,
    m: int,
    *,
    workers: int | None = None,
    backend: Backend = "auto",
) -> BitArray:
    """``T·bits mod 2`` with ``T[i, j] = seed[i − j + n − 1]`` (m × n), as a uint8 array of m bits.

    ``bits``: n entries 0/1 (1 ≤ n ≤ 2^26); ``seed``: n + m − 1 entries 0/1; ``0 ≤ m ≤ n``. Exact (see
    the module docstring), the same bits on every backend. ``workers``: threads for scipy.fft on the
    CPU (None: scipy's default, one; −1: all cores); ``backend``: ``"cpu"``, ``"gpu"`` (CuPy and a
    CUDA device) or ``"auto"`` (the GPU when there is one, for n ≥ 2^18). Raises
    :class:`~sdqkd.errors.ConfigError` for arguments outside that, and for ``backend="gpu"`` without a
    usable GPU.
    """
    if isinstance(m, bool) or not isinstance(m, int | np.integer):
        raise ConfigError(f"m must be an integer, not {type(m).__name__}")
    m = int(m)
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers == 0):
        raise ConfigError(f"workers must be a non-zero integer or None, not {workers!r}")
    if backend not in ("auto", "cpu", "gpu"):
        raise ConfigError(f"backend must be 'auto', 'cpu' or 'gpu', not {backend!r}")
    key = _as_bits("bits", bits)
    n = key.size
    if not 1 <= n <= MAX_BITS:
        raise ConfigError(f"bits must have between 1 and {MAX_BITS} entries, not {n}")
    if not 0 <= m <= n:
        raise ConfigError(f"m must lie in [0, n] = [0, {n}], not {m}")
    toeplitz_seed = _as_bits("seed", seed, n + m - 1 if m else None)
    if backend == "gpu" and not gpu_available():
        raise ConfigError("backend='gpu' needs CuPy (import cupy) and a CUDA device; neither was found")
    if m == 0:
        return np.zeros(0, dtype=np.uint8)
    if backend == "gpu" or (backend == "auto" and n >= _GPU_MIN_BITS and gpu_available()):
        return _hash_gpu(key, toeplitz_seed, m)
    return _hash_cpu(key, toeplitz_seed, m, workers)


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
