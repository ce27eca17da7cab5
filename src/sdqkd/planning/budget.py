"""Link budgets: from a topology's QKD link to the physics of its channel and its key rate.

For a QKD link the budget gathers the fibre loss, the switch insertion losses on the way, the Raman
noise of every classical channel on the same fibre (forward if it travels from the transmitter's
node to the receiver's, backward otherwise), and evaluates the device profile's GG02 key rate.

Conventions:
- Lumped losses (the fibre's ``extra_loss_db`` and switch insertion losses) reduce the quantum
  signal but not the Raman light, which is generated along the fibre: a conservative choice, as it
  refers all of the Raman noise to the channel input through the full loss.
- A switched link is evaluated as if its switch were connected to it (the plan shows the rate the
  link makes while connected; ``connected`` says whether it is now).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from sdqkd.physics import (
    FiniteSizeSecurity,
    KeyRateResult,
    NoiseBudget,
    RamanModel,
    evaluate_key_rate,
    noise_budget,
    transmittance_from_loss_db,
)
from sdqkd.physics._arrays import Array
from sdqkd.topology.models import (
    ClassicalChannel,
    DeviceProfile,
    Direction,
    Fibre,
    QkdLink,
    Topology,
)
from sdqkd.units import dbm_to_w, dwdm_channel_to_frequency_thz

__all__ = [
    "ClassicalLoad",
    "LinkBudget",
    "finite_size_of",
    "key_rate_for",
    "link_budget",
    "load_noise",
    "raman_model_of",
    "raman_photons",
]


@dataclass(frozen=True)
class ClassicalLoad:
    """The classical channels sharing a QKD link's fibre, as arrays (one entry per channel)."""

    channel_ids: tuple[str, ...]
    frequency_thz: Array
    launch_power_w: Array
    forward: Array  # 1.0 where the channel travels with the quantum signal, else 0.0

    @property
    def total_launch_power_w(self) -> float:
        return float(np.sum(self.launch_power_w))

    @property
    def count(self) -> int:
        return len(self.channel_ids)

    @property
    def forward_count(self) -> int:
        return int(np.sum(self.forward))


@dataclass(frozen=True)
class LinkBudget:
    """Everything the plan says about one QKD link.

    Attributes:
        link: the QKD link.
        fibre: the fibre it runs over.
        profile: its device profile.
        transmitter_node, receiver_node: node ids.
        switches: ids of the switches on the way.
        connected: False if a switch on the way is cross-connected elsewhere (or open) now.
        quantum_channel: DWDM channel of the quantum signal.
        loss_db: fibre + lumped + switch insertion losses, dB.
        load: the classical channels on the fibre.
        raman_photons_per_mode: n̄ at the receiver, both polarisations.
        raman_noise_snu: Raman excess noise referred to the channel input, SNU.
        result: the GG02 figures at the current load.
    """

    link: QkdLink
    fibre: Fibre
    profile: DeviceProfile
    transmitter_node: str
    receiver_node: str
    switches: tuple[str, ...]
    connected: bool
    quantum_channel: int
    loss_db: float
    load: ClassicalLoad
    raman_photons_per_mode: float
    raman_noise_snu: float
    result: KeyRateResult

    @property
    def transmittance(self) -> float:
        return float(self.result.transmittance)

    @property
    def total_excess_noise_snu(self) -> float:
        return float(self.result.excess_noise_snu)

    @property
    def secret_key_rate_bps(self) -> float:
        return float(self.result.secret_key_rate_bps)


def raman_model_of(profile: DeviceProfile) -> RamanModel:
    """The Raman model a device profile assumes."""
    return RamanModel(
        reference_cross_section_per_km_nm=profile.raman_cross_section_per_km_nm,
        reference_detuning_thz=profile.raman_reference_detuning_thz,
        fibre_temperature_k=profile.fibre_temperature_k,
    )


def finite_size_of(profile: DeviceProfile) -> FiniteSizeSecurity | None:
    """The finite-size security parameters of a profile (None: asymptotic)."""
    if profile.block_size is None:
        return None
    return FiniteSizeSecurity(
        block_size=profile.block_size,
        pe_fraction=profile.pe_fraction,
        epsilon_pe=profile.epsilon_pe,
        epsilon_smooth=profile.epsilon_smooth,
        epsilon_pa=profile.epsilon_pa,
    )


