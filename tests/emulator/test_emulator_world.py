"""The emulated world: which module pairs make key, at what rate, and how plant and device changes
(power, channels, switches, cuts, failures, configuration) move them. Rates are checked against
``sdqkd.planning.link_budget`` on a topology built independently from the topology file."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from emulator_support import (
    DIRECT_PAIR,
    MADRID_CHANNEL,
    NORTE_PAIR,
    QUINTIN_PAIR,
    MadridWith,
    configure_madrid,
    fibre_of,
)

from sdqkd.emulator.world import PairState, World
from sdqkd.errors import DeviceError, NotFound
from sdqkd.planning import link_budget
from sdqkd.topology import Topology

# The pair's rate is computed by the same physics as the plan: agreement is to rounding, far
# tighter than the 5 % the emulator promises.
RATE_RTOL = 1e-9

# A forward classical channel the Madrid load does not have: 5 dBm on DWDM ch 50.
EXTRA_CHANNEL: dict[str, Any] = {
    "id": "extra-50",
    "dwdm_channel": 50,
    "launch_power_dbm": 5.0,
    "direction": "a_to_b",
}


def pair(world: World, key: tuple[str, str]) -> PairState:
    return next(p for p in world.pairs() if p.key == key)


def summary(pairs: list[PairState]) -> list[tuple[tuple[str, str], bool, str, float]]:
    """What a list of pairs says (their budgets hold arrays, which do not compare with ==)."""
    return [(p.key, p.active, p.reason, p.rate_bps) for p in pairs]


def planned_rate_bps(topology: Topology, link_id: str) -> float:
    return link_budget(topology, topology.link(link_id)).secret_key_rate_bps


# Pairs ----------------------------------------------------------------------------------------------


def test_unconfigured_modules_form_no_pairs(madrid: Topology) -> None:
    assert World(madrid).pairs() == []


def test_a_pair_needs_both_modules_to_name_each_other(madrid: Topology) -> None:
    world = World(madrid)
    world.configure("norte-tx", ["quintin-rx2"], MADRID_CHANNEL, enabled=True)

    assert world.pairs() == []


def test_configured_madrid_has_two_active_pairs_and_the_switched_one_inactive(world: World) -> None:
    pairs = {p.key: p for p in world.pairs()}

    assert set(pairs) == {NORTE_PAIR, QUINTIN_PAIR, DIRECT_PAIR}
    assert pairs[NORTE_PAIR].active
    assert pairs[DIRECT_PAIR].active
    assert not pairs[QUINTIN_PAIR].active
    assert pairs[QUINTIN_PAIR].reason == "a switch on the way is connected elsewhere"
    assert pairs[QUINTIN_PAIR].rate_bps == 0.0
    assert (pairs[NORTE_PAIR].fibre, pairs[DIRECT_PAIR].fibre) == ("concepcion-norte", "norte-quintin")


def test_switching_towards_quintin_swaps_the_active_pair(world: World) -> None:
    world.set_switch("concepcion-switch", "to-quintin")

    assert not pair(world, NORTE_PAIR).active
    assert pair(world, NORTE_PAIR).reason == "a switch on the way is connected elsewhere"
    assert pair(world, QUINTIN_PAIR).active
    assert pair(world, QUINTIN_PAIR).rate_bps > 0
    assert pair(world, DIRECT_PAIR).active


def test_an_open_switch_leaves_both_switched_pairs_inactive(world: World) -> None:
    world.set_switch("concepcion-switch", None)

    assert not pair(world, NORTE_PAIR).active
    assert not pair(world, QUINTIN_PAIR).active


def test_pair_of_a_switched_transmitter_is_its_active_pair(world: World) -> None:
    found = world.pair_of("concepcion-tx")
    assert found is not None
    assert found.key == NORTE_PAIR

    world.set_switch("concepcion-switch", "to-quintin")

    found = world.pair_of("concepcion-tx")
    assert found is not None
    assert found.key == QUINTIN_PAIR
    assert World(world.topology).pair_of("concepcion-tx") is None


# Rates follow the physics ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "link_id", "switch_port"),
    [
        (NORTE_PAIR, "concepcion-norte", "to-norte"),
        (QUINTIN_PAIR, "concepcion-quintin", "to-quintin"),
        (DIRECT_PAIR, "norte-quintin", "to-norte"),
    ],
)
def test_a_pair_makes_key_at_the_finite_size_rate_of_its_link_budget(
    world: World, madrid: Topology, key: tuple[str, str], link_id: str, switch_port: str
) -> None:
    world.set_switch("concepcion-switch", switch_port)
    state = pair(world, key)
    planned = planned_rate_bps(madrid, link_id)

    assert state.active
    assert state.budget is not None
    assert state.budget.profile.block_size is not None  # Madrid's profile is finite-size
    assert planned > 0
    assert state.rate_bps == pytest.approx(planned, rel=RATE_RTOL)


@pytest.mark.parametrize("launch_power_dbm", [3.0, 10.0])
def test_raising_a_classical_channels_power_lowers_the_rate_as_the_link_budget_predicts(
    world: World, madrid_with: MadridWith, launch_power_dbm: float
) -> None:
    before = pair(world, NORTE_PAIR).rate_bps

    world.set_channel_power("concepcion-norte", "c100g-36", launch_power_dbm)

    def louder(raw: dict[str, Any]) -> None:
        channels = fibre_of(raw, "concepcion-norte")["classical_channels"]
        next(c for c in channels if c["id"] == "c100g-36")["launch_power_dbm"] = launch_power_dbm

    after = pair(world, NORTE_PAIR).rate_bps
    assert after < before
    assert after == pytest.approx(planned_rate_bps(madrid_with(louder), "concepcion-norte"), rel=RATE_RTOL)


def test_a_channel_power_change_leaves_pairs_on_other_fibres_alone(world: World) -> None:
    before = pair(world, DIRECT_PAIR).rate_bps

    world.set_channel_power("concepcion-norte", "c100g-36", 10.0)

    assert pair(world, DIRECT_PAIR).rate_bps == before


def test_adding_a_classical_channel_lowers_the_rate_as_the_link_budget_predicts(
    world: World, madrid_with: MadridWith
) -> None:
    before = pair(world, NORTE_PAIR).rate_bps

    added = world.add_channel("concepcion-norte", EXTRA_CHANNEL)

    def with_extra(raw: dict[str, Any]) -> None:
        fibre_of(raw, "concepcion-norte")["classical_channels"].append(dict(EXTRA_CHANNEL))

    after = pair(world, NORTE_PAIR).rate_bps
    assert added.id == "extra-50"
    assert after < before
    assert after == pytest.approx(
        planned_rate_bps(madrid_with(with_extra), "concepcion-norte"), rel=RATE_RTOL
    )


def test_removing_a_classical_channel_raises_the_rate_as_the_link_budget_predicts(
    world: World, madrid_with: MadridWith
) -> None:
    before = pair(world, NORTE_PAIR).rate_bps

    world.remove_channel("concepcion-norte", "c100g-36")

    def without_100g(raw: dict[str, Any]) -> None:
        fibre = fibre_of(raw, "concepcion-norte")
        fibre["classical_channels"] = [c for c in fibre["classical_channels"] if c["id"] != "c100g-36"]

    after = pair(world, NORTE_PAIR).rate_bps
    assert after > before
    assert after == pytest.approx(
        planned_rate_bps(madrid_with(without_100g), "concepcion-norte"), rel=RATE_RTOL
    )


def test_removing_an_added_channel_restores_the_rate(world: World) -> None:
    before = pair(world, NORTE_PAIR).rate_bps

    world.add_channel("concepcion-norte", EXTRA_CHANNEL)
    world.remove_channel("concepcion-norte", "extra-50")

    assert pair(world, NORTE_PAIR).rate_bps == pytest.approx(before, rel=RATE_RTOL)


# Moving classical channels --------------------------------------------------------------------------


def moved(raw: dict[str, Any], fibre_id: str, channel_id: str, **update: Any) -> None:
    """Edit a raw topology: ``channel_id`` of ``fibre_id`` takes ``update``."""
    channels = fibre_of(raw, fibre_id)["classical_channels"]
    next(c for c in channels if c["id"] == channel_id).update(update)


@pytest.mark.parametrize("grid_channel", [12, 50])
def test_moving_a_tunable_channel_changes_the_rate_as_the_link_budget_predicts(
    world: World, madrid_with: MadridWith, grid_channel: int
) -> None:
    before = pair(world, NORTE_PAIR).rate_bps
    version = world.version

    updated = world.set_channel("concepcion-norte", "c100g-36", dwdm_channel=grid_channel)

    planned = planned_rate_bps(
        madrid_with(lambda raw: moved(raw, "concepcion-norte", "c100g-36", dwdm_channel=grid_channel)),
        "concepcion-norte",
    )
    assert (updated.dwdm_channel, updated.launch_power_dbm) == (grid_channel, 0.0)
    assert world.channel("concepcion-norte", "c100g-36") == updated
    assert world.version == version + 1
    after = pair(world, NORTE_PAIR).rate_bps
    assert after != pytest.approx(before, rel=1e-6)
    assert after == pytest.approx(planned, rel=RATE_RTOL)


def test_a_channel_can_be_moved_and_given_a_power_at_once(world: World, madrid_with: MadridWith) -> None:
    world.set_channel("concepcion-norte", "c100g-36", launch_power_dbm=6.0, dwdm_channel=50)

    channel = world.channel("concepcion-norte", "c100g-36")
    assert (channel.dwdm_channel, channel.launch_power_dbm) == (50, 6.0)
    planned = planned_rate_bps(
        madrid_with(
            lambda raw: moved(raw, "concepcion-norte", "c100g-36", dwdm_channel=50, launch_power_dbm=6.0)
        ),
        "concepcion-norte",
    )
    assert pair(world, NORTE_PAIR).rate_bps == pytest.approx(planned, rel=RATE_RTOL)


def test_a_channel_given_by_wavelength_is_named_by_its_grid_channel_once_moved(world: World) -> None:
    world.add_channel(
        "concepcion-norte",
        {
            "id": "coherent",
            "wavelength_nm": 1550.12,
            "launch_power_dbm": 0.0,
            "direction": "a_to_b",
            "rate_class": "100G",
        },
    )

    channel = world.set_channel("concepcion-norte", "coherent", dwdm_channel=50)

    assert (channel.dwdm_channel, channel.wavelength_nm) == (50, None)
    assert channel.frequency_thz == pytest.approx(195.0)


def test_asking_for_the_grid_channel_a_channel_is_on_is_no_move(world: World) -> None:
    topology = world.topology

    world.set_channel("concepcion-norte", "c10g-20", dwdm_channel=20)  # a fixed laser: no move asked

    assert world.topology.fibre("concepcion-norte") == topology.fibre("concepcion-norte")
    assert not world.moves("concepcion-norte", "c10g-20", 20)
    assert world.moves("concepcion-norte", "c10g-20", 19)


@pytest.mark.parametrize(
    ("channel_id", "grid_channel", "message"),
    [
        pytest.param("c10g-20", 50, "fixed-wavelength 10G transceiver", id="not-tunable"),
        pytest.param("c100g-36", 70, "outside the C band", id="above-the-c-band"),  # 197.0 THz, 1521.8 nm
        pytest.param("c100g-36", 5, "outside the C band", id="below-the-c-band"),  # 190.5 THz, 1573.7 nm
        pytest.param("c100g-36", 30, "already carries channel 'c10g-30'", id="occupied"),
    ],
)
def test_a_move_the_plant_cannot_make_is_refused_and_changes_nothing(
    world: World, channel_id: str, grid_channel: int, message: str
) -> None:
    topology, version = world.topology, world.version

    with pytest.raises(DeviceError, match=message) as refused:
        world.set_channel("concepcion-norte", channel_id, launch_power_dbm=3.0, dwdm_channel=grid_channel)

    assert not isinstance(refused.value, NotFound)
    assert (world.topology, world.version) == (topology, version)


def test_a_tunable_flag_of_the_channel_overrides_its_class(world: World) -> None:
    world.add_channel(
        "concepcion-norte",
        {
            "id": "tunable-10g",
            "dwdm_channel": 40,
            "launch_power_dbm": 0.0,
            "direction": "a_to_b",
            "tunable": True,
        },
    )

    assert world.set_channel("concepcion-norte", "tunable-10g", dwdm_channel=41).dwdm_channel == 41


def test_set_channel_needs_a_power_or_a_grid_channel(world: World) -> None:
    with pytest.raises(ValueError, match="launch_power_dbm, dwdm_channel or both"):
        world.set_channel("concepcion-norte", "c100g-36")


# Cuts, failures and configuration -------------------------------------------------------------------


def test_cutting_a_fibre_makes_its_pair_inactive_with_a_reason_naming_the_fibre(world: World) -> None:
    world.cut_fibre("concepcion-norte")

    state = pair(world, NORTE_PAIR)
    assert not state.active
    assert "concepcion-norte" in state.reason
    assert "cut" in state.reason
    assert state.rate_bps == 0.0
    assert pair(world, DIRECT_PAIR).active


def test_restoring_a_cut_fibre_brings_its_pair_back_at_the_same_rate(world: World) -> None:
    before = pair(world, NORTE_PAIR).rate_bps

    world.cut_fibre("concepcion-norte")
    world.restore_fibre("concepcion-norte")

    assert pair(world, NORTE_PAIR).active
    assert pair(world, NORTE_PAIR).rate_bps == before


def test_a_failed_module_stops_its_pair_until_repaired(world: World) -> None:
    world.fail_module("norte-rx")

    assert not pair(world, NORTE_PAIR).active
    assert pair(world, NORTE_PAIR).reason == "a module has failed"

    world.repair_module("norte-rx")

    assert pair(world, NORTE_PAIR).active


def test_a_disabled_module_stops_its_pair(world: World) -> None:
    world.configure("norte-rx", ["concepcion-tx"], MADRID_CHANNEL, enabled=False)

    assert not pair(world, NORTE_PAIR).active
    assert pair(world, NORTE_PAIR).reason == "a module is disabled"


def test_modules_on_different_quantum_channels_make_no_key(world: World) -> None:
    world.configure("norte-rx", ["concepcion-tx"], MADRID_CHANNEL - 1, enabled=True)

    assert not pair(world, NORTE_PAIR).active
    assert pair(world, NORTE_PAIR).reason == "the modules use different quantum channels"


def test_a_transmitter_without_a_quantum_channel_has_no_budget(world: World) -> None:
    world.configure("norte-tx", ["quintin-rx2"], None, enabled=True)

    state = pair(world, DIRECT_PAIR)
    assert not state.active
    assert state.budget is None
    assert state.rate_bps == 0.0


def test_reconfiguring_a_module_without_peers_removes_its_pair(world: World) -> None:
    world.configure("norte-tx", [], MADRID_CHANNEL, enabled=True)

    assert {p.key for p in world.pairs()} == {NORTE_PAIR, QUINTIN_PAIR}


def test_configure_returns_the_configuration_with_repeated_peers_collapsed(madrid: Topology) -> None:
    world = World(madrid)

    config = world.configure("norte-tx", ["quintin-rx2", "quintin-rx2"], MADRID_CHANNEL, enabled=True)

    assert config.peers == ["quintin-rx2"]
    assert world.configs["norte-tx"] == config


def test_every_change_bumps_the_world_version(world: World) -> None:
    changes: list[Callable[[], object]] = [
        lambda: world.set_channel_power("concepcion-norte", "c100g-36", 1.0),
        lambda: world.add_channel("concepcion-norte", EXTRA_CHANNEL),
        lambda: world.remove_channel("concepcion-norte", "extra-50"),
        lambda: world.cut_fibre("norte-quintin"),
        lambda: world.restore_fibre("norte-quintin"),
        lambda: world.set_switch("concepcion-switch", "to-quintin"),
        lambda: world.fail_module("norte-tx"),
        lambda: world.repair_module("norte-tx"),
        lambda: world.configure("norte-tx", [], None, enabled=False),
    ]
    for change in changes:
        version = world.version
        change()
        assert world.version == version + 1


# Refused changes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module_id", "peers"),
    [
        ("nowhere-tx", ["norte-rx"]),
        ("concepcion-tx", ["nowhere-rx"]),
        ("concepcion-tx", ["norte-rx", "nowhere-rx"]),
    ],
)
def test_configure_refuses_unknown_modules_and_peers_as_not_found(
    world: World, module_id: str, peers: list[str]
) -> None:
    configs, version = dict(world.configs), world.version

    with pytest.raises(NotFound, match="nowhere"):
        world.configure(module_id, peers, MADRID_CHANNEL, enabled=True)

    assert (world.configs, world.version) == (configs, version)


@pytest.mark.parametrize(
    ("module_id", "peers", "channel", "message"),
    [
        pytest.param("concepcion-tx", ["norte-tx"], 59, "both are transmitters", id="same-role"),
        pytest.param("norte-tx", ["norte-rx"], 59, "at the same node", id="same-node"),
        pytest.param("quintin-rx", ["concepcion-tx", "norte-tx"], 59, "receiver", id="receiver-two-peers"),
        pytest.param("norte-tx", ["quintin-rx2", "quintin-rx"], 59, "not behind a switch", id="unswitched"),
        pytest.param("concepcion-tx", ["norte-rx"], 1, "tuning range", id="channel-1"),
        pytest.param("concepcion-tx", ["norte-rx"], 99, "tuning range", id="channel-99"),
    ],
)
def test_configure_refuses_what_the_device_cannot_do(
    world: World, module_id: str, peers: list[str], channel: int, message: str
) -> None:
    configs, version = dict(world.configs), world.version

    with pytest.raises(DeviceError, match=message) as refused:
        world.configure(module_id, peers, channel, enabled=True)

    assert not isinstance(refused.value, NotFound)
    assert (world.configs, world.version) == (configs, version)


@pytest.mark.parametrize("launch_power_dbm", [100.0, -100.0])
def test_a_launch_power_out_of_range_is_refused(world: World, launch_power_dbm: float) -> None:
    topology = world.topology

    with pytest.raises(DeviceError, match="launch_power_dbm") as refused:
        world.set_channel_power("concepcion-norte", "c100g-36", launch_power_dbm)

    assert not isinstance(refused.value, NotFound)
    assert world.topology is topology


def test_adding_a_channel_whose_id_the_fibre_carries_is_refused(world: World) -> None:
    topology = world.topology

    with pytest.raises(DeviceError, match="already carries"):
        world.add_channel("concepcion-norte", {**EXTRA_CHANNEL, "id": "c100g-36"})

    assert world.topology is topology


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"id": "x", "launch_power_dbm": 0.0, "direction": "a_to_b"}, id="no-wavelength"),
        pytest.param({**EXTRA_CHANNEL, "direction": "sideways"}, id="bad-direction"),
        pytest.param({**EXTRA_CHANNEL, "dwdm_channel": 100}, id="channel-100"),
        pytest.param({**EXTRA_CHANNEL, "colour": "red"}, id="unknown-field"),
    ],
)
def test_adding_an_invalid_channel_is_refused(world: World, spec: dict[str, Any]) -> None:
    with pytest.raises(DeviceError) as refused:
        world.add_channel("concepcion-norte", spec)

    assert not isinstance(refused.value, NotFound)


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(lambda w: w.set_channel_power("nowhere", "c100g-36", 0.0), id="power-fibre"),
        pytest.param(lambda w: w.set_channel_power("concepcion-norte", "nowhere", 0.0), id="power-channel"),
        pytest.param(lambda w: w.add_channel("nowhere", EXTRA_CHANNEL), id="add"),
        pytest.param(lambda w: w.remove_channel("concepcion-norte", "nowhere"), id="remove"),
        pytest.param(lambda w: w.cut_fibre("nowhere"), id="cut"),
        pytest.param(lambda w: w.restore_fibre("nowhere"), id="restore"),
        pytest.param(lambda w: w.set_switch("nowhere", None), id="switch"),
        pytest.param(lambda w: w.set_switch("concepcion-switch", "nowhere"), id="port"),
        pytest.param(lambda w: w.fail_module("nowhere"), id="fail"),
        pytest.param(lambda w: w.repair_module("nowhere"), id="repair"),
    ],
)
def test_changes_naming_unknown_things_are_not_found(world: World, action: Any) -> None:
    version = world.version

    with pytest.raises(NotFound, match="nowhere"):
        action(world)

    assert world.version == version


# Persistence ----------------------------------------------------------------------------------------


def changed_world(madrid: Topology) -> World:
    """A configured Madrid world with one change of every kind."""
    world = World(madrid)
    configure_madrid(world)
    world.set_channel_power("concepcion-quintin", "c10g-20", 2.5)
    world.add_channel("concepcion-quintin", EXTRA_CHANNEL)
    world.remove_channel("norte-quintin", "c100g-36")
    world.set_switch("concepcion-switch", "to-quintin")
    world.cut_fibre("concepcion-norte")
    world.fail_module("norte-tx")
    world.configure("quintin-rx2", ["norte-tx"], MADRID_CHANNEL, enabled=False)
    return world


def test_a_snapshot_restored_on_a_fresh_world_reproduces_the_state(madrid: Topology) -> None:
    before = changed_world(madrid)
    snapshot = json.loads(json.dumps(before.snapshot()))  # as it goes through the state file

    after = World(madrid)
    after.restore(snapshot)

    assert after.snapshot() == snapshot
    assert after.channel("concepcion-quintin", "c10g-20").launch_power_dbm == 2.5
    assert after.channel("concepcion-quintin", "extra-50") == before.channel("concepcion-quintin", "extra-50")
    assert "c100g-36" not in {c.id for c in after.fibre("norte-quintin").classical_channels}
    assert after.switch("concepcion-switch").connected_port == "to-quintin"
    assert after.cut_fibres == {"concepcion-norte"}
    assert after.failed_modules == {"norte-tx"}
    assert after.configs == before.configs
    assert summary(after.pairs()) == summary(before.pairs())


def test_restore_ignores_entries_naming_what_the_topology_lacks(madrid: Topology) -> None:
    snapshot = changed_world(madrid).snapshot()
    polluted = json.loads(json.dumps(snapshot))
    polluted["fibres"]["ghost-fibre"] = [EXTRA_CHANNEL]
    polluted["switches"]["ghost-switch"] = "to-norte"
    polluted["cut_fibres"].append("ghost-fibre")
    polluted["failed_modules"].append("ghost-module")
    polluted["configs"]["ghost-module"] = {"peers": ["norte-rx"], "dwdm_channel": 59, "enabled": True}
    polluted["configs"]["norte-rx"]["peers"].append("ghost-module")

    world = World(madrid)
    world.restore(polluted)

    assert world.snapshot() == snapshot


def test_restore_ignores_a_switch_port_the_switch_lacks(madrid: Topology) -> None:
    world = World(madrid)
    snapshot = world.snapshot()
    snapshot["switches"]["concepcion-switch"] = "to-nowhere"

    world.restore(snapshot)

    assert world.switch("concepcion-switch").connected_port == "to-norte"


def test_restore_keeps_what_a_partial_snapshot_does_not_mention(world: World, madrid: Topology) -> None:
    world.restore({"cut_fibres": ["norte-quintin"]})

    assert world.cut_fibres == {"norte-quintin"}
    assert world.topology.fibres == madrid.fibres
    assert pair(world, NORTE_PAIR).active
    assert not pair(world, DIRECT_PAIR).active


def test_a_classical_carrier_on_the_quantum_channel_takes_the_link_down(world: World) -> None:
    world.add_channel(
        "concepcion-norte",
        {"id": "intruder", "dwdm_channel": 59, "launch_power_dbm": -20, "direction": "a_to_b"},
    )
    assert not pair(world, NORTE_PAIR).active
    assert pair(world, NORTE_PAIR).reason == "classical channel intruder occupies the quantum channel"
    world.remove_channel("concepcion-norte", "intruder")
    assert pair(world, NORTE_PAIR).active


def test_a_neighbouring_carrier_100_ghz_away_does_not(world: World) -> None:
    world.add_channel(
        "concepcion-norte",
        {"id": "neighbour", "dwdm_channel": 58, "launch_power_dbm": -20, "direction": "a_to_b"},
    )
    assert pair(world, NORTE_PAIR).active


@pytest.mark.parametrize("power", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_launch_power_is_refused_and_changes_nothing(world: World, power: float) -> None:
    version = world.version
    with pytest.raises(DeviceError, match="finite"):
        world.set_channel_power("concepcion-norte", "c100g-36", power)
    assert world.version == version
    assert world.channel("concepcion-norte", "c100g-36").launch_power_dbm == 0.0
