"""A plan of a whole topology: one row of figures per QKD link (what ``sdqkd plan`` prints)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sdqkd.planning.budget import LinkBudget, link_budget
from sdqkd.planning.margins import Margins, co_propagation_margins
from sdqkd.topology.models import Topology
from sdqkd.units import w_to_dbm

__all__ = ["DEFAULT_TARGET_RATE_BPS", "LinkPlan", "Plan", "plan_topology"]

#: Target key rate for links that set none and when the user gives none, bit/s.
DEFAULT_TARGET_RATE_BPS = 1000.0


@dataclass(frozen=True)
class LinkPlan:
    """The plan of one QKD link: its budget, target and margins."""

    budget: LinkBudget
    target_rate_bps: float
    margins: Margins

    @property
    def plob_fraction(self) -> float:
        """Secret key per symbol over the PLOB bound for the link's T (0 where no key)."""
        key = float(self.budget.result.key_bits_per_symbol)
        bound = float(self.budget.result.plob_bits_per_use)
        return max(key, 0.0) / bound if bound > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready figures (non-finite numbers become None)."""
        b, r = self.budget, self.budget.result
        load = b.load
        return {
            "id": b.link.id,
            "transmitter_node": b.transmitter_node,
            "receiver_node": b.receiver_node,
            "fibre": b.fibre.id,
            "switches": list(b.switches),
            "connected": b.connected,
            "length_km": b.fibre.length_km,
            "loss_db": b.loss_db,
            "transmittance": b.transmittance,
            "quantum_dwdm_channel": b.quantum_channel,
            "classical_channels": load.count,
            "co_propagating_channels": load.forward_count,
            "classical_launch_power_dbm": _finite(float(w_to_dbm(load.total_launch_power_w)))
            if load.count
            else None,
            "raman_photons_per_mode": b.raman_photons_per_mode,
            "raman_excess_noise_snu": b.raman_noise_snu,
            "device_excess_noise_snu": b.profile.excess_noise_snu,
            "excess_noise_snu": b.total_excess_noise_snu,
            "snr": float(r.snr),
            "i_ab": float(r.i_ab),
            "chi_be": _finite(float(r.chi_be)),
            "key_bits_per_symbol": _finite(float(r.key_bits_per_symbol)),
            "secret_key_rate_bps": b.secret_key_rate_bps,
            "plob_bits_per_use": _finite(float(r.plob_bits_per_use)),
            "plob_fraction": self.plob_fraction,
            "target_rate_bps": self.target_rate_bps,
            "meets_target": b.secret_key_rate_bps >= self.target_rate_bps,
            "max_classical_power_for_target_dbm": _margin(self.margins.max_power_for_target_dbm),
            "max_classical_power_for_key_dbm": _margin(self.margins.max_power_for_key_dbm),
            "margin_reference_load": self.margins.reference_load,
            "profile": b.profile.id,
            "finite_size_block": b.profile.block_size,
        }


@dataclass(frozen=True)
class Plan:
    """The plan of a topology."""

    topology: Topology
    links: list[LinkPlan]

    def to_dict(self) -> dict[str, Any]:
        return {
            "topology": self.topology.name,
            "links": [link.to_dict() for link in self.links],
        }


def plan_topology(topology: Topology, target_rate_bps: float | None = None) -> Plan:
    """Plan every QKD link of a topology.

    Args:
        topology: the network.
        target_rate_bps: target key rate for every link, bit/s; None → each link's own
            ``target_rate_bps``, else :data:`DEFAULT_TARGET_RATE_BPS`.
    """
    rows = []
    for link in topology.qkd_links:
        target = target_rate_bps if target_rate_bps is not None else link.target_rate_bps
        target = DEFAULT_TARGET_RATE_BPS if target is None else target
        budget = link_budget(topology, link)
        rows.append(
            LinkPlan(budget=budget, target_rate_bps=target, margins=co_propagation_margins(budget, target))
        )
    return Plan(topology=topology, links=rows)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _margin(value: float | None) -> float | str | None:
    """A margin for JSON: dBm, ``"unlimited"`` when any power is tolerated, None when no power is."""
    if value is None:
        return None
    return "unlimited" if math.isinf(value) else value
