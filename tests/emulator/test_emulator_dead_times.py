"""Dead times of the devices: a pair makes no key while it re-locks after its quantum channel changes
and while it re-synchronises after a switch moves to it (the device profile's ``relock_time_s`` and
``resync_time_s`` over the time scale), then comes back by itself. Time here is the emulator's own
clock, moved by ``advance``: nothing waits in real time."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest
from emulator_support import (
    DIRECT_PAIR,
    MADRID_CHANNEL,
    MADRID_PEERS,
    NORTE_PAIR,
    QUINTIN_PAIR,
    drain,
    relock_s,
    resync_s,
)

from sdqkd.emulator.engine import RELOCK_REASON, RESYNC_REASON, Emulator
from sdqkd.emulator.events import Event
from sdqkd.emulator.world import PairState
from sdqkd.topology import Topology

NEW_CHANNEL = MADRID_CHANNEL - 1


def pair(emulator: Emulator, key: tuple[str, str]) -> PairState:
    return next(p for p in emulator.pairs() if p.key == key)


def bits(emulator: Emulator, key: tuple[str, str]) -> float:
    return emulator.keys[key].available_bits


def configure(emulator: Emulator, module_id: str, channel: int, *, enabled: bool = True) -> None:
    emulator.change(
        "module_configured",
        {"module": module_id},
        functools.partial(emulator.world.configure, module_id, MADRID_PEERS[module_id], channel, enabled),
        (module_id,),
    )


def retune_direct_pair(emulator: Emulator, channel: int = NEW_CHANNEL) -> None:
    """Retune Norte–Quintín (transmitter, then receiver), as the controller does through the agents."""
    configure(emulator, "norte-tx", channel)
    configure(emulator, "quintin-rx2", channel)


def link_events(events: list[Event], key: tuple[str, str]) -> list[tuple[str, str]]:
    """(type, reason) of the pair's link events."""
    return [(e.type, e.data["reason"]) for e in events if e.modules == key and e.type.startswith("link_")]


# Re-locking after a retune --------------------------------------------------------------------------


@pytest.mark.parametrize("time_scale", [1.0, 100.0])
def test_a_retuned_pair_makes_no_key_while_it_relocks_then_comes_back_by_itself(
    madrid: Topology, time_scale: float
) -> None:
    emulator = Emulator(madrid, time_scale=time_scale)
    for module_id, peers in MADRID_PEERS.items():
        emulator.world.configure(module_id, peers, MADRID_CHANNEL, enabled=True)
    hold_s = relock_s(emulator)

    async def retune_and_wait() -> list[Event]:
        async with emulator.events.subscribe() as queue:
            retune_direct_pair(emulator)
            held = pair(emulator, DIRECT_PAIR)
            assert (held.active, held.reason, held.rate_bps) == (False, RELOCK_REASON, 0.0)
            emulator.advance(hold_s / 2)
            assert bits(emulator, DIRECT_PAIR) == 0.0
            assert pair(emulator, DIRECT_PAIR).reason == RELOCK_REASON
            emulator.advance(hold_s / 2 + 1.0)
            return drain(queue)

    events = asyncio.run(retune_and_wait())

    back = pair(emulator, DIRECT_PAIR)
    assert (back.active, back.reason) == (True, "")
    assert back.budget is not None
    assert back.budget.quantum_channel == NEW_CHANNEL
    assert bits(emulator, DIRECT_PAIR) == pytest.approx(back.rate_bps * 1.0 * time_scale, rel=1e-9)
    assert link_events(events, DIRECT_PAIR) == [
        ("link_down", "the modules use different quantum channels"),
        ("link_status", RELOCK_REASON),
        ("link_up", ""),
    ]
    assert pair(emulator, NORTE_PAIR).active  # pairs on other channels are left alone


def test_the_relock_counts_from_the_last_module_retuned(emulator: Emulator) -> None:
    hold_s = relock_s(emulator)
    configure(emulator, "norte-tx", NEW_CHANNEL)
    emulator.advance(hold_s / 2)
    configure(emulator, "quintin-rx2", NEW_CHANNEL)

    emulator.advance(0.75 * hold_s)  # past the transmitter's relock, not the receiver's
    assert pair(emulator, DIRECT_PAIR).reason == RELOCK_REASON

    emulator.advance(0.25 * hold_s)
    assert pair(emulator, DIRECT_PAIR).active


