"""``sdqkd scenario coexistence``: quantum and classical channels in one fibre, under the controller.

On one fibre (Madrid's concepcion-norte by default), in four phases, each held ``phase_s`` seconds
once it has settled:

1. **no classical load** — the fibre's classical channels are taken off at the plant (and remembered);
2. **classical channels** — they are put back as they were (Madrid: 1 × 100G + 16 × 10G);
3. **operator raises power and adds channels** — behind the controller's back, as an operator at the
   equipment would: the fibre's 100G channel to +15 dBm and four 10G channels at +3 dBm on the grid
   channels next to the quantum channel. The controller has to bring every link of the fibre back to
   its target; the time from the change until it has is measured;
4. **operator undoes the change** — the four channels off, the 100G channel back to its power; the
   controller has to give back what it took (powers, grid channels, quantum channels).

Throughout, every ``interval_s`` (0.2 s), the controller's view of the fibre (each link's measured
and predicted key rate and target, each classical channel's power and floor) and the emulator's own
key rates are sampled. Whatever happens, the fibre is left as it was found.

The report (``report.md``, ``report.json``, plots) has the phases, each link's key rate per phase
(min, mean), the time to target, the controller's actions and whether a channel went below its floor.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sdqkd.controller.client import ControllerClient
from sdqkd.emulator.client import EmulatorClient, EmulatorClientError
from sdqkd.errors import ConfigError
from sdqkd.scenarios.network import ScenarioNetwork
from sdqkd.scenarios.plots import (
    SpectrumChannel,
    SpectrumSnapshot,
)
from sdqkd.scenarios.sampler import Clock, Sampler, wall_time
from sdqkd.topology.models import ClassicalChannel

__all__ = [
    "ChannelSample",
    "CoexistenceRecord",
    "FibreSample",
    "LinkSample",
    "Phase",
    "run_coexistence",
]

RAISED_POWER_DBM = 15.0
"""What the operator sets the fibre's 100G channel to, dBm."""
ADDED_POWER_DBM = 3.0
"""The launch power of each 10G channel the operator adds, dBm."""
ADDED_OFFSETS = (-2, -1, 1, 2)
"""Where the operator adds them: grid channels this far from the quantum channel."""
_RATE_TOLERANCE_BPS = 1e-6
_POWER_TOLERANCE_DB = 0.01


@dataclass(frozen=True)
class LinkSample:
    """A QKD link of the fibre at one moment.

    Attributes:
        measured_bps: the key rate its agents report (None: on standby or not reported).
        predicted_bps: the key rate the controller predicts for its quantum channel.
        target_bps: its target (with the policy's margin).
        at_target: the controller's verdict (predicted and measured at target).
        emulator_bps: the pair's key rate at the emulator while it makes key (None: not making key:
            on standby, re-locking or re-synchronising).
    """

    link: str
    status: str
    dwdm_channel: int
    measured_bps: float | None
    predicted_bps: float
    target_bps: float
    at_target: bool
    emulator_bps: float | None

    @property
    def back_at_target(self) -> bool:
        """At target in the controller's view and at the emulator (when the pair makes key)."""
        return self.at_target and (
            self.emulator_bps is None or self.emulator_bps >= self.target_bps - _RATE_TOLERANCE_BPS
        )


@dataclass(frozen=True)
class ChannelSample:
    """A classical channel of the fibre at one moment (powers in dBm)."""

    id: str
    dwdm_channel: int | None
    actual_power_dbm: float
    requested_power_dbm: float
    floor_dbm: float


@dataclass(frozen=True)
class FibreSample:
    """The fibre at scenario time ``t_s``."""

    t_s: float
    links: tuple[LinkSample, ...]
    channels: tuple[ChannelSample, ...]

    def shows(self, channel_ids: Sequence[str]) -> bool:
        """Whether the controller's view has these classical channels."""
        present = {c.id for c in self.channels}
        return all(channel_id in present for channel_id in channel_ids)

    @property
    def at_target(self) -> bool:
        """Every link of the fibre back at its target."""
        return all(link.back_at_target for link in self.links)


@dataclass(frozen=True)
class Phase:
    """One phase of the scenario, in scenario seconds."""

    name: str
    start_s: float
    end_s: float


@dataclass
class CoexistenceRecord:
    """What a run of the scenario recorded (the report is made from it).

    Attributes:
        fibre: the fibre.
        time_scale: the emulated world's time scale.
        started_at: when the scenario started (UTC): actions are placed on its time axis from it.
        raised: the classical channel the operator raised, and its power before, dBm.
        added: the channels the operator added, by id, with their grid channel.
        original: each classical channel as found: (grid channel, launch power dBm).
        original_quantum: each link's quantum grid channel as found.
        change_s: when the operator's change was made (None: not reached).
        undo_s: when it was undone (None: not reached).
        restored_s: when the fibre was back as found after the undo (None: not within the timeout).
        policy: the controller's optical policy during the run (``protect-qkd`` or ``observe``).
    """

    fibre: str
    time_scale: float
    started_at: dt.datetime
    raised: tuple[str, float]
    added: dict[str, int] = field(default_factory=dict)
    original: dict[str, tuple[int | None, float]] = field(default_factory=dict)
    original_quantum: dict[str, int] = field(default_factory=dict)
    phases: list[Phase] = field(default_factory=list)
    samples: list[FibreSample] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    spectra: list[SpectrumSnapshot] = field(default_factory=list)
    change_s: float | None = None
    undo_s: float | None = None
    restored_s: float | None = None
    sampler_failures: int = 0
    policy: str | None = None


