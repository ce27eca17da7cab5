"""Link budgets: loss with switches, Raman noise by direction and power, and the Madrid calibration."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from sdqkd.physics import (
    backward_raman_power_w,
    forward_raman_power_w,
    raman_photons_per_mode,
    transmittance_from_loss_db,
)
from sdqkd.planning import LinkPlan, Plan, link_budget
from sdqkd.planning.budget import LinkBudget, raman_model_of
from sdqkd.topology import Topology
from sdqkd.topology.models import quantum_wavelength_nm
from sdqkd.units import dbm_to_w, dwdm_channel_to_frequency_thz


def _row(plan: Plan, link_id: str) -> LinkPlan:
    return next(row for row in plan.links if row.budget.link.id == link_id)


def _only_budget(topology: Topology) -> LinkBudget:
    (link,) = topology.qkd_links
    return link_budget(topology, link)


# The Madrid plan ------------------------------------------------------------------------------------


def test_madrid_plan_has_one_row_per_qkd_link(madrid_plan: Plan) -> None:
    assert [row.budget.link.id for row in madrid_plan.links] == [
        "concepcion-norte",
        "concepcion-quintin",
        "norte-quintin",
    ]


def test_madrid_links_make_a_finite_size_key_of_40_to_70_kbit_per_second(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        assert row.budget.profile.block_size is not None, row.budget.link.id
        assert 40e3 <= row.budget.secret_key_rate_bps <= 70e3, row.budget.link.id


def test_madrid_links_carry_raman_noise_from_their_seventeen_classical_channels(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        assert row.budget.load.count == 17, row.budget.link.id
        assert row.budget.raman_photons_per_mode > 0, row.budget.link.id
        assert row.budget.raman_noise_snu > 0, row.budget.link.id


def test_total_excess_noise_is_the_device_noise_plus_the_raman_noise(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        budget = row.budget
        assert budget.total_excess_noise_snu == pytest.approx(
            budget.profile.excess_noise_snu + budget.raman_noise_snu, rel=1e-12
        )


def test_raman_noise_is_the_photons_at_the_receiver_referred_to_the_channel_input(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        budget = row.budget
        assert budget.raman_noise_snu == pytest.approx(
            budget.raman_photons_per_mode / budget.transmittance, rel=1e-12
        )


def test_switched_link_is_connected_only_on_the_port_the_switch_is_set_to(madrid_plan: Plan) -> None:
    connected = {row.budget.link.id: row.budget.connected for row in madrid_plan.links}
    assert connected == {"concepcion-norte": True, "concepcion-quintin": False, "norte-quintin": True}


def test_disconnected_switched_link_is_still_planned_as_if_connected(madrid_plan: Plan) -> None:
    budget = _row(madrid_plan, "concepcion-quintin").budget
    assert budget.switches == ("concepcion-switch",)
    assert budget.secret_key_rate_bps > 0


def test_switched_link_loss_includes_the_switch_insertion_loss(madrid_plan: Plan) -> None:
    budget = _row(madrid_plan, "concepcion-norte").budget
    assert budget.switches == ("concepcion-switch",)
    assert budget.loss_db == pytest.approx(budget.fibre.loss_db + 1.0, rel=1e-12)
    assert budget.loss_db == pytest.approx(2.9 + 1.0, rel=1e-6)  # published 2.9 dB span + 1 dB switch
    assert budget.transmittance == pytest.approx(10 ** (-budget.loss_db / 10), rel=1e-12)


@pytest.mark.parametrize(
    ("link_id", "loss_db"),
    [
        ("concepcion-quintin", 5.0 * 0.3 + 1.0 + 1.0),  # fibre, patches, switch
        ("norte-quintin", 7.5 * 0.3 + 1.0),  # fibre, patches; no switch
    ],
)
def test_link_loss_is_fibre_plus_lumped_plus_switch_losses(
    madrid_plan: Plan, link_id: str, loss_db: float
) -> None:
    assert _row(madrid_plan, link_id).budget.loss_db == pytest.approx(loss_db, rel=1e-12)


def test_unswitched_link_names_no_switch(madrid_plan: Plan) -> None:
    assert _row(madrid_plan, "norte-quintin").budget.switches == ()


# Raman noise: direction, power, absence ---------------------------------------------------------------


def test_channel_travelling_from_the_transmitter_to_the_receiver_is_forward(
    two_node_topology: Callable[..., Topology],
) -> None:
    budget = _only_budget(two_node_topology(transmitter_node="a", channel_direction="a_to_b"))
    assert budget.transmitter_node == "a"
    assert budget.receiver_node == "b"
    assert budget.load.forward.tolist() == [1.0]
    assert budget.load.forward_count == 1


def test_channel_travelling_towards_the_transmitter_is_backward(
    two_node_topology: Callable[..., Topology],
) -> None:
    budget = _only_budget(two_node_topology(transmitter_node="a", channel_direction="b_to_a"))
    assert budget.load.forward.tolist() == [0.0]
    assert budget.load.forward_count == 0


def test_direction_is_judged_from_the_transmitter_not_from_the_fibre_ends(
    two_node_topology: Callable[..., Topology],
) -> None:
    forward = _only_budget(two_node_topology(transmitter_node="b", channel_direction="b_to_a"))
    backward = _only_budget(two_node_topology(transmitter_node="b", channel_direction="a_to_b"))
    assert forward.load.forward.tolist() == [1.0]
    assert backward.load.forward.tolist() == [0.0]


def _expected_photons(budget: LinkBudget, forward: bool) -> float:
    """n̄ from the Eraerds 2010 forward/backward formulas for the budget's one classical channel."""
    fibre, profile = budget.fibre, budget.profile
    (channel,) = fibre.classical_channels
    rho = raman_model_of(profile).cross_section_per_km_nm(
        channel.frequency_thz, dwdm_channel_to_frequency_thz(budget.quantum_channel)
    )
    raman_power = forward_raman_power_w if forward else backward_raman_power_w
    power_w = raman_power(
        dbm_to_w(channel.launch_power_dbm),
        fibre.length_km,
        fibre.attenuation_db_per_km,
        rho,
        profile.receiver_bandwidth_nm,
    )
    return float(
        raman_photons_per_mode(
            power_w, quantum_wavelength_nm(budget.quantum_channel), profile.receiver_bandwidth_nm
        )
    )


