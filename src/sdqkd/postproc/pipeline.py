"""One block of the GG02 protocol end to end: quadratures, parameter estimation, reverse
reconciliation and privacy amplification, with what each step measured.

A block of N symbols is handled in chunks so that memory stays small at N = 10⁸: the first pass
simulates each chunk from its own seed, discloses a random ``pe_fraction`` of its symbols and adds
up the estimation sums (:class:`~sdqkd.postproc.estimation.Moments`); the channel estimate of the
whole block then gives the reconciliation its t̂ and σ̂² and the code rate ``R = β_target·I_AB(SNR̂)``
per value; the second pass simulates the same chunks again (same seeds, same numbers) and
reconciles their kept values frame by frame (:mod:`sdqkd.postproc.reconciliation`). Values that do
not fill a last frame are not used.

The key length follows Leverrier, Grosshans, Grangier, PRA 81, 062343 (2010), eq. 8, with what the
block measured: per kept symbol ``β̂·I_AB(T̂, ξ̂) − χ_BE(T_min, ξ_max) − Δ_√(n)``, where β̂ is the
code rate over I_AB, Δ_√ is the square-root term of Δ(n) for the n = N − m key symbols, and the
``2·log2(1/ε_PA)`` term and the verification tags come off in :func:`~sdqkd.postproc.privacy.
pa_output_length`. Frames that failed are dropped, so the key scales with ``1 − FER`` exactly as
:func:`sdqkd.physics.evaluate_key_rate` assumes; :func:`predicted_key_bits_per_symbol` is that
formula for the measured β̂ and FER, to hold the pipeline to.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from sdqkd.errors import ConfigError, PhysicsError
from sdqkd.physics import (
    DetectorModel,
    FiniteSizeSecurity,
    evaluate_key_rate,
    mutual_information,
    privacy_amplification_penalty,
)
from sdqkd.postproc.codes import parity_check_matrix
from sdqkd.postproc.decoder import DecodeMethod
from sdqkd.postproc.density import MAX_DESIGN_RATE, MIN_DESIGN_RATE
from sdqkd.postproc.estimation import (
    ChannelEstimate,
    Moments,
    estimate_channel,
    secret_fraction,
    split_for_estimation,
)
from sdqkd.postproc.privacy import MAX_BITS, pa_output_length, toeplitz_hash
from sdqkd.postproc.quadratures import Detection, LinkParameters, Quadratures, simulate_quadratures
from sdqkd.postproc.reconciliation import Reconciled, Reconciler

__all__ = ["BlockResult", "ProtocolSettings", "predicted_key_bits_per_symbol", "run_block"]

Bits = NDArray[np.uint8]
CodeFor = Callable[[int, float], sp.csr_matrix]
"""``(frame bits, rate) → H``: where the pipeline gets its LDPC codes."""

_RATE_STEP = 0.001  # code rates are rounded down to this (designs are cached per rate)


@dataclass(frozen=True)
class ProtocolSettings:
    """How blocks are run.

    Attributes:
        detection, detector: Bob's measurement and whose its noise is.
        block_symbols: N, symbols per block (privacy amplification and the finite-size terms act
            on one block).
        pe_fraction: m/N disclosed for parameter estimation.
        epsilon_pe, epsilon_smooth, epsilon_pa: security parameters (Leverrier 2010).
        frame_bits: LDPC code length (values per frame, a multiple of 8).
        target_efficiency: β the code rate is chosen for, ``R = β·I_AB(SNR̂)`` per value. 0.84 is
            what the project's codes reach at FER ≤ 0.1 on the Madrid links (SNR ≈ 1), where the
            multidimensional channel itself caps β near 0.90 (docs/postproc.md).
        max_iterations: belief-propagation iterations before a frame is dropped.
        decoder: ``"sum-product"`` (exact BP) or ``"min-sum"`` (faster, a little less efficient).
        workers: threads decoding frames in parallel.
        chunk_symbols: symbols simulated at a time (memory, not results).
    """

    detection: Detection = "homodyne"
    detector: DetectorModel = "trusted"
    block_symbols: int = 10_000_000
    pe_fraction: float = 0.5
    epsilon_pe: float = 1e-10
    epsilon_smooth: float = 1e-10
    epsilon_pa: float = 1e-10
    frame_bits: int = 1 << 16
    target_efficiency: float = 0.84
    max_iterations: int = 100
    decoder: DecodeMethod = "sum-product"
    workers: int = 1
    chunk_symbols: int = 1 << 20

    def __post_init__(self) -> None:
        if self.detection not in ("homodyne", "heterodyne"):
            raise ConfigError(f"detection must be homodyne or heterodyne, not {self.detection!r}")
        if not 0 < self.target_efficiency <= 1:
            raise ConfigError(f"target efficiency β must be in (0, 1], not {self.target_efficiency}")
        if self.frame_bits < 64 or self.frame_bits % 8:
            raise ConfigError(f"frame bits must be a multiple of 8 and at least 64, not {self.frame_bits}")
        if self.chunk_symbols < 1 or self.max_iterations < 1:
            raise ConfigError("chunk_symbols and max_iterations must be positive")
        if self.key_values > MAX_BITS:
            raise ConfigError(
                f"a block of {self.block_symbols} symbols keeps {self.key_values} values, over the "
                f"{MAX_BITS} bits privacy amplification hashes at once; use a smaller block"
            )
        self.security  # validates N, m/N and the ε  # noqa: B018

    @property
    def security(self) -> FiniteSizeSecurity:
        try:
            return FiniteSizeSecurity(
                block_size=float(self.block_symbols),
                pe_fraction=self.pe_fraction,
                epsilon_pe=self.epsilon_pe,
                epsilon_smooth=self.epsilon_smooth,
                epsilon_pa=self.epsilon_pa,
            )
        except PhysicsError as error:
            raise ConfigError(str(error)) from error

    @property
    def values_per_symbol(self) -> int:
        """Real values (quadratures) Bob measures per symbol: 1 homodyne, 2 heterodyne."""
        return 1 if self.detection == "homodyne" else 2

    @property
    def key_values(self) -> int:
        """Values at most left for the key: ``(N − m)·values per symbol``."""
        return round(self.block_symbols * (1 - self.pe_fraction)) * self.values_per_symbol


@dataclass(frozen=True)
class BlockResult:
    """What one block measured and made.

    Attributes:
        symbols: N; estimate: the channel estimate of its disclosed symbols.
        code_rate: R of the code used (None when aborted before reconciliation).
        reconciled: the frames (None when aborted before reconciliation).
        mutual_information: I_AB(T̂, ξ̂) in bits per symbol.
        efficiency: measured β = R·values per symbol / I_AB (None before reconciliation).
        secret_bits_per_kept_symbol: the bracket of eq. 8 with the measured β (0 → no key).
        key_bits: ℓ, the final key length; alice_key, bob_key: the keys (equal bits).
        abort: why the block made no key (None when it made one).
        seconds: time per step (simulate, estimate, reconcile, amplify).
    """

    symbols: int
    estimate: ChannelEstimate
    code_rate: float | None
    reconciled: Reconciled | None
    mutual_information: float
    efficiency: float | None
    secret_bits_per_kept_symbol: float
    key_bits: int
    alice_key: Bits = field(repr=False)
    bob_key: Bits = field(repr=False)
    abort: str | None
    seconds: dict[str, float]

    @property
    def frame_error_rate(self) -> float | None:
        return None if self.reconciled is None else self.reconciled.frame_error_rate

    @property
    def key_bits_per_symbol(self) -> float:
        """ℓ/N: final key bits per exchanged symbol."""
        return self.key_bits / self.symbols


def _chunk_seeds(
    settings: ProtocolSettings, root: np.random.SeedSequence
) -> list[tuple[int, np.random.SeedSequence]]:
    sizes = []
    left = settings.block_symbols
    while left > 0:
        sizes.append(min(left, settings.chunk_symbols))
        left -= sizes[-1]
    return list(zip(sizes, root.spawn(len(sizes)), strict=True))


def _chunk(
    link: LinkParameters, settings: ProtocolSettings, size: int, seed: np.random.SeedSequence
) -> tuple[Quadratures, Quadratures]:
    simulate_seed, disclose_seed = seed.spawn(2)
    quadratures = simulate_quadratures(link, size, settings.detection, np.random.default_rng(simulate_seed))
    return split_for_estimation(quadratures, settings.pe_fraction, np.random.default_rng(disclose_seed))


def _default_code(frame_bits: int, rate: float) -> sp.csr_matrix:
    return parity_check_matrix(frame_bits, rate, seed=0)


def _code_rate(i_ab_per_value: float, target: float) -> float:
    return round(math.floor(target * i_ab_per_value / _RATE_STEP) * _RATE_STEP, 3)


def run_block(
    link: LinkParameters,
    settings: ProtocolSettings,
    *,
    seed: int | np.random.SeedSequence | None = None,
    code_for: CodeFor | None = None,
) -> BlockResult:
    """Run one block of ``settings.block_symbols`` symbols over ``link``.

    Args:
        link: the channel and Bob's detector (the estimate uses the same η, v_el as calibration).
        settings: block size, security parameters, code length and target β.
        seed: reproduces the block exactly; ``None`` draws fresh entropy from the operating system
            (what a key-producing run uses).
        code_for: ``(n, R) → H``; the default builds the project's LDPC codes
            (:func:`sdqkd.postproc.codes.parity_check_matrix`).
    """
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    chunk_root, reconcile_root, amplify_root = root.spawn(3)
    chunks = _chunk_seeds(settings, chunk_root)
    seconds = {"simulate": 0.0, "estimate": 0.0, "reconcile": 0.0, "amplify": 0.0}

    started = time.perf_counter()
    moments: Moments | None = None
    for size, chunk_seed in chunks:
        disclosed, _ = _chunk(link, settings, size, chunk_seed)
        part = Moments.of(disclosed)
        moments = part if moments is None else moments + part
    assert moments is not None
    seconds["simulate"] += time.perf_counter() - started
    started = time.perf_counter()
    estimate = estimate_channel(
        moments,
        modulation_variance_snu=link.modulation_variance_snu,
        efficiency=link.efficiency,
        electronic_noise_snu=link.electronic_noise_snu,
        epsilon_pe=settings.epsilon_pe,
        detector=settings.detector,
    )
    seconds["estimate"] = time.perf_counter() - started
    values = settings.values_per_symbol
    i_ab = 0.0
    if estimate.proven and math.isfinite(estimate.excess_noise_snu):
        i_ab = float(
            mutual_information(
                estimate.modulation_variance_snu,
                min(max(estimate.transmittance, 0.0), 1.0),
                max(estimate.excess_noise_snu, 0.0),
                estimate.efficiency,
                estimate.electronic_noise_snu,
                settings.detection,
            )
        )
    empty = np.zeros(0, dtype=np.uint8)

    def aborted(
        reason: str,
        reconciled: Reconciled | None = None,
        efficiency: float | None = None,
        secret: float = 0.0,
    ) -> BlockResult:
        return BlockResult(
            symbols=settings.block_symbols,
            estimate=estimate,
            code_rate=None if reconciled is None else reconciled.code_rate,
            reconciled=reconciled,
            mutual_information=i_ab,
            efficiency=efficiency,
            secret_bits_per_kept_symbol=secret,
            key_bits=0,
            alice_key=empty,
            bob_key=empty,
            abort=reason,
            seconds=seconds,
        )

    if i_ab <= 0:
        return aborted("parameter estimation proves no channel (T_min ≤ 0): no key from this block")
    rate = _code_rate(i_ab / values, settings.target_efficiency)
    if not MIN_DESIGN_RATE <= rate <= MAX_DESIGN_RATE:
        return aborted(
            f"the code rate this SNR needs ({rate:.3f}) is outside the codes' "
            f"{MIN_DESIGN_RATE}–{MAX_DESIGN_RATE}"
        )
    code = (code_for or _default_code)(settings.frame_bits, rate)
    reconciler = Reconciler(
        code, max_iterations=settings.max_iterations, method=settings.decoder, workers=settings.workers
    )
    rng = np.random.default_rng(reconcile_root)

    reconciled: Reconciled | None = None
    alice_buffer: list[NDArray[np.float64]] = []
    bob_buffer: list[NDArray[np.float64]] = []
    for size, chunk_seed in chunks:
        started = time.perf_counter()
        _, kept = _chunk(link, settings, size, chunk_seed)
        x, y = kept.correlated()
        alice_buffer.append(x)
        bob_buffer.append(y)
        seconds["simulate"] += time.perf_counter() - started
        held = sum(part.size for part in alice_buffer)
        if held < reconciler.frame_bits:
            continue
        started = time.perf_counter()
        xs, ys = np.concatenate(alice_buffer), np.concatenate(bob_buffer)
        usable = held - held % reconciler.frame_bits
        run = reconciler.run(
            xs[:usable], ys[:usable], gain=estimate.gain, noise_variance=estimate.noise_variance, rng=rng
        )
        reconciled = run if reconciled is None else reconciled + run
        alice_buffer, bob_buffer = [xs[usable:]], [ys[usable:]]
        seconds["reconcile"] += time.perf_counter() - started
    if reconciled is None or reconciled.kept_frames == 0:
        return aborted("no frame was reconciled", reconciled)

    beta = min(1.0, reconciled.code_rate * values / i_ab)
    security = settings.security
    root_penalty = float(privacy_amplification_penalty(security.key_symbols, security)) - (
        2.0 / security.key_symbols
    ) * math.log2(1.0 / settings.epsilon_pa)
    secret = secret_fraction(
        estimate, reconciliation_efficiency=beta, key_fraction=1.0, penalty_bits=root_penalty
    )
    started = time.perf_counter()
    length = pa_output_length(
        int(reconciled.bob_key.size), secret / values, settings.epsilon_pa, reconciled.leaked_bits
    )
    if length == 0:
        return aborted(
            "the measured channel leaves no secret key after reconciliation", reconciled, beta, secret
        )
    pa_seed = np.random.default_rng(amplify_root).integers(
        0, 2, reconciled.bob_key.size + length - 1, dtype=np.uint8
    )
    bob_key = toeplitz_hash(reconciled.bob_key, pa_seed, length)
    alice_key = toeplitz_hash(reconciled.alice_key, pa_seed, length)
    seconds["amplify"] = time.perf_counter() - started
    return BlockResult(
        symbols=settings.block_symbols,
        estimate=estimate,
        code_rate=reconciled.code_rate,
        reconciled=reconciled,
        mutual_information=i_ab,
        efficiency=beta,
        secret_bits_per_kept_symbol=secret,
        key_bits=length,
        alice_key=alice_key,
        bob_key=bob_key,
        abort=None,
        seconds=seconds,
    )


def predicted_key_bits_per_symbol(
    link: LinkParameters, settings: ProtocolSettings, *, efficiency: float, frame_error_rate: float
) -> float:
    """The finite-size formula's key per symbol (:func:`sdqkd.physics.evaluate_key_rate`, with
    ``(1 − FER)`` applied) for the link's true channel and the given β and FER."""
    result = evaluate_key_rate(
        transmittance=link.transmittance,
        excess_noise_snu=link.excess_noise_snu,
        modulation_variance_snu=link.modulation_variance_snu,
        efficiency=link.efficiency,
        electronic_noise_snu=link.electronic_noise_snu,
        reconciliation_efficiency=efficiency,
        symbol_rate_bd=1.0,
        frame_error_rate=frame_error_rate,
        detection=settings.detection,
        detector=settings.detector,
        finite_size=settings.security,
    )
    return float(result.secret_key_rate_bps)