def key_rate_for(
    profile: DeviceProfile, transmittance: ArrayLike, excess_noise_snu: ArrayLike
) -> KeyRateResult:
    """GG02 figures of a device profile over a channel (T, ξ total at the channel input)."""
    return evaluate_key_rate(
        transmittance=transmittance,
        excess_noise_snu=excess_noise_snu,
        modulation_variance_snu=profile.modulation_variance_snu,
        efficiency=profile.efficiency,
        electronic_noise_snu=profile.electronic_noise_snu,
        reconciliation_efficiency=profile.reconciliation_efficiency,
        symbol_rate_bd=profile.symbol_rate_bd,
        frame_error_rate=profile.frame_error_rate,
        detection=profile.detection,
        detector=profile.detector,
        finite_size=finite_size_of(profile),
    )


def _classical_load(fibre: Fibre, transmitter_node: str) -> ClassicalLoad:
    channels: list[ClassicalChannel] = fibre.classical_channels
    towards_b = transmitter_node == fibre.a
    return ClassicalLoad(
        channel_ids=tuple(c.id for c in channels),
        frequency_thz=np.array([c.frequency_thz for c in channels], dtype=np.float64),
        launch_power_w=np.array([dbm_to_w(c.launch_power_dbm) for c in channels], dtype=np.float64),
        forward=np.array(
            [1.0 if (c.direction is Direction.A_TO_B) == towards_b else 0.0 for c in channels],
            dtype=np.float64,
        ),
    )


def load_noise(
    load: ClassicalLoad,
    fibre: Fibre,
    profile: DeviceProfile,
    quantum_channel: int,
    transmittance: float,
    scale: ArrayLike = 1.0,
) -> NoiseBudget:
    """The noise budget of a link whose classical powers are multiplied by ``scale`` (broadcasts
    over ``scale``)."""
    scale_arr = np.asarray(scale, dtype=np.float64)
    return noise_budget(
        device_excess_noise_snu=profile.excess_noise_snu * np.ones_like(scale_arr),
        transmittance=transmittance,
        length_km=fibre.length_km,
        attenuation_db_per_km=fibre.attenuation_db_per_km,
        quantum_frequency_thz=dwdm_channel_to_frequency_thz(quantum_channel),
        classical_frequency_thz=load.frequency_thz,
        classical_launch_power_w=np.expand_dims(scale_arr, -1) * load.launch_power_w,
        classical_forward=load.forward,
        receiver_bandwidth_nm=profile.receiver_bandwidth_nm,
        raman=raman_model_of(profile),
    )


def raman_photons(
    load: ClassicalLoad, fibre: Fibre, profile: DeviceProfile, quantum_channel: int, scale: ArrayLike = 1.0
) -> Array:
    """Raman photons per mode at the receiver from a classical load whose powers are multiplied by
    ``scale`` (broadcasts over ``scale``)."""
    return load_noise(load, fibre, profile, quantum_channel, 1.0, scale).raman_photons_per_mode


def link_budget(topology: Topology, link: QkdLink) -> LinkBudget:
    """The budget of one QKD link of a topology at its current classical load."""
    fibre, hops = topology.link_path(link)
    transmitter = topology.module(link.transmitter)
    receiver = topology.module(link.receiver)
    profile = topology.profile(transmitter.profile)
    channel = link.quantum_dwdm_channel or profile.default_quantum_dwdm_channel
    loss = fibre.loss_db + sum(switch.insertion_loss_db for switch, _ in hops)
    t = float(transmittance_from_loss_db(loss))
    load = _classical_load(fibre, transmitter.node)
    noise = load_noise(load, fibre, profile, channel, t)
    photons, raman_xi = float(noise.raman_photons_per_mode), float(noise.raman_snu)
    result = key_rate_for(profile, t, noise.total_snu)
    return LinkBudget(
        link=link,
        fibre=fibre,
        profile=profile,
        transmitter_node=transmitter.node,
        receiver_node=receiver.node,
        switches=tuple(switch.id for switch, _ in hops),
        connected=all(switch.connected_port == port.id for switch, port in hops),
        quantum_channel=channel,
        loss_db=loss,
        load=load,
        raman_photons_per_mode=photons,
        raman_noise_snu=raman_xi,
        result=result,
    )