# Sampling ---------------------------------------------------------------------------------------------------


def _sample(t_s: float, fibre: dict[str, Any], emulator_bps: dict[str, float]) -> FibreSample:
    links = tuple(
        LinkSample(
            link=q["link"],
            status=q["status"],
            dwdm_channel=int(q["dwdm_channel"]),
            measured_bps=None if q["measured_skr_bps"] is None else float(q["measured_skr_bps"]),
            predicted_bps=float(q["predicted_skr_bps"]),
            target_bps=float(q["target_bps"]),
            at_target=bool(q["at_target"]),
            emulator_bps=emulator_bps.get(q["link"]),
        )
        for q in fibre["quantum_channels"]
    )
    channels = tuple(
        ChannelSample(
            id=c["id"],
            dwdm_channel=c["dwdm_channel"],
            actual_power_dbm=float(c["actual_power_dbm"]),
            requested_power_dbm=float(c["requested_power_dbm"]),
            floor_dbm=float(c["floor_dbm"]),
        )
        for c in fibre["classical_channels"]
    )
    return FibreSample(t_s, links, channels)


def _spectrum(title: str, fibre: dict[str, Any]) -> SpectrumSnapshot:
    classical = [
        SpectrumChannel(
            c["id"],
            float(c["frequency_thz"]),
            float(c["actual_power_dbm"]),
            float(c["requested_power_dbm"]),
            float(c["floor_dbm"]),
        )
        for c in fibre["classical_channels"]
    ]
    quantum = [(q["link"], float(q["frequency_thz"])) for q in fibre["quantum_channels"]]
    return SpectrumSnapshot(title, classical, quantum)


def _channel_spec(channel: dict[str, Any]) -> dict[str, Any]:
    """A channel of the plant's answer as a topology file writes it (what the plant takes back)."""
    return {k: v for k, v in channel.items() if k in ClassicalChannel.model_fields and v is not None}


def _is_back(sample: FibreSample, record: CoexistenceRecord) -> bool:
    """The fibre as found: every channel on its grid channel at its power, none added, quantum channels
    back, nothing lowered by the controller."""
    found = {c.id: c for c in sample.channels}
    if set(found) != set(record.original):
        return False
    for channel_id, (grid, power_dbm) in record.original.items():
        channel = found[channel_id]
        if channel.dwdm_channel != grid or abs(channel.actual_power_dbm - power_dbm) > _POWER_TOLERANCE_DB:
            return False
    return all(link.dwdm_channel == record.original_quantum.get(link.link) for link in sample.links)


def _neighbours(quantum: int, taken: set[int]) -> list[int]:
    return [
        quantum + offset
        for offset in ADDED_OFFSETS
        if 1 <= quantum + offset <= 99 and quantum + offset not in taken
    ]


def run_coexistence(
    network: ScenarioNetwork,
    fibre: str,
    phase_s: float,
    settle_timeout_s: float,
    say: Callable[[str], None],
    interval_s: float = 0.2,
) -> CoexistenceRecord:
    """Run the scenario on ``fibre`` of ``network`` (see the module's docstring); what it recorded.

    Raises:
        ConfigError: no such fibre, or one without a quantum channel or classical channels.
    """
    pairs = {(link.transmitter, link.receiver): link.id for link in network.topology.qkd_links}
    clock = Clock()
    started_at = clock.started_at
    with network.emulator() as plant, network.controller() as controller:
        view = controller.fibre(fibre)
        if not view["quantum_channels"] or not view["classical_channels"]:
            raise ConfigError(
                f"fibre {fibre!r} needs a quantum channel and classical channels for this scenario"
            )
        specs = [_channel_spec(c) for c in next(f for f in plant.fibres() if f["id"] == fibre)["channels"]]
        by_class = [c for c in view["classical_channels"] if c["rate_class"] == "100G"] or view[
            "classical_channels"
        ]
        quantum = int(view["quantum_channels"][0]["dwdm_channel"])
        taken = {int(c["dwdm_channel"]) for c in view["classical_channels"] if c["dwdm_channel"] is not None}
        record = CoexistenceRecord(
            fibre=fibre,
            time_scale=network.time_scale,
            started_at=started_at,
            raised=(by_class[0]["id"], float(by_class[0]["actual_power_dbm"])),
            added={f"op-10g-{n}": n for n in _neighbours(quantum, taken)},
            original={
                c["id"]: (c["dwdm_channel"], float(c["actual_power_dbm"])) for c in view["classical_channels"]
            },
            original_quantum={q["link"]: int(q["dwdm_channel"]) for q in view["quantum_channels"]},
        )
        record.policy = str(controller.policy()["mode"])
        with network.emulator() as sampler_plant, network.controller() as sampler_controller:

            def probe(t_s: float) -> FibreSample:
                rates = {
                    pairs[(p["transmitter"], p["receiver"])]: float(p["skr_bps"])
                    for p in sampler_plant.links()
                    if p["active"] and (p["transmitter"], p["receiver"]) in pairs
                }
                return _sample(t_s, sampler_controller.fibre(fibre), rates)

            with Sampler(probe, clock, interval_s) as sampler:
                try:
                    _phases(record, plant, specs, sampler, clock, phase_s, settle_timeout_s, say, controller)
                finally:
                    _put_back(plant, record, specs, say)
            record.samples = sampler.samples
            record.sampler_failures = sampler.failures
        record.actions = [a for a in controller.actions(1000) if wall_time(a["time"]) >= started_at]
    return record


