"""Reverse reconciliation: Bob's key bits reach Alice through multidimensional rotations and an
LDPC syndrome, and a frame is kept only when both ends hold the same bits.

Per frame of ``n`` Gaussian values (n a multiple of 8, n the code length):

1. Bob draws n uniform key bits ``b``, discloses the rotations α of :func:`sdqkd.postproc.multidim.
   bob_rotations` and the syndrome ``s = H·b`` (``n − k`` bits: the code's information leak).
2. Alice turns her values into log-likelihood ratios of ``b`` (:func:`~sdqkd.postproc.multidim.
   alice_llrs`) and decodes ``b`` from the syndrome ``s`` and her LLRs by layered belief
   propagation (:class:`sdqkd.postproc.decoder.SyndromeDecoder`), frames in parallel on threads.
3. Verification: both ends hash their frame with a fresh public Toeplitz seed to 64 bits (a
   universal₂ family: a wrong frame passes with probability 2⁻⁶⁴) and keep the frame only when the
   tags agree; a frame whose decoder did not converge is dropped at once. The tags are disclosed, so
   they count as leaked bits.

The efficiency of a code of rate R on a channel of mutual information I_AB (bits per value) is
``β = R/I_AB`` for the kept frames (Bob's bits are uniform, so each value carries one key bit of
which ``1 − R`` are disclosed); the frame error rate is the share of frames dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from sdqkd.errors import ConfigError
from sdqkd.postproc.decoder import DecodeMethod, SyndromeDecoder
from sdqkd.postproc.multidim import DIMENSION, alice_llrs, bob_rotations
from sdqkd.postproc.privacy import toeplitz_hash

__all__ = ["TAG_BITS", "Reconciled", "Reconciler"]

TAG_BITS = 64
"""Bits of the verification hash per frame."""

_MAX_ITERATIONS = 100

Bits = NDArray[np.uint8]


@dataclass(frozen=True)
class Reconciled:
    """The outcome of reconciling a run of frames.

    Attributes:
        bob_key, alice_key: the concatenated bits of the kept frames (equal bit for bit: a frame is
            kept only when the verification tags agree).
        frames: frames attempted; failed: frames dropped (no convergence, or tags differ).
        frame_bits: n, the code length; syndrome_bits: its n − k parity checks.
        iterations: belief-propagation iterations per attempted frame, summed.
    """

    bob_key: Bits = field(repr=False)
    alice_key: Bits = field(repr=False)
    frames: int
    failed: int
    frame_bits: int
    syndrome_bits: int
    iterations: int

    @property
    def kept_frames(self) -> int:
        return self.frames - self.failed

    @property
    def frame_error_rate(self) -> float:
        """Share of frames dropped (0 when none was attempted)."""
        return self.failed / self.frames if self.frames else 0.0

    @property
    def code_rate(self) -> float:
        """``k/n``: key bits per value of a kept frame before privacy amplification."""
        return 1.0 - self.syndrome_bits / self.frame_bits

    @property
    def leaked_bits(self) -> int:
        """Bits disclosed about the kept frames beyond the syndromes (their verification tags)."""
        return TAG_BITS * self.kept_frames

    def __add__(self, other: Reconciled) -> Reconciled:
        """Both runs' frames, as one (same code)."""
        if (other.frame_bits, other.syndrome_bits) != (self.frame_bits, self.syndrome_bits):
            raise ConfigError("only runs of the same code add up")
        return Reconciled(
            bob_key=np.concatenate((self.bob_key, other.bob_key)),
            alice_key=np.concatenate((self.alice_key, other.alice_key)),
            frames=self.frames + other.frames,
            failed=self.failed + other.failed,
            frame_bits=self.frame_bits,
            syndrome_bits=self.syndrome_bits,
            iterations=self.iterations + other.iterations,
        )

    def efficiency(self, mutual_information_per_value: float) -> float:
        """β = R/I_AB for a channel carrying ``mutual_information_per_value`` bits per value."""
        if not mutual_information_per_value > 0:
            raise ConfigError("β needs a channel with positive mutual information")
        return self.code_rate / mutual_information_per_value


