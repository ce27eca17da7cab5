"""A commissioned emulator: every module starts paired for the topology's QKD links, as its installers
left it, and makes key before any controller writes a configuration; what the controller writes later
replaces it, and a restarted emulator resumes its state file instead."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from emulator_support import (
    DIRECT_PAIR,
    MADRID_CHANNEL,
    MADRID_PEERS,
    NORTE_PAIR,
    QUINTIN_PAIR,
    MadridWith,
)

from sdqkd.emulator.engine import Emulator
from sdqkd.emulator.world import ModuleConfig, PairState, World
from sdqkd.errors import ConfigError, DeviceError
from sdqkd.planning import link_budget
from sdqkd.topology import Topology


def commissioned(topology: Topology) -> World:
    world = World(topology)
    world.commission()
    return world


def pairs_by_key(world: World) -> dict[tuple[str, str], PairState]:
    return {p.key: p for p in world.pairs()}


def planned_rate_bps(topology: Topology, link_id: str) -> float:
    return link_budget(topology, topology.link(link_id)).secret_key_rate_bps


def switch_to_quintin(raw: dict[str, Any]) -> None:
    raw["switches"][0]["connected_port"] = "to-quintin"


def link_of(raw: dict[str, Any], link_id: str) -> dict[str, Any]:
    return next(link for link in raw["qkd_links"] if link["id"] == link_id)


# The configuration --------------------------------------------------------------------------------


def test_commissioning_pairs_each_module_with_the_peers_of_its_links_on_their_channel(
    madrid: Topology,
) -> None:
    world = commissioned(madrid)

    expected = {m: ModuleConfig(peers, MADRID_CHANNEL, enabled=True) for m, peers in MADRID_PEERS.items()}
    assert world.configs == expected  # the switched transmitter names both receivers, as the controller does


def test_a_default_world_and_emulator_start_unconfigured(madrid: Topology) -> None:
    assert all(config == ModuleConfig() for config in World(madrid).configs.values())
    assert Emulator(madrid).pairs() == []


def test_modules_no_link_names_stay_unconfigured(madrid_with: MadridWith) -> None:
    def drop_direct_link(raw: dict[str, Any]) -> None:
        raw["qkd_links"] = [link for link in raw["qkd_links"] if link["id"] != "norte-quintin"]

    world = commissioned(madrid_with(drop_direct_link))

    assert world.configs["norte-tx"] == ModuleConfig()
    assert world.configs["quintin-rx2"] == ModuleConfig()
    assert DIRECT_PAIR not in pairs_by_key(world)


def test_a_link_without_a_channel_uses_its_profiles_default(madrid_with: MadridWith) -> None:
    def no_channel(raw: dict[str, Any]) -> None:
        del link_of(raw, "norte-quintin")["quantum_dwdm_channel"]

    topology = madrid_with(no_channel)
    default = topology.profile(topology.module("norte-tx").profile).default_quantum_dwdm_channel

    world = commissioned(topology)

    assert world.configs["norte-tx"].dwdm_channel == default
    assert world.configs["quintin-rx2"].dwdm_channel == default


# Key right away -----------------------------------------------------------------------------------


def test_a_commissioned_world_has_the_links_the_switch_connects_active_at_the_planned_rate(
    madrid: Topology,
) -> None:
    pairs = pairs_by_key(commissioned(madrid))

    assert set(pairs) == {NORTE_PAIR, QUINTIN_PAIR, DIRECT_PAIR}
    for key, link_id in ((DIRECT_PAIR, "norte-quintin"), (NORTE_PAIR, "concepcion-norte")):
        assert pairs[key].active, pairs[key].reason
        assert pairs[key].rate_bps == pytest.approx(planned_rate_bps(madrid, link_id), rel=1e-9)
        assert pairs[key].rate_bps > 0
    assert not pairs[QUINTIN_PAIR].active
    assert pairs[QUINTIN_PAIR].reason == "a switch on the way is connected elsewhere"


def test_the_switched_transmitter_makes_key_with_whichever_receiver_its_switch_connects(
    madrid_with: MadridWith,
) -> None:
    topology = madrid_with(switch_to_quintin)

    pairs = pairs_by_key(commissioned(topology))

    assert pairs[QUINTIN_PAIR].active, pairs[QUINTIN_PAIR].reason
    assert pairs[QUINTIN_PAIR].rate_bps == pytest.approx(planned_rate_bps(topology, "concepcion-quintin"))
    assert not pairs[NORTE_PAIR].active


def test_a_switched_transmitter_tunes_to_the_channel_of_the_link_its_switch_connects(
    madrid_with: MadridWith,
) -> None:
    def quintin_on_58(raw: dict[str, Any]) -> None:
        switch_to_quintin(raw)
        link_of(raw, "concepcion-quintin")["quantum_dwdm_channel"] = 58

    world = commissioned(madrid_with(quintin_on_58))

    assert world.configs["concepcion-tx"].dwdm_channel == 58
    assert world.configs["quintin-rx"].dwdm_channel == 58
    assert world.configs["norte-rx"].dwdm_channel == MADRID_CHANNEL
    assert pairs_by_key(world)[QUINTIN_PAIR].active


def test_links_the_devices_cannot_take_are_refused(madrid_with: MadridWith) -> None:
    def out_of_tuning_range(raw: dict[str, Any]) -> None:
        link_of(raw, "norte-quintin")["quantum_dwdm_channel"] = 1  # 1577 nm, beyond the C band

    topology = madrid_with(out_of_tuning_range)

    with pytest.raises(DeviceError, match="tuning range"):
        World(topology).commission()
    with pytest.raises(ConfigError, match="cannot be commissioned"):
        Emulator(topology, commissioned=True)


# The controller takes over ------------------------------------------------------------------------


def test_what_the_controller_configures_later_replaces_the_commissioned_configuration(
    madrid: Topology,
) -> None:
    world = commissioned(madrid)

    world.configure("concepcion-tx", ["quintin-rx"], MADRID_CHANNEL, enabled=True)
    world.configure("norte-tx", [], None, enabled=False)

    assert world.configs["concepcion-tx"] == ModuleConfig(["quintin-rx"], MADRID_CHANNEL, enabled=True)
    pairs = pairs_by_key(world)
    assert NORTE_PAIR not in pairs  # concepcion-tx no longer names norte-rx
    assert DIRECT_PAIR not in pairs
    assert pairs[QUINTIN_PAIR].reason == "a switch on the way is connected elsewhere"


# The emulator -------------------------------------------------------------------------------------


def test_a_commissioned_emulator_makes_key_from_its_first_tick_without_a_relock(madrid: Topology) -> None:
    emulator = Emulator(madrid, commissioned=True)
    active = {p.key for p in emulator.pairs() if p.active}
    assert active == {NORTE_PAIR, DIRECT_PAIR}  # not held: a module's first channel is no retune

    emulator.advance(1.0)

    assert all(emulator.keys[key].stored_keys(256) > 0 for key in active)
    assert emulator.keys[QUINTIN_PAIR].stored_keys(256) == 0


def test_a_commissioned_emulator_resumes_its_state_file_rather_than_commission_again(
    madrid: Topology, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    first = Emulator(madrid, state_file=state, commissioned=True)
    # the controller takes over: it disables the direct link (persisted by the change)
    first.change("module_configured", {}, lambda: first.world.configure("norte-tx", [], None, enabled=False))

    restarted = Emulator(madrid, state_file=state, commissioned=True)

    assert restarted.world.configs["norte-tx"] == ModuleConfig()
    assert {p.key for p in restarted.pairs() if p.active} == {NORTE_PAIR}


def test_an_unconfigured_state_file_is_not_commissioned_over(madrid: Topology, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text(json.dumps(World(madrid).snapshot()), encoding="utf-8")

    assert Emulator(madrid, state_file=state, commissioned=True).pairs() == []
