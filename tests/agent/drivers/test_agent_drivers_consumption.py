"""The KME's key-consumption counters as ETSI GS QKD 015 state: ``GET /api/v1/kme`` bodies keyed by the
``qkd_link`` they belong to, the effective key rate of a PHYS link (``eskr`` = max(0, skr − relay
rate)), and the ``app_statistics`` entries of INTERNAL apps (relay over their PHYS link) and CLIENT
apps over a VIRT link, checked against the official YANG."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
from agent_drivers_support import validate_tree
from yangson import DataModel

from sdqkd.agent.consumption import (
    STATISTICS_PERIODS,
    ConsumptionPeriod,
    app_consumed_bits,
    consumption_period,
    effective_skr_bps,
    merged_statistics,
    relay_rates_bps,
    statistics_entry,
)
from sdqkd.agent.kme import KmeCounters, KmeUnavailable, parse_kme_status
from sdqkd.agent.mapping import node_tree
from sdqkd.etsi015 import SDQKD_NAMESPACE, link_qkdl_id, qkdn_id, virtual_qkdl_id

TYPES = "etsi-qkd-node-types:"
T0 = dt.datetime(2024, 6, 11, 9, 30, tzinfo=dt.UTC)
N1_N2 = link_qkdl_id("n1-n2")
N2_N3 = link_qkdl_id("n2-n3")
V_N1_N3 = virtual_qkdl_id("n1", "n3")


def kme_body(relay: dict[str, tuple[int, int]], virtual: dict[str, int]) -> str:
    """A ``GET /api/v1/kme`` body as the KME answers: per link its relay blocks (own, peer's), per
    virtual link of chain n1-n2-n3 its ``blocks_used``."""
    links = [
        {
            "id": link,
            "peer_kme_id": "n2",
            "ready_blocks": 40,
            "pending_blocks": 0,
            "blocks_held_for_peer": 12,
            "keys_awaiting_slaves": 0,
            "blocks_used_for_relay": own,
            "peer_blocks_used_for_relay": peer,
            "block_bits": 256,
        }
        for link, (own, peer) in relay.items()
    ]
    virtual_links = [
        {
            "id": name,
            "path": ["n1", "n2", "n3"],
            "peer_kme_id": "n3",
            "prev_hop": None,
            "next_hop": "n1-n2",
            "keys_relayed_out": 4,
            "keys_relayed_in": 0,
            "keys_forwarded": 0,
            "blocks_used": blocks,
            "relay_failures": 0,
            "hops_refused": 0,
        }
        for name, blocks in virtual.items()
    ]
    return json.dumps({"kme_id": "n1", "links": links, "virtual_links": virtual_links})


def reading(
    at_s: float, relay: dict[uuid.UUID, int], virtual: dict[uuid.UUID, int] | None = None
) -> KmeCounters:
    return KmeCounters(T0 + dt.timedelta(seconds=at_s), at_s, relay, virtual or {})


def period(relay: dict[uuid.UUID, int], virtual: dict[uuid.UUID, int] | None = None) -> ConsumptionPeriod:
    return ConsumptionPeriod(T0, T0 + dt.timedelta(seconds=1), 1.0, relay, virtual or {})


def app(kind: str, *links: uuid.UUID) -> dict[str, Any]:
    return {
        "app_id": str(uuid.uuid5(SDQKD_NAMESPACE, f"test-app:{kind}:{links}")),
        "app_type": f"{TYPES}{kind}",
        "backing_qkdl_id": [str(link) for link in links],
    }


def test_the_ids_are_the_controllers() -> None:
    assert uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, "urn:sdqkd"), "link:n1-n2") == N1_N2
    assert virtual_qkdl_id("n3", "n1") == V_N1_N3 == uuid.uuid5(SDQKD_NAMESPACE, "virtual:n1:n3")


def test_a_kme_status_body_gives_relay_bits_per_phys_link_and_bits_per_virtual_link() -> None:
    body = kme_body({"n1-n2": (6, 4), "n2-n3": (0, 0)}, {"v-n1-n3": 7})

    counters = parse_kme_status(body, T0, 12.5)

    assert counters.relay_bits == {N1_N2: (6 + 4) * 256, N2_N3: 0}
    assert counters.virtual_bits == {V_N1_N3: 7 * 256}  # by the path's ends, not by parsing the name
    assert (counters.read_at, counters.monotonic_s) == (T0, 12.5)


@pytest.mark.parametrize(
    "body",
    ["<html>503</html>", '{"links": [{"id": "n1-n2", "blocks_used_for_relay": -1}]}', '{"links": 3}'],
)
def test_a_body_that_is_no_kme_status_is_refused(body: str) -> None:
    with pytest.raises(KmeUnavailable, match="not a KME status body"):
        parse_kme_status(body, T0, 0.0)


def test_a_period_counts_what_each_counter_grew_and_nothing_for_a_new_or_reset_counter() -> None:
    earlier = reading(10.0, {N1_N2: 1024, N2_N3: 4096}, {V_N1_N3: 512})
    later = reading(12.0, {N1_N2: 3072, N2_N3: 256, link_qkdl_id("new"): 999}, {V_N1_N3: 1536})

    consumed = consumption_period(earlier, later)

    assert (consumed.start, consumed.end, consumed.duration_s) == (earlier.read_at, later.read_at, 2.0)
    assert consumed.relay_bits == {N1_N2: 2048, N2_N3: 0, link_qkdl_id("new"): 0}
    assert consumed.virtual_bits == {V_N1_N3: 1024}


def test_the_relay_rate_is_the_growth_of_the_relay_counters_per_second() -> None:
    assert relay_rates_bps(reading(10.0, {N1_N2: 0}), reading(14.0, {N1_N2: 8 * 512})) == {N1_N2: 1024.0}
    assert relay_rates_bps(reading(10.0, {N1_N2: 0}), reading(10.0, {N1_N2: 512})) == {}  # no time passed


@pytest.mark.parametrize(
    ("skr_bps", "relay_bps", "eskr_bps"),
    [(52000.0, 0.0, 52000.0), (52000.0, 1024.0, 50976.0), (1000.0, 1024.0, 0.0), (0.0, 512.0, 0.0)],
)
def test_eskr_is_skr_less_the_relay_rate_never_below_zero(
    skr_bps: float, relay_bps: float, eskr_bps: float
) -> None:
    assert effective_skr_bps(skr_bps, relay_bps) == eskr_bps


def test_an_internal_app_counts_the_relay_over_its_phys_link_and_a_client_app_its_virtual_link() -> None:
    consumed = period({N1_N2: 2048, N2_N3: 512}, {V_N1_N3: 768})

    assert app_consumed_bits(app("INTERNAL", N1_N2), consumed) == 2048
    assert app_consumed_bits(app("INTERNAL", N1_N2, N2_N3), consumed) == 2560
    assert app_consumed_bits(app("CLIENT", V_N1_N3), consumed) == 768
    assert app_consumed_bits(app("CLIENT", N1_N2), consumed) is None  # direct keys: the KME counts none
    assert app_consumed_bits(app("INTERNAL", V_N1_N3), consumed) is None
    assert app_consumed_bits(app("INTERNAL", link_qkdl_id("elsewhere")), consumed) is None
    assert app_consumed_bits({"app_id": str(N1_N2), "backing_qkdl_id": [str(N1_N2)]}, consumed) is None


def test_consumed_bits_is_capped_at_the_uint32_maximum() -> None:
    consumed = period({N1_N2: 2**33})
    assert app_consumed_bits(app("INTERNAL", N1_N2), consumed) == 2**32 - 1
    assert statistics_entry(consumed, 2**33)["consumed_bits"] == 2**32 - 1


def test_the_history_keeps_the_last_periods_keyed_by_end_time() -> None:
    history: list[dict[str, Any]] = []
    for second in range(STATISTICS_PERIODS + 5):
        start = T0 + dt.timedelta(seconds=second)
        entry = statistics_entry(
            ConsumptionPeriod(start, start + dt.timedelta(seconds=1), 1.0, {}, {}), second
        )
        history = merged_statistics(history, entry)
    assert len(history) == STATISTICS_PERIODS
    assert [item["consumed_bits"] for item in history] == list(range(5, STATISTICS_PERIODS + 5))
    assert merged_statistics(history, dict(history[-1], consumed_bits=1))[-1]["consumed_bits"] == 1
    assert len(merged_statistics(history, dict(history[-1], consumed_bits=1))) == STATISTICS_PERIODS


def test_a_node_whose_apps_carry_statistics_is_valid_for_the_official_yang(yang_model: DataModel) -> None:
    consumed = period({N1_N2: 2048}, {V_N1_N3: 768})
    internal, client = app("INTERNAL", N1_N2), app("CLIENT", V_N1_N3)
    for entry in (internal, client):
        bits = app_consumed_bits(entry, consumed)
        assert bits is not None
        entry["app_statistics"] = {"statistics": [statistics_entry(consumed, bits)]}

    validate_tree(yang_model, node_tree(qkdn_id("n1"), "n1", [], [], [internal, client]))

    assert internal["app_statistics"]["statistics"] == [
        {
            "end_time": "2024-06-11T09:30:01.000000Z",
            "start_time": "2024-06-11T09:30:00.000000Z",
            "consumed_bits": 2048,
        }
    ]
