"""Fixtures for the planning tests: the Madrid plan, and small two-node topologies written as YAML."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sdqkd.planning import Plan, plan_topology
from sdqkd.topology import Topology, load_topology, parse_topology


@pytest.fixture(scope="session")
def madrid_plan() -> Plan:
    return plan_topology(load_topology("madrid"))


def two_node_yaml(
    *,
    length_km: float = 10.0,
    transmitter_node: str = "a",
    channel_direction: str | None = "a_to_b",
    channel_power_dbm: float = 0.0,
    quantum_dwdm_channel: int | None = None,
) -> str:
    """A fibre a–b, a QKD link over it (transmitter at ``transmitter_node``) and, unless
    ``channel_direction`` is None, one classical channel on DWDM ch 35. The quantum channel is the
    profile's default unless ``quantum_dwdm_channel`` is given."""
    receiver_node = "b" if transmitter_node == "a" else "a"
    if channel_direction is None:
        channels = "    classical_channels: []\n"
    else:
        channels = (
            "    classical_channels:\n"
            "      - id: c35\n"
            "        dwdm_channel: 35\n"
            f"        launch_power_dbm: {channel_power_dbm!r}\n"
            f"        direction: {channel_direction}\n"
        )
    return (
        "name: two-nodes\n"
        "nodes:\n"
        "  - {id: a, name: A}\n"
        "  - {id: b, name: B}\n"
        "fibres:\n"
        "  - id: a-b\n"
        "    a: a\n"
        "    b: b\n"
        f"    length_km: {length_km!r}\n"
        "    attenuation_db_per_km: 0.2\n"
        f"{channels}"
        "qkd_modules:\n"
        "  - id: tx\n"
        f"    node: {transmitter_node}\n"
        "    role: transmitter\n"
        "    profile: madrid-2018\n"
        "    attachment: {fibre: a-b}\n"
        "  - id: rx\n"
        f"    node: {receiver_node}\n"
        "    role: receiver\n"
        "    profile: madrid-2018\n"
        "    attachment: {fibre: a-b}\n"
        "qkd_links:\n"
        "  - id: link\n"
        "    transmitter: tx\n"
        "    receiver: rx\n"
        + ("" if quantum_dwdm_channel is None else f"    quantum_dwdm_channel: {quantum_dwdm_channel}\n")
    )


@pytest.fixture
def two_node_topology() -> Callable[..., Topology]:
    """Build a two-node topology; keyword arguments as :func:`two_node_yaml`."""

    def build(**kwargs: Any) -> Topology:
        return parse_topology(two_node_yaml(**kwargs), origin="two-nodes.yaml")

    return build
