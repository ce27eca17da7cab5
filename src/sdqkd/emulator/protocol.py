"""The ``protocol`` engine: each active pair's key comes out of the CV-QKD post-processing pipeline.

For every active pair the engine runs blocks of GG02 on simulated quadratures
(:func:`sdqkd.postproc.pipeline.run_block`) over the pair's channel *now* — the transmittance and the
total excess noise (device plus Raman) of its link budget, with its device profile's modulation,
detector and security parameters — and delivers each block's final key to the pair's
:class:`~sdqkd.emulator.block_keys.BlockKeys`: Alice's to the transmitter, Bob's to the receiver.

Block size. A block is ``block_symbols`` symbols (default 2²³ ≈ 8.4·10⁶: the smallest power of two
at which the finite-size key of every Madrid link is clearly positive at the measured β = 0.84,
≈ 0.004–0.010 bit/symbol; at 2²⁰ it is not, and the profiles' own 10⁸ would take minutes of
computing per block), so the security terms are those of that block size, not the profile's.

Pacing. A block of N symbols stands for ``N / (symbol_rate · time_scale)`` real seconds of the link;
its key is delivered no sooner than that after the block started, so a pair never makes key faster
than its link would. When computing a block takes longer, the pair runs slower than real time: that
is the rate the protocol achieves on this machine, and the figures report it
(:class:`ProtocolFigures`).

Blocks run in worker threads (numpy, scipy and the LDPC decoder release the GIL), at most
``workers`` at a time; everything else — reading the channel, delivering the key, the figures —
happens on the event loop's thread. A pair's channel is read at the start of each block, so a change
applies from the next block; a pair that stops being active stops at once (a block under way is
discarded). :meth:`ProtocolEngine.stop` waits for blocks under way to end, so no thread outlives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sdqkd.emulator.block_keys import BlockKeys
from sdqkd.errors import ConfigError, SdqkdError
from sdqkd.postproc.pipeline import BlockResult, ProtocolSettings, run_block
from sdqkd.postproc.profiles import link_parameters, protocol_settings
from sdqkd.postproc.quadratures import LinkParameters
from sdqkd.topology.models import DeviceProfile

if TYPE_CHECKING:
    from sdqkd.emulator.engine import Emulator

__all__ = [
    "DEFAULT_BLOCK_SYMBOLS",
    "BlockRunner",
    "EngineKind",
    "ProtocolEngine",
    "ProtocolFigures",
]

log = logging.getLogger(__name__)

EngineKind = Literal["rate", "protocol"]
"""How the emulated pairs make key: at the physics' rate (``rate``, the default) or by running the
post-processing pipeline (``protocol``)."""

DEFAULT_BLOCK_SYMBOLS = 1 << 23
"""Symbols per block of the ``protocol`` engine (see the module docstring)."""

BlockRunner = Callable[[LinkParameters, ProtocolSettings], BlockResult]
"""Runs one block (default: :func:`~sdqkd.postproc.pipeline.run_block` with fresh entropy)."""

_IDLE_S = 0.05  # how often a pair whose buffer is full looks again


def _run_block(link: LinkParameters, settings: ProtocolSettings) -> BlockResult:
    return run_block(link, settings, seed=None)  # None: fresh entropy from the operating system


def _wipe_discarded(future: Future[BlockResult]) -> None:
    if not future.cancelled() and future.exception() is None:
        result = future.result()
        result.alice_key.fill(0)
        result.bob_key.fill(0)


@dataclass
class ProtocolFigures:
    """What a pair's blocks measured, since the emulator started.

    Attributes:
        block_symbols: N, symbols per block.
        block_link_s: real seconds a block stands for, ``N / (symbol_rate · time_scale)``.
        blocks: blocks run to the end; aborted: those of them that made no key (``last_abort``: why).
        efficiency, frame_error_rate, snr: β, FER and the estimated SNR of the last block that
            reached reconciliation (None before one has).
        efficiency_sum, efficiency_blocks: for the mean β over those blocks.
        frames, failed_frames: LDPC frames attempted and dropped, over all blocks (the running FER).
        key_bits: final key bits the blocks made (delivered to the pair's buffer, or dropped by a
            full one).
        compute_s: real seconds spent computing blocks; last_compute_s: the last block's.
        running_s: real seconds the pair has been running blocks (while active), not counting the
            current run (``running_since``).
        error: why the pair stopped running blocks, when a block failed (None otherwise).
    """

    block_symbols: int
    block_link_s: float
    blocks: int = 0
    aborted: int = 0
    last_abort: str | None = None
    efficiency: float | None = None
    frame_error_rate: float | None = None
    snr: float | None = None
    efficiency_sum: float = 0.0
    efficiency_blocks: int = 0
    frames: int = 0
    failed_frames: int = 0
    key_bits: int = 0
    compute_s: float = 0.0
    last_compute_s: float | None = None
    running_s: float = 0.0
    running_since: float | None = field(default=None, repr=False)
    error: str | None = None

    def record(self, result: BlockResult, compute_s: float) -> None:
        """Add one finished block."""
        self.blocks += 1
        self.compute_s += compute_s
        self.last_compute_s = compute_s
        if result.abort is not None:
            self.aborted += 1
            self.last_abort = result.abort
        self.key_bits += result.key_bits
        self.snr = float(result.estimate.snr)
        if result.reconciled is not None:
            self.frames += result.reconciled.frames
            self.failed_frames += result.reconciled.failed
            self.frame_error_rate = result.reconciled.frame_error_rate
        if result.efficiency is not None:
            self.efficiency = result.efficiency
            self.efficiency_sum += result.efficiency
            self.efficiency_blocks += 1

    def running_seconds(self, now_s: float | None = None) -> float:
        """Real seconds the pair has run blocks, the current run included."""
        if self.running_since is None:
            return self.running_s
        return self.running_s + ((time.monotonic() if now_s is None else now_s) - self.running_since)

    def as_json(self, time_scale: float) -> dict[str, Any]:
        """The figures as the management API reports them (``performance.protocol``)."""
        running_s = self.running_seconds()
        per_real_s = self.key_bits / running_s if running_s > 0 else 0.0
        realtime = min(1.0, self.block_link_s / self.last_compute_s) if self.last_compute_s else None
        return {
            "block_symbols": self.block_symbols,
            "block_link_s": self.block_link_s,
            "blocks": self.blocks,
            "aborted": self.aborted,
            "last_abort": self.last_abort,
            "efficiency": self.efficiency,
            "mean_efficiency": (
                self.efficiency_sum / self.efficiency_blocks if self.efficiency_blocks else None
            ),
            "frame_error_rate": self.frame_error_rate,
            "mean_frame_error_rate": self.failed_frames / self.frames if self.frames else None,
            "snr": self.snr,
            "key_bits": self.key_bits,
            "running_s": running_s,
            "key_rate_real_bps": per_real_s,
            "key_rate_world_bps": per_real_s / time_scale,
            "last_compute_s": self.last_compute_s,
            "realtime_fraction": realtime,
            "running": self.running_since is not None,
            "error": self.error,
        }


class ProtocolEngine:
    """Runs the post-processing pipeline for every active pair of an emulator.

    Args:
        emulator: the emulator whose pairs it runs (its ``keys`` are :class:`BlockKeys`).
        block_symbols: N, symbols per block.
        runner: runs one block (tests pass one with their own codes).
        workers: blocks computed at once (default: the topology's QKD links, at most the CPUs).

    Raises:
        ConfigError: ``block_symbols`` makes no valid block for a profile of the topology.
    """

    def __init__(
        self,
        emulator: Emulator,
        block_symbols: int = DEFAULT_BLOCK_SYMBOLS,
        *,
        runner: BlockRunner | None = None,
        workers: int | None = None,
    ) -> None:
        self.emulator = emulator
        self.block_symbols = block_symbols
        self.runner = runner or _run_block
        topology = emulator.world.topology
        self.workers = workers or max(1, min(len(topology.qkd_links), os.cpu_count() or 1))
        self._settings: dict[str, ProtocolSettings] = {}
        for profile_id in sorted({module.profile for module in topology.qkd_modules}):
            profile = topology.profile(profile_id)
            try:
                settings = protocol_settings(profile, block_symbols=block_symbols)
            except SdqkdError as exc:
                raise ConfigError(
                    f"--protocol-block-symbols {block_symbols} for profile {profile.id!r}: {exc}"
                ) from exc
            if settings.key_values < settings.frame_bits:
                raise ConfigError(
                    f"--protocol-block-symbols {block_symbols}: a block keeps {settings.key_values} "
                    f"values, fewer than one LDPC frame of {settings.frame_bits}"
                )
            self._settings[profile.id] = settings
        self.figures: dict[tuple[str, str], ProtocolFigures] = {}
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._executor: ThreadPoolExecutor | None = None

    def _profile(self, key: tuple[str, str]) -> DeviceProfile:
        world = self.emulator.world
        return world.topology.profile(world.module(key[0]).profile)

    def _block_link_s(self, profile: DeviceProfile) -> float:
        return self.block_symbols / (profile.symbol_rate_bd * self.emulator.time_scale)

    def figures_of(self, key: tuple[str, str]) -> ProtocolFigures:
        """The pair's figures (zero before its first block)."""
        found = self.figures.get(key)
        if found is None:
            found = ProtocolFigures(self.block_symbols, self._block_link_s(self._profile(key)))
            self.figures[key] = found
        return found

    def sync(self) -> None:
        """Run blocks for the active pairs and stop the others (on the event loop)."""
        active = {pair.key for pair in self.emulator.pairs() if pair.active and pair.budget is not None}
        for key in set(self._tasks) - active:
            self._tasks.pop(key).cancel()
        for key in active - set(self._tasks):
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="sdqkd-protocol")
            self._tasks[key] = asyncio.get_running_loop().create_task(
                self._run_pair(key), name=f"sdqkd-protocol-{key[0]}-{key[1]}"
            )

    async def _run_pair(self, key: tuple[str, str]) -> None:
        """Run the pair's blocks, one after the other, paced to its link, until cancelled."""
        figures = self.figures_of(key)
        figures.running_since = time.monotonic()
        try:
            while True:
                keys = self.emulator.keys[key]
                assert isinstance(keys, BlockKeys)
                if keys.full:
                    await asyncio.sleep(_IDLE_S)
                    continue
                await self._one_block(key, keys, figures)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # kept in the figures and logged, not swallowed
            figures.error = f"{type(exc).__name__}: {exc}"
            log.error("protocol engine: pair %s-%s stopped: %s", key[0], key[1], figures.error)
        finally:
            figures.running_s = figures.running_seconds()
            figures.running_since = None

    async def _one_block(self, key: tuple[str, str], keys: BlockKeys, figures: ProtocolFigures) -> None:
        pair = self.emulator.pair_now(key)
        if pair is None or not pair.active or pair.budget is None:
            await asyncio.sleep(_IDLE_S)  # gone since the last tick: sync() stops it at the next
            return
        profile = self._profile(key)
        link = link_parameters(profile, pair.budget.transmittance, pair.budget.total_excess_noise_snu)
        settings = self._settings[profile.id]
        assert self._executor is not None
        started = time.monotonic()
        future = self._executor.submit(self.runner, link, settings)
        try:
            result = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            future.add_done_callback(_wipe_discarded)  # the pair stopped: its block's key is dropped
            raise
        try:
            compute_s = time.monotonic() - started
            figures.block_link_s = self._block_link_s(profile)
            # pacing: the block's key exists once the link has sent its symbols
            await asyncio.sleep(max(0.0, figures.block_link_s - compute_s))
            figures.record(result, compute_s)
            if result.abort is None:
                keys.deliver(result.alice_key, result.bob_key)
        finally:
            result.alice_key.fill(0)
            result.bob_key.fill(0)

    async def stop(self) -> None:
        """Stop every pair and wait for blocks under way to end (no worker thread is left)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._executor is not None:
            # blocks under way cannot be interrupted: wait for them (at most one block's compute)
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
