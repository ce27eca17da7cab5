"""The ``protocol`` engine: a pair's key comes only from post-processing blocks that succeed, β and
FER are recorded, a pair that goes down stops, and stopping leaves no worker thread.

The pipeline is the real one on small blocks (2¹⁸ symbols) over a short, quiet Norte–Quintín span
(T ≈ 0.93, no classical channels), where a block keeps key with the test's own LDPC code at β 0.7;
the code is built here so the tests do not depend on the project's default codes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from emulator_support import DIRECT_PAIR, MADRID_CHANNEL, NORTE_PAIR, MadridWith, configure_madrid, fibre_of

from polling import wait_for_async
from sdqkd.emulator.app import _pair_json
from sdqkd.emulator.block_keys import BlockKeys
from sdqkd.emulator.engine import Emulator
from sdqkd.emulator.metrics import EmulatorCollector
from sdqkd.emulator.protocol import ProtocolEngine
from sdqkd.errors import ConfigError
from sdqkd.postproc.pipeline import BlockResult, ProtocolSettings, run_block
from sdqkd.postproc.quadratures import LinkParameters
from sdqkd.topology import Topology

BLOCK_SYMBOLS = 1 << 18
WAIT_S = 60.0


def test_code(frame_bits: int, rate: float) -> sp.csr_matrix:
    """A random LDPC code of column weight 3 (good enough at β 0.7 on a high-SNR channel)."""
    checks = max(1, round(frame_bits * (1 - rate)))
    rng = np.random.default_rng(1)
    columns = np.repeat(np.arange(frame_bits), 3)
    rows = rng.permutation(np.arange(columns.size) % checks)
    ones = np.ones(columns.size, dtype=np.uint8)
    matrix = sp.coo_matrix((ones, (rows, columns)), shape=(checks, frame_bits)).tocsr()
    matrix.data[:] = 1
    return matrix


test_code.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def small_blocks(link: LinkParameters, settings: ProtocolSettings) -> BlockResult:
    """The pipeline with the test's code, short frames and β 0.7, fresh entropy."""
    settings = dataclasses.replace(settings, frame_bits=8192, target_efficiency=0.7)
    return run_block(link, settings, seed=None, code_for=test_code)


class Gate:
    """A runner that runs blocks only while open (the test decides when a block may end)."""

    def __init__(self, runner: Callable[[LinkParameters, ProtocolSettings], BlockResult]) -> None:
        self.runner = runner
        self.open = threading.Event()
        self.started = 0

    def __call__(self, link: LinkParameters, settings: ProtocolSettings) -> BlockResult:
        self.started += 1
        self.open.wait(timeout=WAIT_S)
        return self.runner(link, settings)


@pytest.fixture(scope="module")
def quiet_madrid(madrid_with: MadridWith) -> Topology:
    """Madrid with a 1.5 km, 0.2 dB/km Norte–Quintín span and no classical channels on it."""

    def edit(raw: dict[str, Any]) -> None:
        span = fibre_of(raw, "norte-quintin")
        span.update(length_km=1.5, attenuation_db_per_km=0.2, extra_loss_db=0.0, classical_channels=[])

    return madrid_with(edit)


def direct_only(topology: Topology, runner: Any, *, norte_too: bool = False) -> Emulator:
    """A protocol emulator with the direct Norte→Quintín pair configured (and Concepción→Norte)."""
    emulator = Emulator(
        topology, engine="protocol", protocol_block_symbols=BLOCK_SYMBOLS, protocol_runner=runner
    )
    pairs = [DIRECT_PAIR, NORTE_PAIR] if norte_too else [DIRECT_PAIR]
    for transmitter, receiver in pairs:
        emulator.world.configure(transmitter, [receiver], MADRID_CHANNEL, enabled=True)
        emulator.world.configure(receiver, [transmitter], MADRID_CHANNEL, enabled=True)
    emulator.refresh()
    return emulator


def protocol_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("sdqkd-protocol")]


def test_a_pairs_keys_appear_only_after_a_block_succeeds(quiet_madrid: Topology) -> None:
    gate = Gate(small_blocks)
    emulator = direct_only(quiet_madrid, gate)
    keys = emulator.keys[DIRECT_PAIR]
    assert isinstance(keys, BlockKeys)

    async def scenario() -> None:
        emulator.start()
        try:
            await wait_for_async(lambda: gate.started, lambda n: n >= 1, WAIT_S, "a block started")
            await asyncio.sleep(0.3)  # longer than a block stands for: the key waits for the block
            assert keys.available_bits == 0
            gate.open.set()
            figures = emulator.protocol.figures[DIRECT_PAIR]  # type: ignore[union-attr]
            await wait_for_async(
                lambda: figures.blocks - figures.aborted, lambda n: n >= 1, WAIT_S, "a block with key"
            )
        finally:
            await emulator.stop()

    asyncio.run(scenario())

    figures = emulator.protocol.figures[DIRECT_PAIR]  # type: ignore[union-attr]
    assert keys.available_bits > 0
    assert keys.available_bits <= figures.key_bits
    assert figures.efficiency is not None
    assert 0.6 < figures.efficiency <= 0.7
    assert figures.frame_error_rate is not None
    assert 0.0 <= figures.frame_error_rate < 1.0
    taken = keys.take(DIRECT_PAIR[0], "norte", 2, 256)
    assert keys.claim(DIRECT_PAIR[1], "norte", [key_id for key_id, _ in taken]) == taken


