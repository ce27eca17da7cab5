"""The built-in topologies: ``madrid`` as published (with provenance), ``chain:N`` and ``grid:RxC``."""

from __future__ import annotations

import re
import types
from collections import Counter
from typing import Any, Union, get_args, get_origin

import pytest

from sdqkd.errors import UnknownTopology
from sdqkd.topology import (
    DeviceProfile,
    Direction,
    Provenance,
    Role,
    SwitchAttachment,
    Topology,
    load_topology,
)
from sdqkd.topology.builtin import builtin_topology_dict

_KINDS = {"published", "derived", "measured", "assumption", "placeholder"}


def _is_numeric(annotation: Any) -> bool:
    """float, int, or an optional one (``float | None``)."""
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_numeric(arg) for arg in get_args(annotation))
    return annotation in (float, int)


_NUMERIC_PROFILE_FIELDS = [
    name for name, field in DeviceProfile.model_fields.items() if _is_numeric(field.annotation)
]
# src bug: data/profiles.yaml gives madrid-2018 no provenance for these two numbers.


@pytest.fixture(scope="module")
def madrid() -> Topology:
    return load_topology("madrid")


# madrid: structure ---------------------------------------------------------------------------------


def test_madrid_has_the_three_production_sites(madrid: Topology) -> None:
    assert sorted(node.id for node in madrid.nodes) == ["concepcion", "norte", "quintin"]


def test_madrid_has_a_fibre_between_every_pair_of_sites(madrid: Topology) -> None:
    assert sorted(tuple(sorted((f.a, f.b))) for f in madrid.fibres) == [
        ("concepcion", "norte"),
        ("concepcion", "quintin"),
        ("norte", "quintin"),
    ]


def test_every_madrid_fibre_carries_one_100g_and_sixteen_10g_channels(madrid: Topology) -> None:
    for fibre in madrid.fibres:
        assert len(fibre.classical_channels) == 17, fibre.id
        assert Counter(c.label for c in fibre.classical_channels) == {"100G": 1, "10G": 16}, fibre.id


def test_every_madrid_classical_channel_travels_with_the_link_transmitter(madrid: Topology) -> None:
    for link in madrid.qkd_links:
        fibre, _ = madrid.link_path(link)
        transmitter_node = madrid.module(link.transmitter).node
        assert fibre.a == transmitter_node, link.id
        for channel in fibre.classical_channels:
            source = fibre.a if channel.direction is Direction.A_TO_B else fibre.b
            assert (channel.direction, source) == (Direction.A_TO_B, transmitter_node), (link.id, channel.id)


def test_madrid_has_a_switch_at_concepcion_feeding_one_transmitter_to_two_receivers(madrid: Topology) -> None:
    [switch] = madrid.switches
    assert switch.node == "concepcion"
    transmitter = madrid.module("concepcion-tx")
    assert transmitter.role is Role.TRANSMITTER
    assert transmitter.attachment == SwitchAttachment(switch=switch.id)
    served = [link for link in madrid.qkd_links if link.transmitter == "concepcion-tx"]
    assert sorted(madrid.module(link.receiver).node for link in served) == ["norte", "quintin"]
    for link in served:
        fibre, hops = madrid.link_path(link)
        assert [(s.id, p.fibre) for s, p in hops] == [(switch.id, fibre.id)], link.id


def test_madrid_norte_quintin_link_is_direct(madrid: Topology) -> None:
    [link] = [
        link
        for link in madrid.qkd_links
        if {madrid.module(link.transmitter).node, madrid.module(link.receiver).node} == {"norte", "quintin"}
    ]
    _, hops = madrid.link_path(link)
    assert hops == []


def _norte_concepcion(madrid: Topology) -> Any:
    [fibre] = [f for f in madrid.fibres if {f.a, f.b} == {"norte", "concepcion"}]
    return fibre


def test_madrid_norte_concepcion_span_is_the_published_8_1_km(madrid: Topology) -> None:
    fibre = _norte_concepcion(madrid)
    assert fibre.length_km == pytest.approx(8.1, abs=1e-12)
    assert fibre.provenance["length_km"].kind == "published"


def test_madrid_norte_concepcion_span_loss_is_the_published_2_9_db(madrid: Topology) -> None:
    assert _norte_concepcion(madrid).loss_db == pytest.approx(2.9, abs=1e-9)


