"""Virtual (multi-hop) qkd_links at one node of a key-relay path: the controller's VIRT entry read and
checked against the node's place on the path and its neighbours (every refusal names the member), a
state from the hops' PHYS links, and trees with VIRT links that the official YANG modules accept."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import UUID

import pytest
from agent_drivers_support import validate_tree
from hypothesis import given, settings
from hypothesis import strategies as st
from yangson import DataModel

from sdqkd import etsi015
from sdqkd.agent import mapping
from sdqkd.agent.virtual import (
    HopLink,
    PathPosition,
    VirtualLink,
    VirtualLinkError,
    check_hops,
    hop_links,
    is_virtual,
    parse_virtual_link,
    virtual_link_entry,
    virtual_state,
)
from sdqkd.errors import ConfigError
from sdqkd.etsi015 import LinkStatus

VIRT_ID = UUID("7d1c0b9a-8e7f-4a6b-9c5d-4e3f2a1b0c9d")
N1, N2, N3 = (etsi015.qkdn_id(node) for node in ("n1", "n2", "n3"))
N1_N2 = UUID("11111111-2222-4333-8444-555555555555")
N2_N3 = UUID("66666666-7777-4888-9999-aaaaaaaaaaaa")
TYPES = "etsi-qkd-node-types:"


def n1_to_n3(node: UUID) -> VirtualLink:
    """The virtual link n1 → n3 over n2 as the node ``node`` of the path gets it."""
    hops = {N1: (None, N2), N2: (N1, N3), N3: (N2, None)}[node]
    return VirtualLink(
        VIRT_ID, source=N1, destination=N3, prev_hop=hops[0], next_hop=hops[1], bandwidth_bps=0
    )


def entry_at(node: UUID, **changes: Any) -> dict[str, Any]:
    """The VIRT entry the controller writes at ``node`` (``changes`` replace members; None removes one)."""
    entry = {**virtual_link_entry(n1_to_n3(node)), **changes}
    return {name: value for name, value in entry.items() if value is not None}


def phys_entry(qkdl_id: UUID, local: UUID, remote: UUID, status: str | None, skr: int) -> dict[str, Any]:
    """A PHYS entry as the agent's datastore holds it, state included."""
    entry: dict[str, Any] = {
        "qkdl_id": str(qkdl_id),
        "qkdl_enable": True,
        "qkdl_local": {"qkdn_id": str(local), "qkdi_id": 1},
        "qkdl_remote": {"qkdn_id": str(remote), "qkdi_id": 2},
        "qkdl_type": f"{TYPES}PHYS",
        "qkdl_performance": {"skr": skr, "eskr": skr},
    }
    if status is not None:
        entry["qkdl_status"] = f"{TYPES}{status}"
    return entry


# Reading the controller's entry -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("node", "position"),
    [(N1, PathPosition.SOURCE), (N2, PathPosition.INTERMEDIATE), (N3, PathPosition.DESTINATION)],
)
def test_each_node_of_the_path_reads_the_same_entry_as_its_own_place_on_the_path(
    node: UUID, position: PathPosition
) -> None:
    link = parse_virtual_link(entry_at(node), node)

    assert link == n1_to_n3(node)
    assert link.position(node) is position
    assert link.hops == tuple(hop for hop in (link.prev_hop, link.next_hop) if hop is not None)


def test_a_virtual_entry_is_told_from_a_physical_one_by_its_type() -> None:
    assert is_virtual(entry_at(N2))
    assert not is_virtual(phys_entry(N1_N2, N2, N1, "ACTIVE", 1))
    assert not is_virtual({"qkdl_id": str(VIRT_ID)})  # no qkdl_type: the controller's links are PHYS


def test_a_virtual_entry_is_enabled_by_default_and_needs_no_bandwidth() -> None:
    link = parse_virtual_link(entry_at(N2, qkdl_enable=None, virt_bandwidth=None), N2)

    assert link == replace(n1_to_n3(N2), bandwidth_bps=None)
    assert link.enabled