class Reconciler:
    """Reconciles frames with one code (the decoder is built once).

    Args:
        code: the parity-check matrix H ((n − k) × n, 0/1, n a multiple of 8).
        max_iterations: belief-propagation iterations before a frame is given up.

    Raises:
        ConfigError: a code whose length is not a multiple of 8, or with no checks or no key bits.
    """

    def __init__(
        self,
        code: sp.csr_matrix,
        *,
        max_iterations: int = _MAX_ITERATIONS,
        method: DecodeMethod = "sum-product",
        workers: int = 1,
    ) -> None:
        checks, n = code.shape
        if n % DIMENSION or not 0 < checks < n:
            raise ConfigError(
                f"the code must have n a multiple of {DIMENSION} and 0 < n − k < n, not {code.shape}"
            )
        if workers < 1:
            raise ConfigError(f"workers must be at least 1, not {workers}")
        self.frame_bits = int(n)
        self.syndrome_bits = int(checks)
        self.workers = workers
        self._decoder = SyndromeDecoder(code, max_iterations=max_iterations, method=method)

    def run(
        self,
        alice: NDArray[np.float64],
        bob: NDArray[np.float64],
        *,
        gain: float,
        noise_variance: float,
        rng: np.random.Generator,
    ) -> Reconciled:
        """Reconcile as many whole frames as ``alice``/``bob`` hold (values past the last are unused).

        Args:
            alice, bob: paired values of ``y = t·x + z`` (:meth:`Quadratures.correlated` of the kept
                symbols), flat and of equal length.
            gain, noise_variance: t and σ² from parameter estimation.
            rng: draws Bob's key bits and the public verification seeds (a generator seeded from
                the operating system for keys; a seeded one to reproduce a simulation).

        Raises:
            ConfigError: mismatched inputs.
        """
        x, y = np.asarray(alice, dtype=np.float64), np.asarray(bob, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise ConfigError("alice and bob must be flat arrays of the same length")
        n, decoder = self.frame_bits, self._decoder
        frames = x.size // n
        if frames == 0:
            return Reconciled(_joined([]), _joined([]), 0, 0, n, self.syndrome_bits, 0)
        used = frames * n
        # Bob: his bits, the rotations he discloses, the syndromes he sends.
        bits = rng.integers(0, 2, used, dtype=np.uint8)
        rotations = bob_rotations(y[:used], bits)
        frame_bits = bits.reshape(frames, n)
        syndromes = np.stack([decoder.syndrome(frame) for frame in frame_bits])
        # Alice: her LLRs, decoded frame by frame.
        llrs = alice_llrs(x[:used], rotations, gain, noise_variance).reshape(frames, n)
        results = decoder.decode_many(llrs, syndromes, workers=self.workers)
        bob_frames: list[Bits] = []
        alice_frames: list[Bits] = []
        failed = 0
        for bob_frame, result in zip(frame_bits, results, strict=True):
            if not result.converged:
                failed += 1
                continue
            seed = rng.integers(0, 2, n + TAG_BITS - 1, dtype=np.uint8)
            if not np.array_equal(
                toeplitz_hash(result.bits, seed, TAG_BITS), toeplitz_hash(bob_frame, seed, TAG_BITS)
            ):
                failed += 1
                continue
            bob_frames.append(bob_frame)
            alice_frames.append(result.bits)
        return Reconciled(
            bob_key=_joined(bob_frames),
            alice_key=_joined(alice_frames),
            frames=frames,
            failed=failed,
            frame_bits=n,
            syndrome_bits=self.syndrome_bits,
            iterations=sum(result.iterations for result in results),
        )


def _joined(frames: list[Bits]) -> Bits:
    return np.concatenate(frames) if frames else np.zeros(0, dtype=np.uint8)
