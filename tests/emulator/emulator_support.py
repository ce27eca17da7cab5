"""Names and helpers shared by the emulator tests (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sdqkd.emulator.engine import Emulator
from sdqkd.emulator.events import Event
from sdqkd.emulator.world import World
from sdqkd.topology import Topology

#: The quantum channel every Madrid module is tuned to (DWDM ch 59, 1530.3 nm).
MADRID_CHANNEL = 59

#: Module → peers: the switched transmitter at Concepción names both receivers it can reach.
MADRID_PEERS: dict[str, list[str]] = {
    "concepcion-tx": ["norte-rx", "quintin-rx"],
    "norte-rx": ["concepcion-tx"],
    "quintin-rx": ["concepcion-tx"],
    "norte-tx": ["quintin-rx2"],
    "quintin-rx2": ["norte-tx"],
}

NORTE_PAIR = ("concepcion-tx", "norte-rx")
QUINTIN_PAIR = ("concepcion-tx", "quintin-rx")
DIRECT_PAIR = ("norte-tx", "quintin-rx2")

#: The ``madrid_with`` fixture: Madrid built after an edit of its raw topology dictionary.
MadridWith = Callable[[Callable[[dict[str, Any]], None]], Topology]


def configure_madrid(world: World) -> None:
    """Configure every Madrid module: peers as :data:`MADRID_PEERS`, channel 59, enabled."""
    for module_id, peers in MADRID_PEERS.items():
        world.configure(module_id, peers, MADRID_CHANNEL, enabled=True)


def relock_s(emulator: Emulator) -> float:
    """Real seconds a Madrid pair makes no key after its quantum channel is retuned."""
    profile = emulator.world.topology.profile(emulator.world.module("concepcion-tx").profile)
    return profile.relock_time_s / emulator.time_scale


def resync_s(emulator: Emulator) -> float:
    """Real seconds a Madrid pair makes no key after the switch moves to it."""
    profile = emulator.world.topology.profile(emulator.world.module("concepcion-tx").profile)
    return profile.resync_time_s / emulator.time_scale


def fibre_of(raw: dict[str, Any], fibre_id: str) -> dict[str, Any]:
    """The raw dictionary of one fibre of a topology file."""
    return next(f for f in raw["fibres"] if f["id"] == fibre_id)


def drain(queue: asyncio.Queue[Event]) -> list[Event]:
    """Every event waiting in a subscriber's queue, oldest first."""
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events