# madrid: provenance --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["length_km", "attenuation_db_per_km", "extra_loss_db"])
def test_every_madrid_fibre_number_has_provenance(madrid: Topology, field: str) -> None:
    missing = [fibre.id for fibre in madrid.fibres if field not in fibre.provenance]
    assert missing == []


@pytest.mark.parametrize("field", ["launch_power_dbm", "dwdm_channel"])
def test_every_madrid_classical_channel_number_has_provenance(madrid: Topology, field: str) -> None:
    missing = [
        (fibre.id, channel.id)
        for fibre in madrid.fibres
        for channel in fibre.classical_channels
        if field not in channel.provenance
    ]
    assert missing == []


def test_the_numeric_profile_fields_are_found() -> None:
    # Guards the parametrisation below against a helper that finds nothing (or misses optionals).
    assert {"modulation_variance_snu", "block_size", "default_quantum_dwdm_channel"} <= set(
        _NUMERIC_PROFILE_FIELDS
    )
    assert {"id", "detection", "provenance"}.isdisjoint(_NUMERIC_PROFILE_FIELDS)


@pytest.mark.parametrize(
    "field",
    _NUMERIC_PROFILE_FIELDS,
)
def test_every_numeric_parameter_of_the_madrid_2018_profile_has_provenance(
    madrid: Topology, field: str
) -> None:
    assert field in madrid.profile("madrid-2018").provenance


def test_every_madrid_provenance_has_a_known_kind_and_a_source(madrid: Topology) -> None:
    entries: list[Provenance] = []
    for fibre in madrid.fibres:
        entries += fibre.provenance.values()
        for channel in fibre.classical_channels:
            entries += channel.provenance.values()
    for item in [*madrid.switches, *madrid.device_profiles]:
        entries += item.provenance.values()
    assert len(entries) > 3 * 3 + 3 * 17 * 2
    for entry in entries:
        assert entry.kind in _KINDS
        assert entry.source.strip()


def test_loading_madrid_twice_gives_equal_topologies(madrid: Topology) -> None:
    assert load_topology("madrid") == madrid


def test_changing_a_builtin_dict_does_not_change_the_next_load() -> None:
    raw = builtin_topology_dict("madrid")
    assert raw is not None
    raw["nodes"].clear()
    raw["fibres"][0]["length_km"] = 99.0
    madrid = load_topology("madrid")
    assert (len(madrid.nodes), madrid.fibres[0].length_km) == (3, pytest.approx(8.1))


def test_names_that_are_no_builtin_give_no_builtin_dict() -> None:
    assert [builtin_topology_dict(name) for name in ("Madrid", "chain:", "grid:3", "net.yaml")] == [None] * 4


# chain:N and grid:RxC ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "nodes", "spans"),
    [
        ("chain:2", 2, 1),
        ("chain:5", 5, 4),
        ("chain:400", 400, 399),
        ("grid:1x2", 2, 1),
        ("grid:3x3", 9, 12),
        ("grid:2x4", 8, 10),
        ("grid:20x20", 400, 760),
    ],
)
def test_generated_topologies_have_a_fibre_and_a_link_per_span(spec: str, nodes: int, spans: int) -> None:
    topology = load_topology(spec)
    assert (len(topology.nodes), len(topology.fibres), len(topology.qkd_links)) == (nodes, spans, spans)


@pytest.mark.parametrize("spec", ["chain:5", "grid:3x3"])
def test_every_generated_link_runs_straight_over_a_fibre_between_its_modules(spec: str) -> None:
    topology = load_topology(spec)
    for link in topology.qkd_links:
        fibre, hops = topology.link_path(link)
        ends = {topology.module(link.transmitter).node, topology.module(link.receiver).node}
        assert ({fibre.a, fibre.b}, hops) == (ends, []), link.id


def test_grid_fibres_join_only_horizontal_or_vertical_neighbours() -> None:
    topology = load_topology("grid:3x3")
    for fibre in topology.fibres:
        (ra, ca), (rb, cb) = (tuple(map(int, re.findall(r"\d+", end))) for end in (fibre.a, fibre.b))
        assert abs(ra - rb) + abs(ca - cb) == 1, fibre.id


@pytest.mark.parametrize("spec", ["chain:1", "chain:0", "chain:401", "grid:0x3", "grid:1x1", "grid:30x30"])
def test_generated_topologies_out_of_size_raise_unknown_topology_naming_the_spec(spec: str) -> None:
    with pytest.raises(UnknownTopology, match=re.escape(spec)):
        load_topology(spec)
