"""The emulator: the world, the key each pair makes, and the events, advanced in (scaled) time.

Key rates are recomputed from the physics (``sdqkd.planning.link_budget``) whenever the world
changes; the clock loop adds ``rate × Δt × time_scale`` secret bits to every active pair every
:data:`TICK_S`, so a change shows in the key flow within one tick. State changes are written to a
state file (when given) so a restarted emulator resumes where it stopped. A *commissioned*
emulator's modules start configured for the topology's QKD links (when no state file resumes them).

With ``engine="protocol"`` the clock loop makes no key from rates: a
:class:`~sdqkd.emulator.protocol.ProtocolEngine` runs the post-processing pipeline for each active
pair and its blocks' keys fill the pair's :class:`~sdqkd.emulator.block_keys.BlockKeys`; the clock
loop tells it which pairs are active at every tick.

Dead times of the devices are *holds* on a pair that the world would otherwise call active: after
either module's quantum channel changes from one channel to another, the pair re-locks for its
profile's ``relock_time_s``; after a switch moves so that the pair is connected through it, it
re-synchronises for ``resync_time_s`` (both world seconds, so divided by ``time_scale`` in real
time). A module's first channel is no change. Holds are measured on the emulator's own clock, the
real seconds :meth:`Emulator.advance` has been given, and are not persisted: a restarted emulator
starts without them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

from sdqkd.emulator.block_keys import BlockKeys
from sdqkd.emulator.events import EventBroker
from sdqkd.emulator.keys import PairKeys, SharedKeys
from sdqkd.emulator.protocol import DEFAULT_BLOCK_SYMBOLS, BlockRunner, EngineKind, ProtocolEngine
from sdqkd.emulator.world import PairState, World
from sdqkd.errors import ConfigError, DeviceError
from sdqkd.server.loops import Loops, RoundBody
from sdqkd.topology.models import Topology

__all__ = ["RELOCK_REASON", "RESYNC_REASON", "TICK_S", "Emulator", "KeyLimits", "ModuleState"]

log = logging.getLogger(__name__)

TICK_S = 0.05
RELOCK_REASON = "re-locking to the new quantum channel"
RESYNC_REASON = "re-synchronising after the switch moved"
_T = TypeVar("_T")

ModuleState = Literal["up", "down", "unpaired", "disabled", "failed"]
"""What a module is doing: making key (up), paired but not (down), named by no peer (unpaired), not
enabled (disabled), or broken (failed)."""


@dataclass(frozen=True)
class _Hold:
    """A dead time of a pair: no key until ``until_s`` (the emulator's clock), and why."""

    until_s: float
    reason: str


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
        commissioned: start with the modules configured for the topology's QKD links
            (:meth:`~sdqkd.emulator.world.World.commission`), so key flows before any controller
            configures them. Only a fresh start is commissioned: a state file that exists wins,
            as a restarted device keeps the configuration it was last given.
        engine: ``rate`` (key at the physics' rate) or ``protocol`` (key from the post-processing
            pipeline, :mod:`sdqkd.emulator.protocol`).
        protocol_block_symbols: symbols per block of the ``protocol`` engine.
        protocol_runner: runs one block of the ``protocol`` engine (default: the pipeline).
    """

    def __init__(
        self,
        topology: Topology,
        time_scale: float = 1.0,
        state_file: Path | None = None,
        *,
        commissioned: bool = False,
        engine: EngineKind = "rate",
        protocol_block_symbols: int = DEFAULT_BLOCK_SYMBOLS,
        protocol_runner: BlockRunner | None = None,
    ) -> None:
        if not time_scale > 0:
            raise ValueError("time_scale must be > 0")
        if engine not in ("rate", "protocol"):
            raise ConfigError(f"engine must be rate or protocol, not {engine!r}")
        self.world = World(topology)
        self.time_scale = time_scale
        self.state_file = state_file
        self.events = EventBroker()
        self.limits = KeyLimits()
        self.engine: EngineKind = engine
        self.keys: dict[tuple[str, str], SharedKeys] = {}
        self._pairs: dict[tuple[str, str], PairState] = {}
        self._seen_version = -1
        self._now_s = 0.0  # the emulator's clock: real seconds advanced so far
        self._holds: dict[tuple[str, str], _Hold] = {}
        self.loops = Loops(logger=log, backoff_s=TICK_S, max_backoff_s=10.0)
        """The clock loop (``GET /health``)."""
        self.started_at_s = time.time()
        if state_file is not None and state_file.exists():
            try:
                self.world.restore(json.loads(state_file.read_text(encoding="utf-8")))
            except (OSError, ValueError) as exc:  # pydantic's ValidationError is a ValueError
                raise ConfigError(
                    f"state file {state_file} is unusable ({exc}); remove it to start afresh"
                ) from exc
        elif commissioned:
            try:
                self.world.commission()
            except DeviceError as exc:
                raise ConfigError(f"topology {topology.name!r} cannot be commissioned: {exc}") from exc
        # What the devices were last seen doing, to tell a retune or a switch move (a hold) from
        # the state they started in (none).
        self._channels = {m: c.dwdm_channel for m, c in self.world.configs.items()}
        self._ports = {s.id: s.connected_port for s in self.world.topology.switches}
        self.protocol = (
            ProtocolEngine(self, protocol_block_symbols, runner=protocol_runner)
            if engine == "protocol"
            else None
        )
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
        """Recompute every pair's state and rate if the world changed or a hold ended; publish
        what changed."""
        ended = self._end_holds()
        if self.world.version == self._seen_version and not ended:
            return
        self._seen_version = self.world.version
        found = self.world.pairs()
        self._start_holds(found)
        pairs = {p.key: self._held(p) for p in found}
        for key, pair in pairs.items():
            if key not in self.keys:
                capacity = self.limits.buffer_keys * self.limits.key_size_bits
                store = BlockKeys if self.protocol is not None else PairKeys
                self.keys[key] = store(key, capacity_bits=capacity)
            event = _transition(self._pairs.get(key), pair)
            if event is not None:
                self.events.publish(event, self._pair_data(pair), pair.key)
        for key in set(self.keys) - set(pairs):
            self.keys.pop(key).clear()
            self.events.publish("link_removed", {"transmitter": key[0], "receiver": key[1]}, key)
        self._pairs = pairs

    # Dead times -------------------------------------------------------------------------------------

    def _start_holds(self, pairs: list[PairState]) -> None:
        """Hold the pairs whose devices just re-lock or re-synchronise (see the module docstring)."""
        world = self.world
        channels = {m: c.dwdm_channel for m, c in world.configs.items()}
        retuned = {
            module_id
            for module_id, channel in channels.items()
            if channel is not None and self._channels.get(module_id) not in (None, channel)
        }
        ports = {s.id: s.connected_port for s in world.topology.switches}
        moved = {
            switch_id
            for switch_id, port in ports.items()
            if port is not None and self._ports.get(switch_id) != port
        }
        self._channels, self._ports = channels, ports
        for pair in pairs:
            profile = world.topology.profile(world.module(pair.transmitter).profile)
            if retuned & set(pair.key):
                self._hold(pair.key, profile.relock_time_s, RELOCK_REASON)
            budget = pair.budget
            if budget is not None and budget.connected and moved & set(budget.switches):
                self._hold(pair.key, profile.resync_time_s, RESYNC_REASON)
        for key in set(self._holds) - {p.key for p in pairs}:
            del self._holds[key]

    def _hold(self, key: tuple[str, str], world_seconds: float, reason: str) -> None:
        """Hold a pair for ``world_seconds`` from now (a later end wins over an earlier one)."""
        if world_seconds <= 0:
            return
        until_s = self._now_s + world_seconds / self.time_scale
        held = self._holds.get(key)
        if held is None or until_s >= held.until_s:
            self._holds[key] = _Hold(until_s, reason)

    def _end_holds(self) -> bool:
        """Drop the holds that have run out; whether any did."""
        ended = [key for key, held in self._holds.items() if held.until_s <= self._now_s]
        for key in ended:
            del self._holds[key]
        return bool(ended)

    def _held(self, pair: PairState) -> PairState:
        """``pair`` as its hold leaves it: a pair the world calls active makes no key while held."""
        held = self._holds.get(pair.key)
        return replace(pair, active=False, reason=held.reason) if held and pair.active else pair

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

    def pair_now(self, key: tuple[str, str]) -> PairState | None:
        """The pair of ``(transmitter, receiver)`` now, if configured."""
        self.refresh()
        return self._pairs.get(key)

    def pair_for(self, module_id: str, peer_node: str) -> tuple[PairState, SharedKeys] | None:
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

    def module_state(self, module_id: str) -> tuple[ModuleState, str]:
        """What a module is doing now, and why when it makes no key ("" when up)."""
        if module_id in self.world.failed_modules:
            return "failed", "the module has failed"
        if not self.world.configs[module_id].enabled:
            return "disabled", "not enabled"
        pair = self.pair_for_module(module_id)
        if pair is None:
            return "unpaired", "no peer names this module back"
        return ("up", "") if pair.active else ("down", pair.reason)

    # Time -------------------------------------------------------------------------------------------

    def advance(self, real_seconds: float) -> None:
        """Advance the world by ``real_seconds`` of wall-clock time.

        The interval is cut where a hold ends, so a pair makes key from the moment its dead time
        is over.
        """
        end_s = self._now_s + real_seconds
        while True:
            self.refresh()
            step_end_s = min(end_s, min((h.until_s for h in self._holds.values()), default=math.inf))
            step_s = step_end_s - self._now_s
            for key, pair in self._pairs.items():
                keys = self.keys[key]
                if pair.active and isinstance(keys, PairKeys):  # protocol: key comes from blocks
                    keys.accumulate(pair.rate_bps * step_s * self.time_scale)
            self._now_s = step_end_s
            if step_end_s >= end_s:
                break
        self.refresh()  # a hold that ends with the interval ends now
        for keys in self.keys.values():
            keys.expire()

    def _clock(self) -> RoundBody:
        """One tick of the clock loop: advance the world by the wall-clock time since the last."""
        last = time.monotonic()

        async def tick() -> None:
            nonlocal last
            now = time.monotonic()
            elapsed_s, last = now - last, now  # a failed tick is not made up: that time is skipped
            self.advance(elapsed_s)
            if self.protocol is not None:
                self.protocol.sync()

        return tick

    def start(self) -> None:
        """Start the clock loop on the running event loop (never ended by an error: ``/health``)."""
        if not self.loops.states():
            self.loops.start("sdqkd-emulator-clock", self._clock(), interval_s=TICK_S, delay_s=TICK_S)

    async def stop(self) -> None:
        """Stop the clock loop and, with the ``protocol`` engine, every pair's blocks."""
        await self.loops.stop()
        if self.protocol is not None:
            await self.protocol.stop()
