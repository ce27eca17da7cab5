"""Key-relay path computation: fewest hops, then fast links, then full pools; failed links avoided."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sdqkd.controller.paths import Hop, PathPolicy, hop_cost, key_path
from sdqkd.errors import AdmissionRefused

FULL = 1e9  # bits: a pool that is not the constraint


def _grid(rate_bps: dict[str, float] | None = None, ready: dict[str, float] | None = None) -> list[Hop]:
    """A 3x3 grid n{r}{c}, links named a-b, 50 kbit/s and full pools unless given."""
    hops = []
    for r in range(3):
        for c in range(3):
            for dr, dc in ((0, 1), (1, 0)):
                if r + dr < 3 and c + dc < 3:
                    a, b = f"n{r}{c}", f"n{r + dr}{c + dc}"
                    link = f"{a}-{b}"
                    hops.append(
                        Hop(link, a, b, (rate_bps or {}).get(link, 50_000), (ready or {}).get(link, FULL))
                    )
    return hops


def test_a_chain_is_relayed_hop_by_hop_in_order() -> None:
    chain = [Hop(f"n{i}-n{i + 1}", f"n{i}", f"n{i + 1}", 40_000, FULL) for i in range(1, 5)]

    path = key_path(chain, "n1", "n5")

    assert path.nodes == ("n1", "n2", "n3", "n4", "n5")
    assert path.links == ("n1-n2", "n2-n3", "n3-n4", "n4-n5")
    assert path.hops == 4
    assert key_path(chain, "n5", "n1").nodes == ("n5", "n4", "n3", "n2", "n1")


def test_the_path_avoids_a_slow_link_when_an_equally_short_one_exists() -> None:
    slow = {"n00-n01": 1_000}  # n00 → n11 has two 2-hop routes: via n01 (slow) or via n10

    assert key_path(_grid(slow), "n00", "n11").nodes == ("n00", "n10", "n11")
    # counting hops only, either route will do
    assert key_path(_grid(slow), "n00", "n11", PathPolicy.HOPS).hops == 2


def test_the_balanced_policy_prefers_full_pools_and_the_rate_policy_ignores_them() -> None:
    empty = {"n00-n10": 0.0, "n10-n11": 0.0}
    slower = {"n00-n01": 45_000, "n01-n11": 45_000}

    assert key_path(_grid(slower, empty), "n00", "n11", PathPolicy.BALANCED).nodes == ("n00", "n01", "n11")
    assert key_path(_grid(slower, empty), "n00", "n11", PathPolicy.RATE).nodes == ("n00", "n10", "n11")


def test_a_cut_link_is_routed_around() -> None:
    path = key_path(_grid(), "n00", "n02", avoid_links={"n00-n01"})

    assert "n00-n01" not in path.links
    assert path.nodes[0] == "n00"
    assert path.nodes[-1] == "n02"
    assert path.hops == 4  # n00 n10 n11 n01 n02 or n00 n10 n11 n12 n02


def test_links_that_make_no_key_are_never_used() -> None:
    chain = [Hop("a-b", "a", "b", 40_000, FULL), Hop("b-c", "b", "c", 0.0, FULL)]

    with pytest.raises(AdmissionRefused, match="no QKD path joins a and c"):
        key_path(chain, "a", "c")
    assert hop_cost(chain[1]) == float("inf")


def test_no_path_between_a_node_and_itself() -> None:
    with pytest.raises(AdmissionRefused, match="same node"):
        key_path(_grid(), "n00", "n00")


@given(
    rates=st.lists(st.floats(min_value=1, max_value=1e6), min_size=12, max_size=12),
    pools=st.lists(st.floats(min_value=0, max_value=1e9), min_size=12, max_size=12),
    policy=st.sampled_from(PathPolicy),
)
def test_a_path_is_a_simple_walk_over_existing_links_whose_cost_adds_up(
    rates: list[float], pools: list[float], policy: PathPolicy
) -> None:
    hops = [Hop(h.link_id, h.a, h.b, rate, pool) for h, rate, pool in zip(_grid(), rates, pools, strict=True)]
    by_id = {h.link_id: h for h in hops}

    path = key_path(hops, "n00", "n22", policy)

    assert path.nodes[0] == "n00"
    assert path.nodes[-1] == "n22"
    assert len(set(path.nodes)) == len(path.nodes)  # no node twice
    assert path.hops >= 4  # Manhattan distance on the grid
    for (a, b), link in zip(zip(path.nodes, path.nodes[1:], strict=False), path.links, strict=True):
        assert {by_id[link].a, by_id[link].b} == {a, b}
    assert path.cost == pytest.approx(sum(hop_cost(by_id[link], policy) for link in path.links))
