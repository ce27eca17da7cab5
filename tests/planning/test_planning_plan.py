"""Plans of whole topologies: targets, and figures that serialise to strict JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest

from sdqkd.cli.output import to_json_value
from sdqkd.planning import DEFAULT_TARGET_RATE_BPS, Plan, plan_topology
from sdqkd.topology import Topology, load_topology

_LINK_FIELDS = {
    "id",
    "connected",
    "length_km",
    "loss_db",
    "transmittance",
    "raman_excess_noise_snu",
    "device_excess_noise_snu",
    "excess_noise_snu",
    "snr",
    "i_ab",
    "chi_be",
    "key_bits_per_symbol",
    "secret_key_rate_bps",
    "plob_bits_per_use",
    "plob_fraction",
    "target_rate_bps",
    "meets_target",
    "max_classical_power_for_target_dbm",
    "max_classical_power_for_key_dbm",
    "margin_reference_load",
}


def _strict_json(plan: Plan) -> str:
    return json.dumps(to_json_value(plan.to_dict()), allow_nan=False)


def test_madrid_plan_serialises_to_strict_json(madrid_plan: Plan) -> None:
    data = json.loads(_strict_json(madrid_plan))
    assert data["topology"] == "madrid"
    assert [link["id"] for link in data["links"]] == [row.budget.link.id for row in madrid_plan.links]
    for link in data["links"]:
        assert _LINK_FIELDS - link.keys() == set()


def test_plan_of_a_link_without_key_or_classical_channels_serialises_to_strict_json(
    two_node_topology: Callable[..., Topology],
) -> None:
    plan = plan_topology(two_node_topology(length_km=150.0, channel_direction=None))
    (link,) = json.loads(_strict_json(plan))["links"]
    assert link["secret_key_rate_bps"] == 0.0
    assert link["classical_launch_power_dbm"] is None
    assert link["max_classical_power_for_target_dbm"] is None
    assert link["max_classical_power_for_key_dbm"] is None
    assert link["margin_reference_load"] is True
    assert link["meets_target"] is False


def test_plan_figures_agree_with_the_link_budgets(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        figures = row.to_dict()
        assert figures["secret_key_rate_bps"] == row.budget.secret_key_rate_bps
        assert figures["raman_excess_noise_snu"] == row.budget.raman_noise_snu
        assert figures["excess_noise_snu"] == row.budget.total_excess_noise_snu
        assert figures["loss_db"] == row.budget.loss_db
        assert figures["max_classical_power_for_target_dbm"] == row.margins.max_power_for_target_dbm
        # 16 × 10G at −3 dBm and 1 × 100G at 0 dBm
        total_mw = 16 * 10 ** (-3.0 / 10) + 1.0
        assert figures["classical_launch_power_dbm"] == pytest.approx(10 * math.log10(total_mw), rel=1e-12)


def test_plob_fraction_is_the_key_over_the_plob_bound(madrid_plan: Plan) -> None:
    for row in madrid_plan.links:
        result = row.budget.result
        expected = float(result.key_bits_per_symbol) / float(result.plob_bits_per_use)
        assert row.plob_fraction == pytest.approx(expected, rel=1e-12)
        assert 0 < row.plob_fraction < 1


def test_links_keep_their_own_targets_unless_one_is_given() -> None:
    madrid = load_topology("madrid")
    assert {row.target_rate_bps for row in plan_topology(madrid).links} == {40e3}
    assert {row.target_rate_bps for row in plan_topology(madrid, 60e3).links} == {60e3}


def test_links_without_a_target_get_the_default_target(two_node_topology: Callable[..., Topology]) -> None:
    (row,) = plan_topology(two_node_topology()).links
    assert row.target_rate_bps == DEFAULT_TARGET_RATE_BPS


def test_a_target_above_the_key_rate_is_reported_as_missed(madrid_plan: Plan) -> None:
    plan = plan_topology(madrid_plan.topology, 60e3)
    assert [row.to_dict()["meets_target"] for row in plan.links] == [
        row.budget.secret_key_rate_bps >= 60e3 for row in plan.links
    ]
    assert not all(row.to_dict()["meets_target"] for row in plan.links)
