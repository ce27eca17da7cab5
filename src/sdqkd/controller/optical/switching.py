"""Switch scheduling: which receiver a transmitter behind a 1×N optical switch serves now.

A switched transmitter makes key with one receiver at a time; the others wait, their pools drained by
what their applications (and the relays over them) consume. Every move costs key: the newly connected
pair re-synchronises for ``dead_time_s`` (the device profile's ``resync_time_s``) before key flows
again. The schedule decides from what the controller measures per receiver (:class:`ReceiverState`:
pool, consumption, rate while connected, whether the pair can make key), in this order:

1. **Availability.** A receiver whose pair cannot make key (a module down, the fibre cut, or no
   predicted key rate) gets no time: the switch is never moved to it. When the pair the switch
   serves becomes unavailable (or the switch is open) and another is available, the switch moves at
   once, dwell or not: staying can only waste time. With no available receiver it stays where it is;
   a single available receiver keeps the switch.
2. **Dwell.** Otherwise the switch never moves sooner than ``min_dwell_s`` after the last move. Each
   move costs ``dead_time_s`` of key, so moving faster than that would spend most of the time
   re-synchronising (thrashing).
3. **Urgency.** A receiver that is not served drains at its consumption, so it reaches the low-water
   mark after its *slack* ``(pool_bits − low_water_bits) / demand_bps`` (infinite with no demand,
   negative once below). A waiting receiver is *at risk* when its slack is at most the horizon
   ``min_dwell_s + dead_time_s``: were the switch committed elsewhere for one more dwell, it would
   pass the mark before it made key again (a newly served receiver makes nothing for the dead time).
   The switch moves to the most at-risk receiver (least slack) when the receiver it serves is
   comfortably above the mark: its own slack, counted as if it were left now (it then drains at its
   consumption, not at consumption − rate), exceeds the same horizon, so it survives the earliest
   way back to it. When the served receiver is at risk too, the schedule does not swap one shortage
   for another: moving back and forth every dwell would lose ``dead_time_s`` per ``min_dwell_s`` and
   starve both; the shares below decide instead, at their longer dwell.
4. **Shares.** Otherwise the switch shares time in proportion to what each receiver needs to keep up
   with its consumption, ``demand_bps / rate_bps`` (:meth:`SwitchSchedule.target_shares`). With
   receivers that consume nothing, those that do get their need, enlarged by the dead-time allowance
   ``1 / (1 − max_dead_fraction)`` so they keep up despite the re-synchronisations, and the idle ones
   share the rest equally (their pools fill for later); without idle receivers, or when the needs
   exceed the whole time, the needs are scaled to fill it. With no demand at all, equal shares.

   The switch goes round the receivers with a share, in turns (:meth:`SwitchSchedule.turns_s`). A
   turn lasts the receiver's target share of a cycle, at least ``min_dwell_s``; the cycle is as short
   as the dead time allows, ``max(n × dead_time_s / max_dead_fraction, max(min_dwell_s, dead_time_s /
   max_dead_fraction) / least share)`` for the n receivers with a share (n moves per cycle lose at
   most ``max_dead_fraction`` of it, and so does each turn, the least share's included: the dead-time
   allowance above then covers every receiver's re-synchronisations, and the least share still gets
   a dwell), and no longer than ``window_s`` (every receiver is served within each window the shares
   are reported over). A turn of ``min_dwell_s`` alone would not do: with the defaults, a receiver
   with a small share would lose 3 s of every 10 s turn, far more than its allowance, and fall behind
   its consumption while an idle receiver filled its pool. When the served receiver's turn is over, the
   switch moves to the receiver furthest behind its target share: target minus the fraction of the
   last ``window_s`` it was connected (:meth:`SwitchSchedule.shares`). Turns rather than "leave once
   the served one reaches its share over the window": a windowed share forgets what leaves the
   window, which, in a simulation with shares 0.69 and 0.31, made the larger one leave early every
   time (served 0.63); and two balanced receivers would swap every dwell, losing ``dead_time_s`` of
   each ``min_dwell_s``.

:func:`ideal_key_bits` and :class:`KeyDelivery` let a benchmark compare the key each receiver got
with what ideal time-sharing (the same shares, no dead time) would have given it.

Times are seconds on one clock of the caller's choosing (the controller's monotonic clock, or the
emulated world's); ``dead_time_s`` must be on the same clock (``resync_time_s`` divided by the
emulator's time scale when the controller runs on wall time). The module does no I/O: the controller
feeds it measurements and applies its decisions.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sdqkd.errors import ConfigError, UnknownResource

__all__ = [
    "KeyDelivery",
    "ReceiverState",
    "SchedulePolicy",
    "SwitchSchedule",
    "ideal_key_bits",
]


@dataclass(frozen=True)
class ReceiverState:
    """One port of the switch as the controller sees it now.

    Attributes:
        port: the switch port it hangs off.
        link: the QKD link served through that port.
        pool_bits: key ready for the pair (the lower of its two KMEs' ready key), bits.
        demand_bps: measured consumption of the pair's key (keys and relays at both ends), bit/s.
        rate_bps: key rate the pair makes while connected and synchronised (predicted), bit/s.
        available: the pair would make key if connected: modules up, fibre whole. A pair waiting for
            the switch (``standby``) or re-synchronising after a move is available.
    """

    port: str
    link: str
    pool_bits: float
    demand_bps: float
    rate_bps: float
    available: bool

    def __post_init__(self) -> None:
        for name in ("pool_bits", "demand_bps", "rate_bps"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} of port {self.port!r} must be finite and >= 0, not {value}")

    @property
    def servable(self) -> bool:
        """Whether time on the switch would give this pair key (available, with a key rate)."""
        return self.available and self.rate_bps > 0

    def slack_s(self, low_water_bits: float) -> float:
        """Seconds until the pool reaches ``low_water_bits`` while not served (negative: below already).

        ``(pool_bits − low_water_bits) / demand_bps``; infinite when nothing is consumed (at the mark or
        above) and minus infinity when below the mark with nothing consumed.
        """
        headroom_bits = self.pool_bits - low_water_bits
        if self.demand_bps > 0:
            return headroom_bits / self.demand_bps
        return math.inf if headroom_bits >= 0 else -math.inf


@dataclass(frozen=True)
class SchedulePolicy:
    """The knobs of a switch schedule.

    Attributes:
        low_water_bits: the pool level below which a receiver is short of key (1024 keys of 256 bits).
        min_dwell_s: the least time between two moves, unless the served pair cannot make key.
        dead_time_s: how long a pair makes no key after the switch moved to it (re-synchronisation).
        window_s: the window the connected shares are measured over (5 minutes, as the API reports).
        max_dead_fraction: the most of the time that the moves made to keep shares may lose to dead
            time; sets the length of the turns.
    """

    low_water_bits: float = 262_144.0
    min_dwell_s: float = 10.0
    dead_time_s: float = 3.0
    window_s: float = 300.0
    max_dead_fraction: float = 0.1

    def __post_init__(self) -> None:
        for name in ("low_water_bits", "min_dwell_s", "dead_time_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"schedule {name} must be finite and >= 0, not {value}")
        if not (math.isfinite(self.window_s) and self.window_s > 0):
            raise ConfigError(f"schedule window_s must be finite and > 0, not {self.window_s}")
        if not 0 < self.max_dead_fraction < 1:
            raise ConfigError(f"schedule max_dead_fraction must be in (0, 1), not {self.max_dead_fraction}")

    @property
    def horizon_s(self) -> float:
        """How far ahead a waiting receiver's shortage counts as urgent: one dwell plus the dead time."""
        return self.min_dwell_s + self.dead_time_s


class SwitchSchedule:
    """The schedule of one switch: where it is, since when, and where it was over the window.

    :meth:`decide` only proposes; the caller moves the switch and then records it with :meth:`moved`,
    as it records a move it sees at the plant that it did not make.

    Args:
        switch_id: the switch's id (for messages).
        ports: the switch's output ports.
        policy: the schedule's knobs.
        now_s: the time the schedule starts; it counts as the last move (the switch may just have
            moved, and the controller cannot know).
        port: the port the switch is on now (None: open).

    Raises:
        ConfigError: no ports, or a port named twice.
        UnknownResource: ``port`` is not one of ``ports``.
    """

    def __init__(
        self, switch_id: str, ports: Sequence[str], policy: SchedulePolicy, now_s: float, port: str | None
    ) -> None:
        if not ports:
            raise ConfigError(f"switch {switch_id!r} has no ports")
        if len(set(ports)) != len(ports):
            raise ConfigError(f"switch {switch_id!r} names a port twice: {list(ports)}")
        self.switch_id = switch_id
        self.ports: tuple[str, ...] = tuple(ports)
        self.policy = policy
        self._check_port(port)
        self._start_s = now_s
        self._port = port
        self._since_s = now_s
        self._moves = 0
        # (start_s, port) of each stretch on one port, oldest first, the last one still running;
        # stretches that ended before the window are dropped as moves come in.
        self._stretches: deque[tuple[float, str | None]] = deque([(now_s, port)])
        self._connected_before_s: dict[str, float] = dict.fromkeys(self.ports, 0.0)

    @property
    def port(self) -> str | None:
        """The port the switch is on (None: open)."""
        return self._port

    @property
    def since_s(self) -> float:
        """When the switch last moved (or the schedule started)."""
        return self._since_s

    @property
    def moves(self) -> int:
        """How many moves were recorded since the schedule started."""
        return self._moves

    def decide(self, now_s: float, receivers: Sequence[ReceiverState]) -> str | None:
        """The port to move to now, or None to stay (the module docstring gives the rules).

        Args:
            now_s: the time now, not before the last move.
            receivers: the state of the ports known now; a port left out is not moved to.

        Raises:
            UnknownResource: a receiver on a port the switch does not have.
            ValueError: a port given twice, or ``now_s`` before the last move.
        """
        self._check_time(now_s)
        states = self._by_port(receivers)
        servable = [state for state in states.values() if state.servable]
        current = states.get(self._port) if self._port is not None else None
        if not servable:
            return None
        if current is None or not current.servable:
            return self._most_needing(now_s, servable).port
        waiting = [state for state in servable if state.port != current.port]
        dwelt_s = now_s - self._since_s
        if not waiting or dwelt_s < self.policy.min_dwell_s:
            return None

        low_bits, horizon_s = self.policy.low_water_bits, self.policy.horizon_s
        at_risk = [state for state in waiting if state.slack_s(low_bits) <= horizon_s]
        if at_risk and current.slack_s(low_bits) > horizon_s:
            return min(at_risk, key=lambda state: state.slack_s(low_bits)).port

        targets = self.target_shares(states.values())
        if dwelt_s < self._turns_s(targets)[current.port]:
            return None
        shares = self.shares(now_s)
        behind = max(waiting, key=lambda state: targets[state.port] - shares[state.port])
        return behind.port if targets[behind.port] > shares[behind.port] else None

    def moved(self, now_s: float, port: str | None) -> None:
        """Record that the switch is on ``port`` from ``now_s`` (a move of ours or one seen at the plant).

        Recording the port the switch is on already changes nothing.

        Raises:
            UnknownResource: not one of the switch's ports.
            ValueError: ``now_s`` before the last move.
        """
        self._check_port(port)
        self._check_time(now_s)
        if port == self._port:
            return
        if self._port is not None:
            self._connected_before_s[self._port] += now_s - self._since_s
        self._port, self._since_s = port, now_s
        self._moves += 1
        self._stretches.append((now_s, port))
        window_start_s = now_s - self.policy.window_s
        while len(self._stretches) > 1 and self._stretches[1][0] <= window_start_s:
            self._stretches.popleft()

    def shares(self, now_s: float) -> dict[str, float]:
        """The fraction of the last ``window_s`` (or of the time since the start, if shorter) that each
        port was connected; the time the switch was open counts for none. At the very start the port
        the switch is on has share 1.

        Raises:
            ValueError: ``now_s`` before the last move.
        """
        self._check_time(now_s)
        start_s = max(self._start_s, now_s - self.policy.window_s)
        span_s = now_s - start_s
        result = dict.fromkeys(self.ports, 0.0)
        if span_s <= 0:
            if self._port is not None:
                result[self._port] = 1.0
            return result
        stretches = list(self._stretches)
        for index, (begin_s, port) in enumerate(stretches):
            end_s = stretches[index + 1][0] if index + 1 < len(stretches) else now_s
            overlap_s = end_s - max(begin_s, start_s)
            if port is not None and overlap_s > 0:
                result[port] += overlap_s
        return {port: connected_s / span_s for port, connected_s in result.items()}

    def connected_s(self, now_s: float) -> dict[str, float]:
        """Seconds each port has been connected since the schedule started (dead time included).

        Raises:
            ValueError: ``now_s`` before the last move.
        """
        self._check_time(now_s)
        result = dict(self._connected_before_s)
        if self._port is not None:
            result[self._port] += now_s - self._since_s
        return result

    def target_shares(self, receivers: Iterable[ReceiverState]) -> dict[str, float]:
        """The share of time each port should get: in proportion to ``demand_bps / rate_bps`` (the
        module docstring gives the rule for idle receivers and the dead-time allowance); 0 for ports
        that cannot make key or were not given. The shares sum to 1 when any port can make key.

        Args:
            receivers: the ports' states.

        Raises:
            UnknownResource: a receiver on a port the switch does not have.
            ValueError: a port given twice.
        """
        servable = [state for state in self._by_port(receivers).values() if state.servable]
        targets = dict.fromkeys(self.ports, 0.0)
        if not servable:
            return targets
        allowance = 1.0 / (1.0 - self.policy.max_dead_fraction)
        needs = {state.port: state.demand_bps / state.rate_bps * allowance for state in servable}
        idle = [port for port, need in needs.items() if need == 0]  # demand 0 (or too small for a float)
        needs = {port: need for port, need in needs.items() if need > 0}
        total_need = sum(needs.values())
        if not needs:
            targets.update(dict.fromkeys(idle, 1.0 / len(idle)))
        elif idle and total_need < 1:
            targets.update(needs)
            targets.update(dict.fromkeys(idle, (1.0 - total_need) / len(idle)))
        else:
            targets.update({port: need / total_need for port, need in needs.items()})
        return targets

    def turns_s(self, receivers: Iterable[ReceiverState]) -> dict[str, float]:
        """How long each port's turn lasts while the switch goes round for the shares, s (the module
        docstring gives the rule); 0 for the ports with no share.

        Raises:
            UnknownResource: a receiver on a port the switch does not have.
            ValueError: a port given twice.
        """
        return self._turns_s(self.target_shares(receivers))

    def _turns_s(self, targets: Mapping[str, float]) -> dict[str, float]:
        policy = self.policy
        shared = [share for share in targets.values() if share > 0]
        if not shared:
            return dict.fromkeys(targets, 0.0)
        least_turn_s = max(policy.min_dwell_s, policy.dead_time_s / policy.max_dead_fraction)
        cycle_s = max(len(shared) * policy.dead_time_s / policy.max_dead_fraction, least_turn_s / min(shared))
        cycle_s = min(cycle_s, policy.window_s)
        return {
            port: max(share * cycle_s, policy.min_dwell_s) if share > 0 else 0.0
            for port, share in targets.items()
        }

    def _most_needing(self, now_s: float, candidates: Sequence[ReceiverState]) -> ReceiverState:
        """Where to go when the switch must move now: the least slack if any is at risk, else the one
        furthest behind its target share."""
        low_bits, horizon_s = self.policy.low_water_bits, self.policy.horizon_s
        at_risk = [state for state in candidates if state.slack_s(low_bits) <= horizon_s]
        if at_risk:
            return min(at_risk, key=lambda state: state.slack_s(low_bits))
        targets = self.target_shares(candidates)
        shares = self.shares(now_s)
        return max(candidates, key=lambda state: targets[state.port] - shares[state.port])

    def _by_port(self, receivers: Iterable[ReceiverState]) -> dict[str, ReceiverState]:
        states: dict[str, ReceiverState] = {}
        for state in receivers:
            self._check_port(state.port)
            if state.port in states:
                raise ValueError(f"port {state.port!r} of switch {self.switch_id!r} given twice")
            states[state.port] = state
        return states

    def _check_port(self, port: str | None) -> None:
        if port is not None and port not in self.ports:
            raise UnknownResource(f"switch {self.switch_id!r} has no port {port!r}")

    def _check_time(self, now_s: float) -> None:
        if now_s < self._since_s:
            raise ValueError(
                f"time {now_s} s is before the last move of switch {self.switch_id!r} ({self._since_s} s)"
            )


def ideal_key_bits(
    rates_bps: Mapping[str, float], shares: Mapping[str, float], duration_s: float
) -> dict[str, float]:
    """The key each receiver would get from ideal time-sharing: connected for its share of the time,
    making key at its rate all that time (no dead time after the moves).

    ``K_i = rate_i × share_i × duration``. With the shares the switch actually had (its connected
    seconds over the duration, :meth:`SwitchSchedule.connected_s`) the gap to the key delivered is what
    the dead time cost; with the target shares it also includes how far the schedule was from them.

    Args:
        rates_bps: each receiver's key rate while connected, bit/s.
        shares: each receiver's fraction of the time (a receiver not named gets none).
        duration_s: the time shared, s.

    Returns:
        Bits per receiver named in ``rates_bps``.
    """
    return {port: rate_bps * shares.get(port, 0.0) * duration_s for port, rate_bps in rates_bps.items()}


@dataclass(frozen=True)
class KeyDelivery:
    """Key delivered to each receiver against what ideal time-sharing would have given it.

    Attributes:
        delivered_bits: key each receiver got, bits (a receiver not named got none).
        ideal_bits: key each receiver would have got (:func:`ideal_key_bits`), bits.
    """

    delivered_bits: Mapping[str, float]
    ideal_bits: Mapping[str, float]

    @property
    def ratios(self) -> dict[str, float]:
        """Delivered over ideal per receiver; receivers whose ideal is no key are left out."""
        return {
            port: self.delivered_bits.get(port, 0.0) / ideal_bits
            for port, ideal_bits in self.ideal_bits.items()
            if ideal_bits > 0
        }

    @property
    def total_ratio(self) -> float | None:
        """All key delivered over all ideal key (None when the ideal is no key)."""
        total_ideal_bits = sum(self.ideal_bits.values())
        if total_ideal_bits <= 0:
            return None
        return sum(self.delivered_bits.get(port, 0.0) for port in self.ideal_bits) / total_ideal_bits