@pytest.mark.parametrize(
    ("node", "changes", "member", "message"),
    [
        (N2, {"qkdl_type": f"{TYPES}PHYS"}, "qkdl_type", "is not etsi-qkd-node-types:VIRT"),
        (N2, {"qkdl_local": None}, "qkdl_local/qkdn_id", "missing"),
        (N2, {"qkdl_remote": {"qkdi_id": 7}}, "qkdl_remote/qkdn_id", "missing"),
        (N2, {"qkdl_local": {"qkdn_id": str(N1), "qkdi_id": 7}}, "qkdl_local/qkdi_id", "has no interface"),
        (N2, {"qkdl_remote": {"qkdn_id": "n3"}}, "qkdl_remote/qkdn_id", "'n3' is not a UUID"),
        (N2, {"qkdl_remote": {"qkdn_id": str(N1)}}, "qkdl_remote/qkdn_id", "both ends are node"),
        (N2, {"qkdl_enable": "yes"}, "qkdl_enable", "is not a boolean"),
        (N2, {"virt_bandwidth": -1}, "virt_bandwidth", "is not a uint32"),
        (N2, {"virt_bandwidth": True}, "virt_bandwidth", "is not a uint32"),
        (N2, {"virt_prev_hop": "n1"}, "virt_prev_hop", "'n1' is not a UUID"),
        (N2, {"virt_next_hop": str(N3)}, "virt_next_hop", "is not a list"),
        (N2, {"virt_next_hop": [str(N3), str(N1)]}, "virt_next_hop", "multicast .* is not supported"),
        (N1, {"virt_prev_hop": str(N3)}, "virt_prev_hop", "source end: no previous hop"),
        (N1, {"virt_next_hop": None}, "virt_next_hop", "missing: this node is the source node"),
        (N3, {"virt_next_hop": [str(N1)]}, "virt_next_hop", "far end: no next hop"),
        (N3, {"virt_prev_hop": None}, "virt_prev_hop", "missing: this node is the destination node"),
        (N2, {"virt_prev_hop": None}, "virt_prev_hop", "missing: this node is the intermediate node"),
        (N2, {"virt_next_hop": None}, "virt_next_hop", "missing: this node is the intermediate node"),
        (N2, {"virt_next_hop": [str(N2)]}, "virt_next_hop", "is this node"),
        (N2, {"virt_prev_hop": str(N2)}, "virt_prev_hop", "is this node"),
        (N2, {"virt_next_hop": [str(N1)]}, "virt_next_hop", "is also the previous hop"),
    ],
)
def test_an_entry_that_does_not_fit_the_node_is_refused_naming_the_member(
    node: UUID, changes: dict[str, Any], member: str, message: str
) -> None:
    with pytest.raises(VirtualLinkError, match=message) as refused:
        parse_virtual_link(entry_at(node, **changes), node)

    assert refused.value.member == member
    assert refused.value.qkdl_id == VIRT_ID
    assert f"qkd_link[{VIRT_ID}]/{member}: " in str(refused.value)


@pytest.mark.parametrize("qkdl_id", [None, "virt-1"])
def test_an_entry_without_a_usable_id_is_a_config_error(qkdl_id: str | None) -> None:
    with pytest.raises(ConfigError, match="qkd_link/qkdl_id"):
        parse_virtual_link(entry_at(N2, qkdl_id=qkdl_id), N2)


def test_hops_that_are_neighbours_are_accepted_and_others_refused_naming_the_member() -> None:
    check_hops(n1_to_n3(N2), {N1, N3})
    check_hops(n1_to_n3(N1), {N2})

    with pytest.raises(VirtualLinkError, match="is not a neighbour") as prev_refused:
        check_hops(n1_to_n3(N2), {N3})
    with pytest.raises(VirtualLinkError, match="is not a neighbour") as next_refused:
        check_hops(n1_to_n3(N2), {N1})
    assert (prev_refused.value.member, next_refused.value.member) == ("virt_prev_hop", "virt_next_hop")


# State from the hops ----------------------------------------------------------------------------------


def test_the_phys_links_are_grouped_by_neighbour_and_virtual_or_malformed_entries_left_out() -> None:
    entries = [
        phys_entry(N1_N2, N2, N1, "ACTIVE", 900),
        phys_entry(N2_N3, N2, N3, None, 0),
        entry_at(N2),
        {"qkdl_id": "x", "qkdl_remote": {"qkdn_id": str(N1)}},
        {"qkdl_id": str(VIRT_ID), "qkdl_remote": {"qkdi_id": 1}},
    ]

    assert hop_links(entries) == {
        N1: [HopLink(N1_N2, LinkStatus.ACTIVE, 900)],
        N3: [HopLink(N2_N3, None, 0)],
    }


