"""The optical plant API changes the key flow: fibre cuts, switch changes, classical launch power, and
module failures, seen in the links, the modules' performance and the event stream."""

from __future__ import annotations

import time
from typing import Any

import pytest
from emulator_http_support import EmulatorPki, HttpAs, event_stream, events_until, wait_for

from sdqkd.emulator.client import EmulatorClient
from sdqkd.planning.budget import link_budget
from sdqkd.topology.models import Topology

pytestmark = pytest.mark.integration

CONCEPCION_NORTE = ("concepcion-tx", "norte-rx")
CONCEPCION_QUINTIN = ("concepcion-tx", "quintin-rx")
NORTE_QUINTIN = ("norte-tx", "quintin-rx2")


def link_of(client: EmulatorClient, pair: tuple[str, str]) -> dict[str, Any]:
    return next(link for link in client.links() if (link["transmitter"], link["receiver"]) == pair)


def keys_of(client: EmulatorClient, pair: tuple[str, str]) -> int:
    return int(link_of(client, pair)["keys_available"])


def keys_during(client: EmulatorClient, pair: tuple[str, str], seconds: float) -> list[int]:
    """The pair's keys_available, sampled for ``seconds`` (a measurement: it takes that long)."""
    samples, end = [keys_of(client, pair)], time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(0.05)
        samples.append(keys_of(client, pair))
    return samples


def test_a_fibre_cut_stops_the_pairs_key_at_once(network: EmulatorClient) -> None:
    growing = keys_during(network, CONCEPCION_NORTE, 0.2)
    assert growing[-1] > growing[0], "the buffer must be filling before the cut, or the test proves nothing"

    fibre = network.fibre_action("concepcion-norte", "cut")

    assert fibre["cut"] is True
    link = link_of(network, CONCEPCION_NORTE)
    assert (link["active"], link["skr_bps"]) == (False, 0.0)
    assert link["reason"] == "fibre concepcion-norte is cut"
    assert network.performance("norte-rx")["skr_bps"] == 0.0
    assert network.module_status("norte-rx")["state"] == "down"
    after = keys_during(network, CONCEPCION_NORTE, 0.5)
    assert after == [after[0]] * len(after)
    other = keys_during(network, NORTE_QUINTIN, 0.2)
    assert other[-1] > other[0], "a cut of one fibre leaves the other pairs making key"


def test_restoring_a_cut_fibre_resumes_the_key_flow(network: EmulatorClient) -> None:
    network.fibre_action("concepcion-norte", "cut")

    fibre = network.fibre_action("concepcion-norte", "restore")

    assert fibre["cut"] is False
    assert link_of(network, CONCEPCION_NORTE)["active"] is True
    samples = keys_during(network, CONCEPCION_NORTE, 0.2)
    assert samples[-1] > samples[0]


def test_a_fibre_cut_shows_in_the_event_stream_within_a_second(
    network: EmulatorClient, http_as: HttpAs, emulator_pki: EmulatorPki
) -> None:
    with event_stream(http_as(emulator_pki.operator, read_timeout_s=1.0)) as events:
        network.fibre_action("concepcion-norte", "cut")
        seen = events_until(events, lambda got: {"fibre_cut", "link_down"} <= {e.type for e in got}, 1.0)

    cut = next(e for e in seen if e.type == "fibre_cut")
    down = next(e for e in seen if e.type == "link_down")
    assert cut.data["fibre"] == "concepcion-norte"
    assert (down.data["transmitter"], down.data["receiver"]) == CONCEPCION_NORTE
    assert down.data["skr_bps"] == 0.0
    assert down.data["modules"] == list(CONCEPCION_NORTE)
    assert cut.id < down.id
    assert isinstance(down.data["time"], float)


def test_switching_the_transmitter_moves_the_key_flow_to_the_other_receiver(
    network: EmulatorClient,
) -> None:
    assert keys_of(network, CONCEPCION_QUINTIN) == 0

    switch = network.set_switch("concepcion-switch", "to-quintin")

    assert switch["connected_port"] == "to-quintin"
    # Quintín's pair re-synchronises first (the profile's resync_time_s, 30 ms at x100)
    wait_for(lambda: link_of(network, CONCEPCION_QUINTIN), lambda link: link["active"], 5.0, "Quintín up")
    standby = link_of(network, CONCEPCION_NORTE)
    assert (standby["active"], standby["skr_bps"]) == (False, 0.0)
    assert "switch" in standby["reason"]
    wait_for(lambda: keys_of(network, CONCEPCION_QUINTIN), lambda n: n > 0, 5.0, "key to Quintín")
    quintin = keys_during(network, CONCEPCION_QUINTIN, 0.3)
    norte = keys_during(network, CONCEPCION_NORTE, 0.3)
    assert quintin[-1] > quintin[0]
    assert norte == [norte[0]] * len(norte)
    assert network.module_status("concepcion-tx")["paired_with"] == "quintin-rx"
    assert next(s for s in network.switches() if s["id"] == "concepcion-switch")["connected_port"] == (
        "to-quintin"
    )


def test_an_open_switch_stops_both_switched_pairs(network: EmulatorClient) -> None:
    network.set_switch("concepcion-switch", None)

    assert link_of(network, CONCEPCION_NORTE)["active"] is False
    assert link_of(network, CONCEPCION_QUINTIN)["active"] is False
    assert link_of(network, NORTE_QUINTIN)["active"] is True


