"""The emulator: the world, the key each pair makes, and the events, advanced in (scaled) time.

Key rates are recomputed from the physics (``sdqkd.planning.link_budget``) whenever the world
changes; the clock loop adds ``rate × Δt × time_scale`` secret bits to every active pair every
:data:`TICK_S`, so a change shows in the key flow within one tick. State changes are written to a
state file (when given) so a restarted emulator resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sdqkd.emulator.events import EventBroker
from sdqkd.emulator.keys import PairKeys
from sdqkd.emulator.world import PairState, World
from sdqkd.errors import ConfigError
from sdqkd.topology.models import Topology

__all__ = ["TICK_S", "Emulator", "KeyLimits"]

log = logging.getLogger(__name__)

TICK_S = 0.05
_T = TypeVar("_T")


def _transition(before: PairState | None, after: PairState) -> str | None:
    """The event a pair's change makes: ``link_up``, ``link_down``, ``rate`` (an active pair's key
    rate changed), ``link_status`` (an inactive pair's reason changed), or None."""
    was_active = before is not None and before.active
    if after.active and not was_active:
        return "link_up"
    if not after.active and (before is None or was_active):
        return "link_down"
    assert before is not None
    if after.active and abs(before.rate_bps - after.rate_bps) > 1e-9:
        return "rate"
    if not after.active and before.reason != after.reason:
        return "link_status"
    return None


class KeyLimits:
    """What the emulated devices' ETSI 014 interface offers (ETSI GS QKD 014 §6.1 status fields)."""

    key_size_bits = 256
    min_key_size_bits = 64
    max_key_size_bits = 8192
    max_keys_per_request = 256
    buffer_keys = 100_000  # device buffer, in keys of the default size


class Emulator:
    """An emulated network of fibres, classical channels, switches and CV-QKD module pairs.

    Args:
        topology: the network.
        time_scale: how much faster than real time the world runs (key made per real second).
        state_file: where to persist the mutable state; read at start if it exists.
    """

    def __init__(self, topology: Topology, time_scale: float = 1.0, state_file: Path | None = None) -> None:
        if not time_scale > 0:
            raise ValueError("time_scale must be > 0")
        self.world = World(topology)
        self.time_scale = time_scale
        self.state_file = state_file
        self.events = EventBroker()
        self.limits = KeyLimits()
        self.keys: dict[tuple[str, str], PairKeys] = {}
        self._pairs: dict[tuple[str, str], PairState] = {}
        self._seen_version = -1
        self._task: asyncio.Task[None] | None = None
        self.started_at_s = time.time()
        if state_file is not None and state_file.exists():
            try:
                self.world.restore(json.loads(state_file.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
                raise ConfigError(
                    f"state file {state_file} is unusable ({exc}); remove it to start afresh"
                ) from exc
        self.refresh()

    # The world changes through here ----------------------------------------------------------------

    def change(
        self, event: str, data: dict[str, Any], action: Callable[[], _T], modules: tuple[str, ...] = ()
    ) -> _T:
        """Apply ``action`` to the world, recompute rates, persist, and publish ``event``."""
        result = action()
        self.events.publish(event, data, modules)
        self.refresh()
        self._persist()
        return result

    def refresh(self) -> None:
        """Recompute every pair's state and rate if the world changed; publish what changed."""
        if self.world.version == self._seen_version:
            return
        self._seen_version = self.world.version
        pairs = {p.key: p for p in self.world.pairs()}
        for key, pair in pairs.items():
            if key not in self.keys:
                capacity = self.limits.buffer_keys * self.limits.key_size_bits
                self.keys[key] = PairKeys(key, capacity_bits=capacity)
            event = _transition(self._pairs.get(key), pair)
            if event is not None:
                self.events.publish(event, self._pair_data(pair), pair.key)
        for key in set(self.keys) - set(pairs):
            self.keys.pop(key).clear()
            self.events.publish("link_removed", {"transmitter": key[0], "receiver": key[1]}, key)
        self._pairs = pairs

    @staticmethod
    def _pair_data(pair: PairState) -> dict[str, Any]:
        return {
            "transmitter": pair.transmitter,
            "receiver": pair.receiver,
            "fibre": pair.fibre,
            "active": pair.active,
            "reason": pair.reason,
            "skr_bps": pair.rate_bps,
        }

    def _persist(self) -> None:
        if self.state_file is None:
            return
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.world.snapshot(), indent=1), encoding="utf-8")
        os.replace(temporary, self.state_file)  # atomic: a crash leaves the old or the new state

    # Pairs ------------------------------------------------------------------------------------------

    def pairs(self) -> list[PairState]:
        self.refresh()
        return list(self._pairs.values())

    def pair_for(self, module_id: str, peer_node: str) -> tuple[PairState, PairKeys] | None:
        """The pair joining ``module_id`` to a module at ``peer_node`` (the active one first)."""
        self.refresh()
        candidates = []
        for pair in self._pairs.values():
            if module_id not in pair.key:
                continue
            peer = pair.receiver if pair.transmitter == module_id else pair.transmitter
            if self.world.module(peer).node == peer_node:
                candidates.append(pair)
        candidates.sort(key=lambda p: not p.active)
        return (candidates[0], self.keys[candidates[0].key]) if candidates else None

    def pair_for_module(self, module_id: str) -> PairState | None:
        """The pair a module is in: the active one, else the first configured, else None."""
        self.refresh()
        pairs = [p for p in self._pairs.values() if module_id in p.key]
        pairs.sort(key=lambda p: not p.active)
        return pairs[0] if pairs else None

    # Time -------------------------------------------------------------------------------------------

    def advance(self, real_seconds: float) -> None:
        """Advance the world by ``real_seconds`` of wall-clock time."""
        self.refresh()
        for key, pair in self._pairs.items():
            if pair.active:
                self.keys[key].accumulate(pair.rate_bps * real_seconds * self.time_scale)
        for keys in self.keys.values():
            keys.expire()

    async def run(self) -> None:
        """Advance the world in real time until cancelled."""
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            self.advance(now - last)
            last = now

    def start(self) -> None:
        """Start the clock loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="sdqkd-emulator-clock")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