def test_a_virtual_link_is_active_with_the_lowest_hop_rate_when_all_its_hops_are_active() -> None:
    hops = {N1: [HopLink(N1_N2, LinkStatus.ACTIVE, 900)], N3: [HopLink(N2_N3, LinkStatus.ACTIVE, 400)]}

    state = virtual_state(n1_to_n3(N2), hops)

    assert (state.status, state.skr_bps, state.reason) == (LinkStatus.ACTIVE, 400, "")
    # the ends relay over one hop each
    assert virtual_state(n1_to_n3(N1), {N2: hops[N1]}).skr_bps == 900
    assert virtual_state(n1_to_n3(N3), {N2: hops[N3]}).skr_bps == 400


@pytest.mark.parametrize(
    ("next_hop_status", "expected"),
    [
        (LinkStatus.OFF, LinkStatus.OFF),
        (None, LinkStatus.OFF),  # not reported yet
        (LinkStatus.PENDING, LinkStatus.PENDING),
        (LinkStatus.PASSIVE, LinkStatus.PASSIVE),
    ],
)
def test_a_virtual_link_takes_the_status_of_its_weakest_hop_and_no_rate(
    next_hop_status: LinkStatus | None, expected: LinkStatus
) -> None:
    hops = {N1: [HopLink(N1_N2, LinkStatus.ACTIVE, 900)], N3: [HopLink(N2_N3, next_hop_status, 0)]}

    state = virtual_state(n1_to_n3(N2), hops)

    assert (state.status, state.skr_bps) == (expected, 0)
    assert f"the next hop {N3} is {expected}" in state.reason
    assert str(N2_N3) in state.reason


def test_a_hop_with_no_phys_link_left_or_a_disabled_virtual_link_is_off() -> None:
    active = {N1: [HopLink(N1_N2, LinkStatus.ACTIVE, 900)]}

    missing = virtual_state(n1_to_n3(N2), active)
    disabled = virtual_state(replace(n1_to_n3(N2), enabled=False), {**active, N3: active[N1]})

    assert (missing.status, missing.skr_bps) == (LinkStatus.OFF, 0)
    assert missing.reason == f"no PHYS qkd_link to the next hop {N3}"
    assert (disabled.status, disabled.reason) == (LinkStatus.OFF, "qkdl_enable is false")


def test_a_hop_served_by_several_phys_links_takes_the_best_of_them() -> None:
    other = UUID("bbbbbbbb-cccc-4ddd-8eee-ffffffffffff")
    hops = {
        N1: [HopLink(N1_N2, LinkStatus.OFF, 0), HopLink(other, LinkStatus.ACTIVE, 700)],
        N3: [HopLink(N2_N3, LinkStatus.ACTIVE, 800)],
    }

    state = virtual_state(n1_to_n3(N2), hops)

    assert (state.status, state.skr_bps) == (LinkStatus.ACTIVE, 700)


_hop = st.tuples(st.sampled_from([*LinkStatus, None]), st.integers(0, 2**32 - 1))


@settings(max_examples=100, deadline=None)
@given(prev=_hop, next_=_hop)
def test_active_exactly_when_both_hops_are_and_never_above_either_hop_rate(
    prev: tuple[LinkStatus | None, int], next_: tuple[LinkStatus | None, int]
) -> None:
    hops = {N1: [HopLink(N1_N2, *prev)], N3: [HopLink(N2_N3, *next_)]}

    state = virtual_state(n1_to_n3(N2), hops)

    assert (state.status is LinkStatus.ACTIVE) == (prev[0] is next_[0] is LinkStatus.ACTIVE)
    assert 0 <= state.skr_bps <= min(prev[1], next_[1])
    assert (state.reason == "") == (state.status is LinkStatus.ACTIVE)


# Trees the official modules accept --------------------------------------------------------------------


@pytest.mark.parametrize("node", [N1, N2, N3])
def test_a_tree_with_a_virtual_link_and_its_state_validates_at_every_node_of_the_path(
    yang_model: DataModel, node: UUID
) -> None:
    neighbours = {N1: [(N1_N2, N2)], N2: [(N1_N2, N1), (N2_N3, N3)], N3: [(N2_N3, N2)]}[node]
    phys = [phys_entry(link_id, node, remote, "ACTIVE", 900) for link_id, remote in neighbours]
    virtual = virtual_link_entry(n1_to_n3(node), status=LinkStatus.ACTIVE, skr_bps=900)

    validate_tree(yang_model, mapping.node_tree(node, "n", [], [*phys, virtual], []))
    assert parse_virtual_link(virtual, node) == n1_to_n3(node)


def test_the_physical_link_reader_still_refuses_a_virtual_entry() -> None:
    with pytest.raises(ConfigError, match="a virtual link has no device"):
        etsi015.parse_link(entry_at(N2), N2)