def test_a_block_that_makes_no_key_is_counted_as_aborted_and_delivers_nothing(
    quiet_madrid: Topology,
) -> None:
    # Concepción→Norte (8.1 km, 17 classical channels) keeps no key at 2¹⁸ symbols: finite size.
    emulator = direct_only(quiet_madrid, small_blocks, norte_too=True)

    async def scenario() -> None:
        emulator.start()
        try:
            figures = emulator.protocol.figures_of(NORTE_PAIR)  # type: ignore[union-attr]
            await wait_for_async(lambda: figures.aborted, lambda n: n >= 1, WAIT_S, "an aborted block")
        finally:
            await emulator.stop()

    asyncio.run(scenario())

    figures = emulator.protocol.figures[NORTE_PAIR]  # type: ignore[union-attr]
    assert figures.last_abort is not None
    assert emulator.keys[NORTE_PAIR].available_bits == 0
    assert figures.key_bits == 0


def test_a_pair_that_goes_down_stops_running_blocks_and_stop_leaves_no_thread(
    quiet_madrid: Topology,
) -> None:
    gate = Gate(small_blocks)
    gate.open.set()
    emulator = direct_only(quiet_madrid, gate)
    figures = emulator.protocol.figures_of(DIRECT_PAIR)  # type: ignore[union-attr]

    async def scenario() -> tuple[int, bool, int]:
        emulator.start()
        try:
            await wait_for_async(lambda: figures.blocks, lambda n: n >= 1, WAIT_S, "a block")
            emulator.change("fibre_cut", {}, lambda: emulator.world.cut_fibre("norte-quintin"))
            await wait_for_async(lambda: figures.running_since, lambda s: s is None, WAIT_S, "stopped")
            started = gate.started
            await asyncio.sleep(0.5)  # two blocks' link time: a running pair would have started more
            return started, figures.running_since is None, gate.started
        finally:
            await emulator.stop()

    started, stopped, later = asyncio.run(scenario())

    assert stopped
    assert later == started
    assert protocol_threads() == []


def test_stop_waits_for_a_block_under_way(quiet_madrid: Topology) -> None:
    gate = Gate(small_blocks)
    emulator = direct_only(quiet_madrid, gate)

    async def scenario() -> None:
        emulator.start()
        await wait_for_async(lambda: gate.started, lambda n: n >= 1, WAIT_S, "a block started")
        assert protocol_threads() != []
        gate.open.set()
        await emulator.stop()

    asyncio.run(scenario())

    assert protocol_threads() == []


def test_the_figures_reach_performance_links_and_metrics(quiet_madrid: Topology) -> None:
    emulator = direct_only(quiet_madrid, small_blocks)

    async def scenario() -> None:
        emulator.start()
        try:
            figures = emulator.protocol.figures_of(DIRECT_PAIR)  # type: ignore[union-attr]
            await wait_for_async(
                lambda: figures.blocks - figures.aborted, lambda n: n >= 1, WAIT_S, "a block with key"
            )
        finally:
            await emulator.stop()

    asyncio.run(scenario())
    pair = emulator.pair_now(DIRECT_PAIR)
    assert pair is not None
    figures = _pair_json(emulator, pair)["protocol"]  # what /api/v1/links and performance carry

    assert figures["block_symbols"] == BLOCK_SYMBOLS
    assert figures["block_link_s"] == pytest.approx(BLOCK_SYMBOLS / 2e6)  # madrid-2018: 2 MBd
    assert figures["key_bits"] > 0
    assert figures["key_rate_real_bps"] > 0
    assert figures["key_rate_world_bps"] == figures["key_rate_real_bps"]
    assert figures["running"] is False
    metrics = {m.name: m for m in EmulatorCollector(emulator).collect()}
    efficiency = metrics["sdqkd_link_protocol_efficiency"].samples
    assert [s.value for s in efficiency if s.labels["transmitter"] == DIRECT_PAIR[0]] == [
        figures["efficiency"]
    ]
    assert "sdqkd_link_protocol_frame_error_rate" in metrics
    assert "sdqkd_link_protocol_key_bits" in metrics


def test_the_rate_engine_keeps_its_reservoir_and_reports_no_protocol_figures(madrid: Topology) -> None:
    emulator = Emulator(madrid)
    configure_madrid(emulator.world)

    assert emulator.protocol is None
    assert emulator.engine == "rate"
    assert "protocol" not in _pair_json(emulator, emulator.pairs()[0])


def test_an_unknown_engine_or_a_block_too_small_is_refused(madrid: Topology) -> None:
    with pytest.raises(ConfigError, match="engine"):
        Emulator(madrid, engine="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="protocol-block-symbols"):
        Emulator(madrid, engine="protocol", protocol_block_symbols=10)


def test_the_default_block_is_2_to_the_23_symbols(madrid: Topology) -> None:
    engine = Emulator(madrid, engine="protocol").protocol

    assert isinstance(engine, ProtocolEngine)
    assert engine.block_symbols == 1 << 23
