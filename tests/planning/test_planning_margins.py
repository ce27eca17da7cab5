"""Co-propagation margins: the classical power at which a link falls to its target and to no key."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest

from sdqkd.planning import LinkPlan, Plan, co_propagation_margins, key_rate_for, link_budget
from sdqkd.planning.budget import ClassicalLoad, LinkBudget, raman_photons
from sdqkd.planning.margins import margin_load, rate_at_scale
from sdqkd.topology import Topology


def _only_budget(topology: Topology) -> LinkBudget:
    (link,) = topology.qkd_links
    return link_budget(topology, link)


def _scale_for(load: ClassicalLoad, total_power_dbm: float) -> float:
    """The factor that takes the load's total launch power to ``total_power_dbm``."""
    return 10 ** (total_power_dbm / 10) * 1e-3 / load.total_launch_power_w


def _key_bits_at_scale(budget: LinkBudget, load: ClassicalLoad, scale: float) -> float:
    photons = raman_photons(load, budget.fibre, budget.profile, budget.quantum_channel, scale)
    xi = budget.profile.excess_noise_snu + photons / budget.transmittance
    return float(key_rate_for(budget.profile, budget.transmittance, xi).key_bits_per_symbol)


def test_key_rate_at_the_target_margin_equals_the_target(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        power_dbm = row.margins.max_power_for_target_dbm
        assert power_dbm is not None
        assert math.isfinite(power_dbm)
        scale = _scale_for(row.budget.load, power_dbm)
        rate = float(rate_at_scale(row.budget, scale))
        assert rate == pytest.approx(row.target_rate_bps, rel=1e-6), row.budget.link.id


def test_key_bits_at_the_key_margin_are_zero(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        power_dbm = row.margins.max_power_for_key_dbm
        assert power_dbm is not None
        assert math.isfinite(power_dbm)
        scale = _scale_for(row.budget.load, power_dbm)
        assert _key_bits_at_scale(row.budget, row.budget.load, scale) == pytest.approx(0.0, abs=1e-9)
        # Just below the margin a key is made, just above none is.
        assert float(rate_at_scale(row.budget, scale * (1 - 1e-6))) > 0, row.budget.link.id
        assert float(rate_at_scale(row.budget, scale * (1 + 1e-6))) == 0.0, row.budget.link.id


def test_link_tolerates_more_classical_power_for_some_key_than_for_its_target(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        for_target, for_key = row.margins.max_power_for_target_dbm, row.margins.max_power_for_key_dbm
        assert for_target is not None
        assert for_key is not None
        assert for_key > for_target, row.budget.link.id


def test_madrid_links_meeting_their_target_have_headroom_above_their_current_load(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        assert row.budget.secret_key_rate_bps >= row.target_rate_bps
        current_dbm = 10 * math.log10(row.budget.load.total_launch_power_w / 1e-3)
        assert row.margins.max_power_for_target_dbm is not None
        assert row.margins.max_power_for_target_dbm > current_dbm, row.budget.link.id


def test_rate_at_unit_scale_is_the_key_rate_at_the_current_load(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        assert float(rate_at_scale(row.budget, 1.0)) == pytest.approx(
            row.budget.secret_key_rate_bps, rel=1e-12
        )


def test_key_rate_never_rises_with_classical_power(madrid_plan: Plan) -> None:
    scales = np.concatenate([[0.0], np.geomspace(1e-4, 1e4, 400)])
    for row in madrid_plan.links:
        rates = rate_at_scale(row.budget, scales)
        assert rates.shape == scales.shape
        assert rates[0] > rates[-1] == 0.0, row.budget.link.id
        assert np.all(np.diff(rates) <= 0.0), row.budget.link.id


def test_higher_target_leaves_less_room_for_classical_power(madrid_plan: Plan) -> None:
    budget = madrid_plan.links[0].budget
    low, high = co_propagation_margins(budget, 20e3), co_propagation_margins(budget, 40e3)
    assert low.max_power_for_target_dbm is not None
    assert high.max_power_for_target_dbm is not None
    assert low.max_power_for_target_dbm > high.max_power_for_target_dbm
    assert low.max_power_for_key_dbm == high.max_power_for_key_dbm


def test_link_missing_the_target_without_classical_light_has_no_target_margin(madrid_plan: Plan) -> None:
    budget = madrid_plan.links[0].budget
    unreachable_bps = 10 * float(rate_at_scale(budget, 0.0))
    margins = co_propagation_margins(budget, unreachable_bps)
    assert margins.max_power_for_target_dbm is None
    assert margins.max_power_for_key_dbm is not None
    assert math.isfinite(margins.max_power_for_key_dbm)


def test_link_making_no_key_without_classical_light_has_no_margin_at_all(
    two_node_topology: Callable[..., Topology],
) -> None:
    budget = _only_budget(two_node_topology(length_km=150.0))  # 30 dB: beyond the finite-size reach
    assert float(rate_at_scale(budget, 0.0)) == 0.0
    margins = co_propagation_margins(budget, 1000.0)
    assert margins.max_power_for_target_dbm is None
    assert margins.max_power_for_key_dbm is None


def test_fibre_without_classical_channels_is_given_the_reference_load(
    two_node_topology: Callable[..., Topology],
) -> None:
    budget = _only_budget(two_node_topology(channel_direction=None))
    load, reference = margin_load(budget)
    assert reference is True
    assert load.count == 1
    assert load.forward.tolist() == [1.0]
    assert load.total_launch_power_w == pytest.approx(1e-3)  # 0 dBm
    margins = co_propagation_margins(budget, 1000.0)
    assert margins.reference_load is True
    assert margins.max_power_for_target_dbm is not None
    assert math.isfinite(margins.max_power_for_target_dbm)
    scale = _scale_for(load, margins.max_power_for_target_dbm)
    assert float(rate_at_scale(budget, scale, load)) == pytest.approx(1000.0, rel=1e-6)


def test_reference_load_margin_matches_one_real_channel_of_the_same_kind(
    two_node_topology: Callable[..., Topology],
) -> None:
    # The reference load is one 0 dBm forward channel on DWDM ch 35: a fibre carrying exactly that
    # channel has the same margins, now without the reference flag.
    empty = co_propagation_margins(_only_budget(two_node_topology(channel_direction=None)), 1000.0)
    loaded = co_propagation_margins(_only_budget(two_node_topology(channel_direction="a_to_b")), 1000.0)
    assert loaded.reference_load is False
    assert empty.max_power_for_target_dbm == pytest.approx(loaded.max_power_for_target_dbm, abs=1e-6)
    assert empty.max_power_for_key_dbm == pytest.approx(loaded.max_power_for_key_dbm, abs=1e-6)


def test_fibre_with_classical_channels_uses_its_own_load(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        load, reference = margin_load(row.budget)
        assert reference is False
        assert load is row.budget.load
        assert row.margins.reference_load is False


def test_link_immune_to_raman_tolerates_unlimited_classical_power(madrid_plan: Plan) -> None:
    row = madrid_plan.links[0]
    profile = row.budget.profile.model_copy(update={"raman_cross_section_per_km_nm": 0.0})
    budget = dataclasses.replace(row.budget, profile=profile)
    margins = co_propagation_margins(budget, row.target_rate_bps)
    assert margins.max_power_for_target_dbm == math.inf
    assert margins.max_power_for_key_dbm == math.inf
    figures = LinkPlan(budget=budget, target_rate_bps=row.target_rate_bps, margins=margins).to_dict()
    assert figures["max_classical_power_for_target_dbm"] == "unlimited"
    assert figures["max_classical_power_for_key_dbm"] == "unlimited"
