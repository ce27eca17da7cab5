"""Reverse reconciliation: Bob's key bits reach Alice through multidimensional rotations and an
LDPC syndrome, and a frame is kept only when both ends hold the same bits.

Per frame of ``n`` Gaussian values (n a multiple of 8, n the code length):

1. Bob draws n uniform key bits ``b``, discloses the rotations α of :func:`sdqkd.postproc.multidim.
   bob_rotations` and the syndrome ``s = H·b`` (``n − k`` bits: the code's information leak).
2. Alice turns her values into log-likelihood ratios of ``b`` (:func:`~sdqkd.postproc.multidim.
   alice_llrs`), takes hard decisions ``h`` and decodes the difference ``e = b ⊕ h`` from its syndrome
   ``s ⊕ H·h`` by belief propagation, with per-bit flip probabilities ``1/(1 + e^{|L|})``. The decoder
   is the `ldpc` library's (Roffe et al., MIT licence: sum-product in C++), which takes a syndrome
   and soft priors as they are.
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
from ldpc import BpDecoder  # type: ignore[attr-defined]
from numpy.typing import NDArray

from sdqkd.errors import ConfigError
from sdqkd.postproc.multidim import DIMENSION, alice_llrs, bob_rotations
from sdqkd.postproc.privacy import toeplitz_hash

__all__ = ["TAG_BITS", "Reconciled", "Reconciler"]

TAG_BITS = 64
"""Bits of the verification hash per frame."""

_MAX_ITERATIONS = 100
_MAX_LLR = 40.0  # |L| beyond this is certainty; keeps 1/(1 + e^|L|) representable

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


def _parity(matrix: sp.csr_matrix, bits: Bits) -> Bits:
    syndrome: Bits = (np.asarray(matrix @ bits.astype(np.int32)) & 1).astype(np.uint8)
    return syndrome


class Reconciler:
    """Reconciles frames with one code (the decoder is built once).

    Args:
        code: the parity-check matrix H ((n − k) × n, 0/1, n a multiple of 8).
        max_iterations: belief-propagation iterations before a frame is given up.

    Raises:
        ConfigError: a code whose length is not a multiple of 8, or with no checks or no key bits.
    """

    def __init__(self, code: sp.csr_matrix, *, max_iterations: int = _MAX_ITERATIONS) -> None:
        checks, n = code.shape
        if n % DIMENSION or not 0 < checks < n:
            raise ConfigError(
                f"the code must have n a multiple of {DIMENSION} and 0 < n − k < n, not {code.shape}"
            )
        self.code = sp.csr_matrix(code, dtype=np.uint8)
        self.frame_bits = int(n)
        self._decoder = BpDecoder(
            self.code,
            error_rate=0.1,
            max_iter=max_iterations,
            bp_method="product_sum",
            input_vector_type="syndrome",
        )

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
        n, code, decoder = self.frame_bits, self.code, self._decoder
        bob_frames: list[Bits] = []
        alice_frames: list[Bits] = []
        failed = iterations = 0
        frames = x.size // n
        for index in range(frames):
            part = slice(index * n, (index + 1) * n)
            bits = rng.integers(0, 2, n, dtype=np.uint8)
            rotations = bob_rotations(y[part], bits)
            syndrome = _parity(code, bits)

            llrs = np.clip(alice_llrs(x[part], rotations, gain, noise_variance), -_MAX_LLR, _MAX_LLR)
            hard = (llrs < 0).astype(np.uint8)
            decoder.update_channel_probs(1.0 / (1.0 + np.exp(np.abs(llrs))))
            difference = np.asarray(decoder.decode(syndrome ^ _parity(code, hard)), dtype=np.uint8)
            iterations += int(decoder.iter)
            if not decoder.converge:
                failed += 1
                continue
            decoded = hard ^ difference
            seed = rng.integers(0, 2, n + TAG_BITS - 1, dtype=np.uint8)
            if not np.array_equal(
                toeplitz_hash(decoded, seed, TAG_BITS), toeplitz_hash(bits, seed, TAG_BITS)
            ):
                failed += 1
                continue
            bob_frames.append(bits)
            alice_frames.append(decoded)
        return Reconciled(
            bob_key=_joined(bob_frames),
            alice_key=_joined(alice_frames),
            frames=frames,
            failed=failed,
            frame_bits=n,
            syndrome_bits=code.shape[0],
            iterations=iterations,
        )


def _joined(frames: list[Bits]) -> Bits:
    return np.concatenate(frames) if frames else np.zeros(0, dtype=np.uint8)