def test_raising_a_classical_channels_power_lowers_the_rate_to_what_the_link_budget_predicts(
    network: EmulatorClient, madrid: Topology
) -> None:
    before = link_of(network, NORTE_QUINTIN)["skr_bps"]

    fibre = network.set_power("norte-quintin", "c100g-36", 6.0)

    assert next(c for c in fibre["channels"] if c["id"] == "c100g-36")["launch_power_dbm"] == 6.0
    after = link_of(network, NORTE_QUINTIN)["skr_bps"]
    louder = madrid.fibre("norte-quintin").model_copy(
        update={
            "classical_channels": [
                c.model_copy(update={"launch_power_dbm": 6.0}) if c.id == "c100g-36" else c
                for c in madrid.fibre("norte-quintin").classical_channels
            ]
        }
    )
    planned = madrid.model_copy(
        update={"fibres": [louder if f.id == louder.id else f for f in madrid.fibres]}
    )
    link = next(lk for lk in madrid.qkd_links if lk.id == "norte-quintin")
    assert after == pytest.approx(link_budget(planned, link).secret_key_rate_bps, rel=1e-9)
    assert after < before
    assert before == pytest.approx(link_budget(madrid, link).secret_key_rate_bps, rel=1e-9)
    assert network.performance("norte-tx")["raman_excess_noise_snu"] == pytest.approx(
        link_budget(planned, link).raman_noise_snu, rel=1e-9
    )
    assert link_of(network, CONCEPCION_NORTE)["skr_bps"] == pytest.approx(
        link_budget(
            madrid, next(lk for lk in madrid.qkd_links if lk.id == "concepcion-norte")
        ).secret_key_rate_bps,
        rel=1e-9,
    ), "a channel on another fibre changes nothing here"


def test_adding_and_removing_a_classical_channel_changes_the_fibre_and_the_rate(
    network: EmulatorClient,
) -> None:
    before = link_of(network, NORTE_QUINTIN)["skr_bps"]
    spec = {"id": "extra", "dwdm_channel": 40, "launch_power_dbm": 3.0, "direction": "a_to_b"}

    added = network.add_channel("norte-quintin", spec)

    assert {"id": "extra", "dwdm_channel": 40, "frequency_thz": pytest.approx(194.0)}.items() <= next(
        c for c in added["channels"] if c["id"] == "extra"
    ).items()
    assert link_of(network, NORTE_QUINTIN)["skr_bps"] < before
    removed = network.remove_channel("norte-quintin", "extra")
    assert "extra" not in {c["id"] for c in removed["channels"]}
    assert link_of(network, NORTE_QUINTIN)["skr_bps"] == pytest.approx(before, rel=1e-12)


def test_a_failed_module_stops_its_pair_until_repaired(network: EmulatorClient) -> None:
    failed = network.module_action("norte-tx", "fail")

    assert (failed["state"], failed["reason"]) == ("failed", "the module has failed")
    link = link_of(network, NORTE_QUINTIN)
    assert (link["active"], link["skr_bps"], link["reason"]) == (False, 0.0, "a module has failed")
    assert network.module_status("quintin-rx2")["state"] == "down"

    repaired = network.module_action("norte-tx", "repair")

    assert repaired["state"] == "up"
    assert link_of(network, NORTE_QUINTIN)["active"] is True
    samples = keys_during(network, NORTE_QUINTIN, 0.2)
    assert samples[-1] > samples[0]


def test_the_event_stream_of_one_module_keeps_only_its_events(
    network: EmulatorClient, http_as: HttpAs, emulator_pki: EmulatorPki
) -> None:
    with event_stream(
        http_as(emulator_pki.operator, read_timeout_s=1.0), "/api/v1/events?module=norte-tx"
    ) as events:
        network.fibre_action("concepcion-norte", "cut")  # concerns Concepción and Norte's receiver
        network.module_action("norte-tx", "fail")
        seen = events_until(events, lambda got: got[-1].type == "link_down", 1.0)

    assert [e.type for e in seen] == ["module_failed", "link_down"]
    assert all("norte-tx" in e.data["modules"] for e in seen)
    assert (seen[1].data["transmitter"], seen[1].data["receiver"]) == NORTE_QUINTIN


def test_the_event_stream_of_an_unknown_module_is_not_found(
    http_as: HttpAs, emulator_pki: EmulatorPki
) -> None:
    response = http_as(emulator_pki.operator).get("/api/v1/events", params={"module": "nowhere"})

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "nowhere" in response.json()["detail"]


def test_configuring_a_module_is_an_event(
    operator: EmulatorClient, http_as: HttpAs, emulator_pki: EmulatorPki
) -> None:
    with event_stream(http_as(emulator_pki.agent_norte, read_timeout_s=1.0)) as events:
        operator.configure("norte-tx", ["quintin-rx2"], 59, enabled=True)
        operator.configure("quintin-rx2", ["norte-tx"], 59, enabled=True)
        seen = events_until(events, lambda got: got[-1].type == "link_up", 1.0)

    assert [e.type for e in seen] == ["module_configured", "module_configured", "link_up"]
    assert seen[0].data == {
        "time": seen[0].data["time"], "modules": ["norte-tx"], "module": "norte-tx",
        "peers": ["quintin-rx2"], "dwdm_channel": 59, "enabled": True,
    }  # fmt: skip
    assert seen[2].data["skr_bps"] > 0