def test_a_retuned_switched_transmitter_relocks_with_the_receiver_it_serves(emulator: Emulator) -> None:
    for module_id in ("concepcion-tx", "norte-rx", "quintin-rx"):
        configure(emulator, module_id, NEW_CHANNEL)

    assert pair(emulator, NORTE_PAIR).reason == RELOCK_REASON
    assert pair(emulator, QUINTIN_PAIR).reason == "a switch on the way is connected elsewhere"
    emulator.advance(relock_s(emulator))
    assert pair(emulator, NORTE_PAIR).active


def test_the_first_channel_of_a_module_needs_no_relock(madrid: Topology) -> None:
    emulator = Emulator(madrid)

    async def configure_all() -> list[Event]:
        async with emulator.events.subscribe() as queue:
            for module_id in MADRID_PEERS:
                configure(emulator, module_id, MADRID_CHANNEL)
            return drain(queue)

    events = asyncio.run(configure_all())

    assert pair(emulator, NORTE_PAIR).active
    assert pair(emulator, DIRECT_PAIR).active
    assert [e for e in events if e.data.get("reason") == RELOCK_REASON] == []


def test_reconfiguring_a_module_on_the_same_channel_needs_no_relock(emulator: Emulator) -> None:
    configure(emulator, "quintin-rx2", MADRID_CHANNEL, enabled=False)
    assert pair(emulator, DIRECT_PAIR).reason == "a module is disabled"

    configure(emulator, "quintin-rx2", MADRID_CHANNEL, enabled=True)

    assert pair(emulator, DIRECT_PAIR).active


def test_an_emulator_restarted_from_its_state_file_starts_without_holds(
    madrid: Topology, tmp_path: Path
) -> None:
    state_file = tmp_path / "state.json"
    first = Emulator(madrid, state_file=state_file)
    for module_id in MADRID_PEERS:
        configure(first, module_id, MADRID_CHANNEL)
    retune_direct_pair(first)
    assert pair(first, DIRECT_PAIR).reason == RELOCK_REASON

    second = Emulator(madrid, state_file=state_file)

    assert pair(second, DIRECT_PAIR).active


# Re-synchronising after a switch move ---------------------------------------------------------------


def test_the_pair_a_switch_moves_to_makes_no_key_while_it_resynchronises(emulator: Emulator) -> None:
    hold_s = resync_s(emulator)
    direct_rate_bps = pair(emulator, DIRECT_PAIR).rate_bps

    emulator.change(
        "switch_changed", {}, lambda: emulator.world.set_switch("concepcion-switch", "to-quintin")
    )

    held = pair(emulator, QUINTIN_PAIR)
    assert (held.active, held.reason, held.rate_bps) == (False, RESYNC_REASON, 0.0)
    assert pair(emulator, NORTE_PAIR).reason == "a switch on the way is connected elsewhere"
    assert pair(emulator, DIRECT_PAIR).active  # not behind the switch: no dead time
    emulator.advance(hold_s / 2)
    assert bits(emulator, QUINTIN_PAIR) == 0.0
    assert bits(emulator, DIRECT_PAIR) == pytest.approx(direct_rate_bps * hold_s / 2, rel=1e-9)

    emulator.advance(hold_s / 2 + 1.0)

    assert pair(emulator, QUINTIN_PAIR).active
    assert bits(emulator, QUINTIN_PAIR) == pytest.approx(pair(emulator, QUINTIN_PAIR).rate_bps, rel=1e-9)


def test_switching_back_resynchronises_the_first_receiver_again(emulator: Emulator) -> None:
    emulator.world.set_switch("concepcion-switch", "to-quintin")
    emulator.advance(resync_s(emulator))
    assert pair(emulator, QUINTIN_PAIR).active

    emulator.world.set_switch("concepcion-switch", "to-norte")

    assert pair(emulator, NORTE_PAIR).reason == RESYNC_REASON
    assert not pair(emulator, QUINTIN_PAIR).active
    emulator.advance(resync_s(emulator))
    assert pair(emulator, NORTE_PAIR).active


def test_a_switch_left_where_it_is_causes_no_resync(emulator: Emulator) -> None:
    emulator.world.set_switch("concepcion-switch", "to-norte")

    assert pair(emulator, NORTE_PAIR).active


def test_reconnecting_an_open_switch_resynchronises_its_pair(emulator: Emulator) -> None:
    emulator.world.set_switch("concepcion-switch", None)
    assert pair(emulator, NORTE_PAIR).reason == "a switch on the way is connected elsewhere"

    emulator.world.set_switch("concepcion-switch", "to-norte")

    assert pair(emulator, NORTE_PAIR).reason == RESYNC_REASON
