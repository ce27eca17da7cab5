"""From a device profile (:class:`sdqkd.topology.DeviceProfile`) to what the pipeline runs on: the
link's :class:`~sdqkd.postproc.quadratures.LinkParameters` and the block's
:class:`~sdqkd.postproc.pipeline.ProtocolSettings`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sdqkd.postproc.pipeline import ProtocolSettings
from sdqkd.postproc.quadratures import LinkParameters
from sdqkd.topology.models import DeviceProfile

__all__ = ["link_parameters", "protocol_settings"]


def link_parameters(profile: DeviceProfile, transmittance: float, excess_noise_snu: float) -> LinkParameters:
    """The profile's modulation and detector over a channel of ``transmittance`` and total excess
    noise ``excess_noise_snu`` (the device's own plus Raman, at the channel input)."""
    return LinkParameters(
        modulation_variance_snu=profile.modulation_variance_snu,
        transmittance=transmittance,
        excess_noise_snu=excess_noise_snu,
        efficiency=profile.efficiency,
        electronic_noise_snu=profile.electronic_noise_snu,
    )


def protocol_settings(profile: DeviceProfile, **overrides: Any) -> ProtocolSettings:
    """The profile's detection, detector, block size and security parameters, and its reconciliation
    efficiency as the β the code rate is chosen for; ``overrides`` replace any
    :class:`ProtocolSettings` field (``block_symbols`` defaults to the profile's block size)."""
    base = ProtocolSettings(
        detection=profile.detection,
        detector=profile.detector,
        pe_fraction=profile.pe_fraction,
        epsilon_pe=profile.epsilon_pe,
        epsilon_smooth=profile.epsilon_smooth,
        epsilon_pa=profile.epsilon_pa,
        target_efficiency=profile.reconciliation_efficiency,
    )
    if profile.block_size is not None and "block_symbols" not in overrides:
        overrides["block_symbols"] = round(profile.block_size)
    return replace(base, **overrides)
