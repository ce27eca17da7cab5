"""Fixtures for the emulator tests: the built-in Madrid topology, a world and an emulator whose
modules are configured as ``sdqkd up`` configures them, and Madrid variants for cross-checks
against ``sdqkd.planning.link_budget``."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from emulator_support import MadridWith, configure_madrid

from sdqkd.emulator.engine import Emulator
from sdqkd.emulator.world import World
from sdqkd.topology import Topology, load_topology, parse_topology
from sdqkd.topology.builtin import builtin_topology_dict


@pytest.fixture(scope="session")
def madrid() -> Topology:
    """The built-in Madrid topology (immutable, so one per session)."""
    return load_topology("madrid")


@pytest.fixture
def world(madrid: Topology) -> World:
    """A Madrid world with all modules configured (the switch connects Concepción to Norte)."""
    configured = World(madrid)
    configure_madrid(configured)
    return configured


@pytest.fixture
def emulator(madrid: Topology) -> Emulator:
    """A real-time emulator of the configured Madrid world (no state file, clock not running)."""
    emulated = Emulator(madrid)
    configure_madrid(emulated.world)
    emulated.refresh()
    return emulated


@pytest.fixture(scope="session")
def madrid_with() -> MadridWith:
    """Build Madrid from its topology file after ``edit`` changes the raw dictionary.

    Every fibre gets its own copy of the channel list first (the file shares one list between
    spans through a YAML alias), so an edit to one span leaves the others as they are.
    """

    def build(edit: Callable[[dict[str, Any]], None]) -> Topology:
        raw = builtin_topology_dict("madrid")
        assert raw is not None
        for fibre in raw["fibres"]:
            fibre["classical_channels"] = copy.deepcopy(fibre["classical_channels"])
        edit(raw)
        return parse_topology(yaml.safe_dump(raw), origin="madrid-variant.yaml")

    return build