@pytest.mark.parametrize("direction", ["a_to_b", "b_to_a"])
def test_raman_photons_follow_the_forward_or_backward_formula(
    two_node_topology: Callable[..., Topology], direction: str
) -> None:
    budget = _only_budget(two_node_topology(channel_direction=direction))
    expected = _expected_photons(budget, forward=direction == "a_to_b")
    assert expected > 0
    assert budget.raman_photons_per_mode == pytest.approx(expected, rel=1e-12)


def test_backward_raman_noise_differs_from_forward(two_node_topology: Callable[..., Topology]) -> None:
    forward = _only_budget(two_node_topology(channel_direction="a_to_b"))
    backward = _only_budget(two_node_topology(channel_direction="b_to_a"))
    assert forward.raman_photons_per_mode > 0
    assert backward.raman_photons_per_mode > 0
    assert backward.raman_photons_per_mode != pytest.approx(forward.raman_photons_per_mode, rel=1e-3)
    # Over 10 km at 0.2 dB/km, backward scattering collects (1 − e^(−2αL))/(2α) ≈ 8.1 km of
    # effective length against L·e^(−αL) ≈ 6.3 km forward.
    assert backward.raman_photons_per_mode > forward.raman_photons_per_mode


@pytest.mark.parametrize("direction", ["a_to_b", "b_to_a"])
def test_raman_photons_scale_linearly_with_launch_power(
    two_node_topology: Callable[..., Topology], direction: str
) -> None:
    low = _only_budget(two_node_topology(channel_direction=direction, channel_power_dbm=-3.0))
    high = _only_budget(two_node_topology(channel_direction=direction, channel_power_dbm=7.0))  # 10× power
    assert high.raman_photons_per_mode / low.raman_photons_per_mode == pytest.approx(10.0, rel=1e-12)
    assert high.raman_noise_snu / low.raman_noise_snu == pytest.approx(10.0, rel=1e-12)


def test_raman_noise_lowers_the_key_rate(two_node_topology: Callable[..., Topology]) -> None:
    quiet = _only_budget(two_node_topology(channel_power_dbm=-10.0))
    loud = _only_budget(two_node_topology(channel_power_dbm=10.0))
    assert loud.secret_key_rate_bps < quiet.secret_key_rate_bps


def test_fibre_without_classical_channels_adds_no_raman_noise(
    two_node_topology: Callable[..., Topology],
) -> None:
    budget = _only_budget(two_node_topology(channel_direction=None))
    assert budget.load.count == 0
    assert budget.raman_photons_per_mode == 0.0
    assert budget.raman_noise_snu == 0.0
    assert budget.total_excess_noise_snu == budget.profile.excess_noise_snu


def test_link_on_its_own_quantum_channel_sees_a_different_raman_noise(
    two_node_topology: Callable[..., Topology],
) -> None:
    default = _only_budget(two_node_topology())
    own = _only_budget(two_node_topology(quantum_dwdm_channel=50))
    assert own.quantum_channel == 50
    assert own.raman_photons_per_mode == pytest.approx(_expected_photons(own, forward=True), rel=1e-12)
    assert own.raman_photons_per_mode != pytest.approx(default.raman_photons_per_mode, rel=1e-3)


def test_link_budget_of_a_plain_fibre_uses_its_loss_and_the_profile_default_channel(
    two_node_topology: Callable[..., Topology],
) -> None:
    budget = _only_budget(two_node_topology(length_km=25.0))
    assert budget.switches == ()
    assert budget.connected is True
    assert budget.loss_db == pytest.approx(5.0, rel=1e-12)
    assert budget.transmittance == pytest.approx(float(transmittance_from_loss_db(5.0)), rel=1e-12)
    assert budget.quantum_channel == budget.profile.default_quantum_dwdm_channel
    assert math.isfinite(budget.secret_key_rate_bps)
    assert np.isfinite(budget.raman_noise_snu)
