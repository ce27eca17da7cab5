"""The ``protect-qkd`` policy: the optical configuration that keeps every QKD link at its target, from
what was requested, cheapest lever first. Pure: no I/O, the same inputs give the same plan.

The plan starts from the *requests* (every classical channel at the power and wavelength its operator
asked for, every quantum channel on its planned grid channel) and uses the levers of DESIGN §4, in
order, only where a link still misses its target:

    a. retune the quantum channel of a link (and of every link sharing its modules: a switched
       transmitter has one laser) to the free grid channel with the least Raman noise, when that alone
       restores the targets;
    b. lower classical launch powers towards their floors, noisiest first and only as far as needed;
       b then a: when b alone does not suffice, the retune that leaves the most room, then b again;
    c. move a tunable classical channel to the free grid channel where it is quietest, then b again;

Links that still miss their target are reported (``missed``) with the plan's best effort. Because the
plan is computed from the requests each time, undoing is the same computation: when room returns, the
plan simply needs fewer levers, and the difference with what is at the plant raises powers back,
moves channels back and retunes back.

The arithmetic (:mod:`sdqkd.planning.coexistence`): Raman noise is linear in power, ``ξ_R,l = Σ_i r_il
P_i``, and a target is a bound ``B_l`` on ξ_R,l, so lowering a power to meet a deficit ``D_l = ξ_R,l −
B_l`` takes ``ΔP_i = D_l / r_il`` watts.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

from sdqkd.planning.budget import key_rate_for
from sdqkd.planning.coexistence import occupied, raman_budget_snu, raman_snu_per_watt
from sdqkd.topology.models import DeviceProfile, Fibre
from sdqkd.units import dbm_to_w as _dbm_to_w
from sdqkd.units import dwdm_channel_to_frequency_thz, w_to_dbm

__all__ = [
    "Carrier",
    "ChannelKey",
    "ChannelSetting",
    "LinkNeeds",
    "Plan",
    "Planner",
]

ChannelKey = tuple[str, str]
"""(fibre id, classical channel id)."""

_EPSILON_W = 1e-15


def dbm_to_w(power_dbm: float) -> float:
    return float(_dbm_to_w(power_dbm))


@dataclass(frozen=True)
class ChannelSetting:
    """Where a classical channel sits: its launch power and its frequency (a grid channel, or a
    wavelength off the grid)."""

    power_dbm: float
    frequency_thz: float
    dwdm_channel: int | None

    @classmethod
    def on_grid(cls, power_dbm: float, dwdm_channel: int) -> ChannelSetting:
        return cls(power_dbm, dwdm_channel_to_frequency_thz(dwdm_channel), dwdm_channel)


@dataclass(frozen=True)
class Carrier:
    """What the plan needs of a classical channel's transceiver.

    Attributes:
        forward_from: the node it is launched from.
        floor_dbm: the lowest launch power it may run at.
        tunable: whether it may move to another grid channel.
        tuning: the grid channels it can take.
    """

    key: ChannelKey
    forward_from: str
    floor_dbm: float
    tunable: bool
    tuning: tuple[int, ...]


@dataclass(frozen=True)
class LinkNeeds:
    """A QKD link as the plan sees it.

    Attributes:
        id: the link.
        fibre: its fibre (live).
        transmitter_node: where its quantum signal is launched.
        profile: its device profile.
        transmittance: T with every loss on its way.
        group: the links that share its modules (a switched transmitter) share one quantum channel.
        target_bps: the key rate it must keep (margin included); 0: nothing to protect.
        calibration: measured ÷ predicted key rate when the measurement is settled and lower (≤ 1).
        tuning: the grid channels its modules can take.
    """

    id: str
    fibre: Fibre
    transmitter_node: str
    profile: DeviceProfile
    transmittance: float
    group: str
    target_bps: float
    calibration: float = 1.0
    tuning: tuple[int, ...] = ()


@dataclass(frozen=True)
class Plan:
    """An optical configuration and what it gives.

    Attributes:
        settings: every classical channel's setting.
        quantum: every group's quantum channel.
        predicted_bps: each link's predicted key rate.
        missed: links still below their target.
        levers: the levers used (``retune``, ``lower``, ``move``), in order.
    """

    settings: dict[ChannelKey, ChannelSetting]
    quantum: dict[str, int]
    predicted_bps: dict[str, float]
    missed: tuple[str, ...]
    levers: tuple[str, ...] = ()


@dataclass
class _Work:
    settings: dict[ChannelKey, ChannelSetting]
    quantum: dict[str, int]
    levers: list[str] = field(default_factory=list)


class Planner:
    """Plans the optical configuration of a network's shared fibres.

    Args:
        links: the QKD links to protect.
        carriers: every classical channel on their fibres.
        fixed: channels the plan must leave as requested (a channel being admitted as asked).
        hysteresis: the plan aims at ``target × (1 + hysteresis)``, so that what it decides is not
            undone by the next small change.
        levers: the levers it may use.
    """

    def __init__(
        self,
        links: Sequence[LinkNeeds],
        carriers: Mapping[ChannelKey, Carrier],
        fixed: Collection[ChannelKey] = (),
        hysteresis: float = 0.02,
        levers: Collection[str] = ("retune", "lower", "move"),
    ) -> None:
        self.links = list(links)
        self.carriers = dict(carriers)
        self.fixed = set(fixed)
        self.levers_allowed = set(levers)
        self._budget: dict[str, float | None] = {}
        for link in self.links:
            goal = link.target_bps * (1.0 + hysteresis) / max(link.calibration, 1e-9)
            self._budget[link.id] = raman_budget_snu(link.profile, link.transmittance, goal)
        self._r_cache: dict[tuple[str, int, ChannelKey, float], float] = {}

    # The numbers -----------------------------------------------------------------------------------------

    def _on(self, link: LinkNeeds) -> list[ChannelKey]:
        return [key for key in self.carriers if key[0] == link.fibre.id]

    def _r(self, link: LinkNeeds, quantum: int, key: ChannelKey, frequency_thz: float) -> float:
        cache_key = (link.id, quantum, key, round(frequency_thz, 6))
        found = self._r_cache.get(cache_key)
        if found is None:
            carrier = self.carriers[key]
            forward = carrier.forward_from == link.transmitter_node
            (found,) = raman_snu_per_watt(
                [frequency_thz], [forward], link.fibre, link.profile, quantum, link.transmittance
            )
            self._r_cache[cache_key] = found
        return found

    def raman_snu(self, link: LinkNeeds, work: _Work) -> float:
        """ξ_R of ``link`` under a configuration."""
        quantum = work.quantum[link.group]
        return sum(
            self._r(link, quantum, key, work.settings[key].frequency_thz)
            * dbm_to_w(work.settings[key].power_dbm)
            for key in self._on(link)
        )

    def raman_shares(
        self, settings: Mapping[ChannelKey, ChannelSetting], quantum: Mapping[str, int]
    ) -> dict[ChannelKey, float]:
        """Each channel's share of the Raman noise on the links of its fibre (0–1)."""
        work = _Work(dict(settings), dict(quantum))
        totals: dict[str, float] = {}
        parts: dict[ChannelKey, float] = {}
        for link in self.links:
            for key in self._on(link):
                setting = work.settings[key]
                part = self._r(link, work.quantum[link.group], key, setting.frequency_thz) * dbm_to_w(
                    setting.power_dbm
                )
                parts[key] = parts.get(key, 0.0) + part
                totals[key[0]] = totals.get(key[0], 0.0) + part
        return {key: (part / totals[key[0]] if totals[key[0]] > 0 else 0.0) for key, part in parts.items()}

    def link_raman_snu(
        self, link_id: str, settings: Mapping[ChannelKey, ChannelSetting], quantum: Mapping[str, int]
    ) -> float:
        """ξ_R of link ``link_id`` under a configuration, SNU."""
        link = next(link for link in self.links if link.id == link_id)
        return self.raman_snu(link, _Work(dict(settings), dict(quantum)))

    def blocked(self, link: LinkNeeds, work: _Work) -> bool:
        """Whether a classical carrier sits on the link's quantum channel (in-band: no key at all,
        whatever the powers; only a retune, or moving that carrier, clears it)."""
        quantum_thz = dwdm_channel_to_frequency_thz(work.quantum[link.group])
        return any(occupied(work.settings[key].frequency_thz, [quantum_thz]) for key in self._on(link))

    def predicted_bps(self, link: LinkNeeds, work: _Work) -> float:
        if self.blocked(link, work):
            return 0.0
        total = link.profile.excess_noise_snu + self.raman_snu(link, work)
        return max(0.0, float(key_rate_for(link.profile, link.transmittance, total).secret_key_rate_bps))

    def _deficit(self, link: LinkNeeds, work: _Work) -> float:
        """ξ_R − B (> 0: the link misses its goal); +inf when no power can restore it."""
        budget = self._budget[link.id]
        if budget is None or self.blocked(link, work):
            return math.inf
        return self.raman_snu(link, work) - budget

    def _failing(self, work: _Work, links: Sequence[LinkNeeds] | None = None) -> list[LinkNeeds]:
        """The links over their budget, except those no optical change can restore (their target is
        beyond them even without classical light: an alarm, not a reason to disturb the fibre)."""
        return [
            link
            for link in (links or self.links)
            if self._budget[link.id] is not None and self._deficit(link, work) > 1e-12
        ]

    # The plan ---------------------------------------------------------------------------------------------

    def plan(
        self, requested: Mapping[ChannelKey, ChannelSetting], planned_quantum: Mapping[str, int]
    ) -> Plan:
        """The configuration that keeps the links at target, from the requests."""
        work = _Work(dict(requested), dict(planned_quantum))
        if self._failing(work):
            self._retune_alone(work)
        if self._failing(work) and "lower" in self.levers_allowed:
            lowered = self._lowered(work)
            work = lowered if not self._failing(lowered) else self._retune_then_lower(work)
        if self._failing(work) and "move" in self.levers_allowed:
            work = self._moved(work)
        return self._result(work)

    def evaluate(self, settings: Mapping[ChannelKey, ChannelSetting], quantum: Mapping[str, int]) -> Plan:
        """What a configuration gives, as a plan (no lever used)."""
        return self._result(_Work(dict(settings), dict(quantum)))

    def _result(self, work: _Work) -> Plan:
        predicted = {link.id: self.predicted_bps(link, work) for link in self.links}
        missed = tuple(
            link.id for link in self.links if predicted[link.id] * link.calibration < link.target_bps - 1e-6
        )
        return Plan(dict(work.settings), dict(work.quantum), predicted, missed, tuple(work.levers))

    # a. retune --------------------------------------------------------------------------------------------

    def _group(self, group: str) -> list[LinkNeeds]:
        return [link for link in self.links if link.group == group]

    def _candidates(self, group: str, work: _Work) -> list[int]:
        """Grid channels the group's quantum channel may take: in every module's range, free of
        classical carriers on every fibre of the group and of other groups' quantum channels there."""
        links = self._group(group)
        allowed = set(links[0].tuning)
        for link in links[1:]:
            allowed &= set(link.tuning)
        fibres = {link.fibre.id for link in links}
        taken = [s.frequency_thz for key, s in work.settings.items() if key[0] in fibres]
        taken += [
            dwdm_channel_to_frequency_thz(work.quantum[other.group])
            for other in self.links
            if other.group != group and other.fibre.id in fibres
        ]
        return sorted(n for n in allowed if not occupied(dwdm_channel_to_frequency_thz(n), taken))

    def _score(self, group: str, work: _Work) -> float:
        """How far the group's worst link is over its budget (ξ_R ÷ B; lower is better)."""
        worst = 0.0
        for link in self._group(group):
            budget = self._budget[link.id]
            if budget is None:
                return math.inf
            if budget == math.inf:
                continue
            worst = max(worst, self.raman_snu(link, work) / budget if budget > 0 else math.inf)
        return worst

    def _ranked(self, group: str, work: _Work) -> list[int]:
        """The group's candidate quantum channels, quietest first."""
        scored = []
        for channel in self._candidates(group, work):
            trial = _Work(work.settings, {**work.quantum, group: channel})
            scored.append((self._score(group, trial), channel))
        return [channel for _, channel in sorted(scored)]

    def _failing_groups(self, work: _Work) -> list[str]:
        return sorted({link.group for link in self._failing(work)})

    def _retune_alone(self, work: _Work) -> None:
        if "retune" not in self.levers_allowed:
            return
        for group in self._failing_groups(work):
            for channel in self._ranked(group, work)[:1]:
                trial = _Work(work.settings, {**work.quantum, group: channel})
                if not self._failing(trial, self._group(group)):
                    work.quantum[group] = channel
                    work.levers.append("retune")

    def _retune_then_lower(self, work: _Work) -> _Work:
        """b alone did not do: try the quietest quantum channels of the failing groups, each with b,
        and keep the one that needs the least power taken off (or misses by the least)."""
        best = self._lowered(work)
        if "retune" not in self.levers_allowed:
            return best
        for group in self._failing_groups(work):
            for channel in self._ranked(group, work)[:5]:
                if channel == work.quantum[group]:
                    continue
                trial = self._lowered(
                    _Work(work.settings, {**work.quantum, group: channel}, [*work.levers, "retune"])
                )
                if self._better(trial, best, work):
                    best = trial
        return best

    def _better(self, trial: _Work, best: _Work, start: _Work) -> bool:
        trial_fail, best_fail = self._failing(trial), self._failing(best)
        if len(trial_fail) != len(best_fail):
            return len(trial_fail) < len(best_fail)
        if trial_fail:
            return sum(self._deficit(link, trial) for link in trial_fail) < sum(
                self._deficit(link, best) for link in best_fail
            )
        return self._power_taken_db(trial, start) < self._power_taken_db(best, start) - 1e-9

    @staticmethod
    def _power_taken_db(work: _Work, start: _Work) -> float:
        return sum(max(0.0, start.settings[key].power_dbm - s.power_dbm) for key, s in work.settings.items())

    # b. lower ---------------------------------------------------------------------------------------------

    def _lowered(self, work: _Work) -> _Work:
        """``work`` with powers lowered towards their floors, noisiest first, only as far as the
        failing links need."""
        result = _Work(dict(work.settings), dict(work.quantum), list(work.levers))
        if "lower" not in self.levers_allowed:
            return result
        lowered = False
        for _ in range(len(self.carriers) + 1):
            # power cannot clear a carrier sitting on the quantum channel: leave those to a retune
            failing = [link for link in self._failing(result) if not self.blocked(link, result)]
            if not failing:
                break
            key = self._noisiest(result, failing)
            if key is None:
                break
            setting = result.settings[key]
            power_w = dbm_to_w(setting.power_dbm)
            needed_w = max(
                self._deficit(link, result) / r
                for link in failing
                if key[0] == link.fibre.id
                and (r := self._r(link, result.quantum[link.group], key, setting.frequency_thz)) > 0
            )
            floor_w = dbm_to_w(self.carriers[key].floor_dbm)
            new_w = max(floor_w, power_w - needed_w * (1 + 1e-9))
            result.settings[key] = replace(setting, power_dbm=float(w_to_dbm(max(new_w, _EPSILON_W))))
            lowered = True
        if lowered:
            result.levers.append("lower")
        return result

    def _noisiest(self, work: _Work, failing: Sequence[LinkNeeds]) -> ChannelKey | None:
        """The channel that adds most noise to the failing links (relative to their budgets) and can
        still be lowered."""
        best: tuple[float, ChannelKey] | None = None
        for key, setting in work.settings.items():
            carrier = self.carriers.get(key)
            if carrier is None or key in self.fixed or setting.power_dbm <= carrier.floor_dbm + 1e-9:
                continue
            weight = 0.0
            for link in failing:
                if key[0] != link.fibre.id:
                    continue
                budget = self._budget[link.id] or 0.0
                r = self._r(link, work.quantum[link.group], key, setting.frequency_thz)
                weight += r * dbm_to_w(setting.power_dbm) / max(budget, 1e-12)
            if weight > 0 and (best is None or weight > best[0]):
                best = (weight, key)
        return None if best is None else best[1]

    # c. move ----------------------------------------------------------------------------------------------

    def _moved(self, work: _Work) -> _Work:
        """Move tunable channels, noisiest first, to the free grid channel where they add the least
        noise (at their requested power), then lower again. A carrier on a failing link's quantum
        channel goes first; while it is there, moving the others of that link's fibre is in vain."""
        result = _Work(dict(work.settings), dict(work.quantum), list(work.levers))
        tried: set[ChannelKey] = set()
        for _ in range(len(self.carriers)):
            failing = self._failing(result)
            if not failing:
                break
            movable = [
                key
                for key in result.settings
                if key in self.carriers
                and self.carriers[key].tunable
                and key not in self.fixed
                and key not in tried
                and any(
                    key[0] == link.fibre.id
                    and (not self.blocked(link, result) or self._blocks(key, link, result))
                    for link in failing
                )
            ]
            if not movable:
                break
            key = max(
                movable,
                key=lambda k: (
                    any(self._blocks(k, link, result) for link in failing),
                    self._noise_of(k, result, failing),
                ),
            )
            tried.add(key)
            target = self._quietest_slot(key, result)
            if target is None:
                continue
            result.settings[key] = ChannelSetting.on_grid(work.settings[key].power_dbm, target)
            result.levers.append("move")
            result = self._lowered(result)
        return result

    def _blocks(self, key: ChannelKey, link: LinkNeeds, work: _Work) -> bool:
        """Whether classical channel ``key`` sits on ``link``'s quantum channel."""
        return key[0] == link.fibre.id and occupied(
            work.settings[key].frequency_thz, [dwdm_channel_to_frequency_thz(work.quantum[link.group])]
        )

    def _noise_of(self, key: ChannelKey, work: _Work, links: Sequence[LinkNeeds]) -> float:
        setting = work.settings[key]
        return sum(
            self._r(link, work.quantum[link.group], key, setting.frequency_thz) * dbm_to_w(setting.power_dbm)
            for link in links
            if link.fibre.id == key[0]
        )

    def _quietest_slot(self, key: ChannelKey, work: _Work) -> int | None:
        """The free grid channel (in the transceiver's range) where ``key`` adds the least noise to the
        links of its fibre, if quieter than where it is (any free one is better than a link's quantum
        channel: there it leaves the link no key at all)."""
        links = [link for link in self.links if link.fibre.id == key[0]]
        taken = [s.frequency_thz for k, s in work.settings.items() if k[0] == key[0] and k != key]
        taken += [dwdm_channel_to_frequency_thz(work.quantum[link.group]) for link in links]

        def noise(frequency_thz: float) -> float:
            return sum(
                self._r(link, work.quantum[link.group], key, frequency_thz)
                / max(self._budget[link.id] or 1e-12, 1e-12)
                for link in links
            )

        blocking = any(self._blocks(key, link, work) for link in links)
        here = math.inf if blocking else noise(work.settings[key].frequency_thz)
        options = [
            (noise(f), n)
            for n in self.carriers[key].tuning
            if not occupied(f := dwdm_channel_to_frequency_thz(n), taken)
        ]
        if not options:
            return None
        quietest, channel = min(options)
        return channel if quietest < here * (1 - 1e-6) else None