def _phases(
    record: CoexistenceRecord,
    plant: EmulatorClient,
    specs: list[dict[str, Any]],
    sampler: Sampler[FibreSample],
    clock: Clock,
    phase_s: float,
    settle_timeout_s: float,
    say: Callable[[str], None],
    controller: ControllerClient,
) -> None:
    fibre, ids = record.fibre, [spec["id"] for spec in specs]

    def hold(name: str, start_s: float) -> None:
        time.sleep(phase_s)
        record.phases.append(Phase(name, start_s, clock.now_s()))

    start_s = clock.now_s()
    say(f"phase 1: {fibre} without classical load ({len(specs)} channels taken off at the plant)")
    for spec in specs:
        plant.remove_channel(fibre, spec["id"])
    sampler.wait_for(lambda s: not s.channels, settle_timeout_s)
    hold("no classical load", start_s)

    start_s = clock.now_s()
    say(f"phase 2: the {len(specs)} classical channels back")
    for spec in specs:
        plant.add_channel(fibre, spec)
    sampler.wait_for(lambda s: s.shows(ids) and s.at_target, settle_timeout_s)
    hold(f"{len(specs)} classical channels", start_s)
    record.spectra.append(
        _spectrum(f"{len(specs)} classical channels, before the change", controller.fibre(fibre))
    )

    raised, before_dbm = record.raised
    start_s = record.change_s = clock.now_s()
    say(
        f"phase 3: the operator sets {raised} to {RAISED_POWER_DBM:+g} dBm and adds "
        f"{len(record.added)} 10G channels at {ADDED_POWER_DBM:+g} dBm next to the quantum channel"
    )
    plant.set_power(fibre, raised, RAISED_POWER_DBM)
    for channel_id, grid in record.added.items():
        spec = {
            "id": channel_id,
            "dwdm_channel": grid,
            "launch_power_dbm": ADDED_POWER_DBM,
            "direction": "a_to_b",
            "rate_class": "10G",
            "label": "10G",
        }
        plant.add_channel(fibre, spec)
    added = list(record.added)
    back = sampler.wait_for(lambda s: s.shows(added) and s.at_target, settle_timeout_s)
    say(
        f"  every link on {fibre} back at target after {back.t_s - start_s:.2f} s"
        if back
        else f"  the links on {fibre} were not back at target within {settle_timeout_s:g} s"
    )
    record.spectra.append(
        _spectrum("after the operator's change, as the controller left it", controller.fibre(fibre))
    )
    hold("operator raises power and adds channels", start_s)

    start_s = record.undo_s = clock.now_s()
    say(
        f"phase 4: the operator takes the {len(added)} channels off and sets {raised} back to "
        f"{before_dbm:g} dBm"
    )
    for channel_id in added:
        plant.remove_channel(fibre, channel_id)
    plant.set_power(fibre, raised, before_dbm)
    restored = sampler.wait_for(lambda s: _is_back(s, record), settle_timeout_s)
    record.restored_s = restored.t_s if restored else None
    hold("operator undoes the change", start_s)


def _put_back(
    plant: EmulatorClient, record: CoexistenceRecord, specs: list[dict[str, Any]], say: Callable[[str], None]
) -> None:
    """Leave the fibre as it was found, whatever happened (the plant may be gone: then say so)."""
    try:
        present = {c["id"] for c in next(f for f in plant.fibres() if f["id"] == record.fibre)["channels"]}
        for channel_id in set(record.added) & present:
            plant.remove_channel(record.fibre, channel_id)
        for spec in specs:
            if spec["id"] not in present:
                plant.add_channel(record.fibre, spec)
        raised, before_dbm = record.raised
        plant.set_power(record.fibre, raised, before_dbm)
    except EmulatorClientError as exc:
        say(f"could not put {record.fibre} back as it was found: {exc}")
