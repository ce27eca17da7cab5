"""The controller managing a shared fibre of a running Madrid (emulated plant, agents, controller over
mutual TLS): what it reads of the plant, protect-qkd restoring a fibre made louder behind its back and
undoing it, admission of classical channels, observe mode with its alarm, and the switched transmitter
in the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from controller_support import (
    NODES,
    TIME_SCALE,
    Net,
    Pki,
    active_alarms,
    api,
    call_home,
    links_by_id,
    serve_controller,
    wait_for,
)

from sdqkd.emulator.client import EmulatorClient

pytestmark = pytest.mark.integration

FIBRE = "concepcion-norte"
TARGET_BPS = 40_000 * 1.05  # madrid.yaml's target_rate_bps with the default 5 % margin
FLOOR_100G_DBM = -20.0 + 2.9 + 3.0  # 100G sensitivity + the span's 2.9 dB + 3 dB margin
FLOOR_10G_DBM = -24.0 + 2.9 + 3.0
NEXT_TO_QUANTUM = (57, 58, 60, 61)  # the quantum channels are on 59
SETTLE_S = 20.0


@pytest.fixture(scope="module")
def running(network: Net, pki: Pki) -> Iterator[Net]:
    """The network with a controller that manages the optical plant; every node called home, every
    link up or on standby, the plant read."""
    with serve_controller(network, pki, optical=True):
        for node in NODES:
            assert call_home(network, pki, node).status_code == 201
        with api(network.controller_url, pki.operator, pki) as client:
            wait_for(
                lambda: (links_by_id(client), client.get("/api/v1/optical/fibres").json()["fibres"]),
                lambda seen: (
                    all(link["status"] in ("up", "standby") for link in seen[0].values())
                    and any(link["status"] == "up" for link in seen[0].values())
                    and len(seen[1]) == 3
                ),
                timeout_s=20,
                what="every link up or on standby and the plant read",
            )
        yield network


@pytest.fixture
def operator(running: Net, pki: Pki) -> Iterator[Any]:
    with api(running.controller_url, pki.operator, pki) as client:
        yield client


@pytest.fixture
def plant(running: Net, pki: Pki) -> Iterator[EmulatorClient]:
    """The plant as an operator changes it behind the controller's back (``sdqkd plant …``)."""
    with EmulatorClient(
        running.emulator_url, pki.operator.cert, pki.operator.key, pki.ca.cert_path
    ) as client:
        yield client


def fibre(operator: Any, fibre_id: str = FIBRE) -> dict[str, Any]:
    response = operator.get(f"/api/v1/optical/fibres/{fibre_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def channels(seen: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {channel["id"]: channel for channel in seen["classical_channels"]}


def actions(operator: Any) -> list[dict[str, Any]]:
    response = operator.get("/api/v1/optical/actions")
    assert response.status_code == 200, response.text
    return list(response.json()["actions"])


def emulated_rates(plant: EmulatorClient) -> dict[str, float]:
    """Each active pair's key rate at the emulator, by fibre (the truth the controller predicts)."""
    return {pair["fibre"]: float(pair["skr_bps"]) for pair in plant.links() if pair["active"]}


def ten_gig(channel_id: str, dwdm_channel: int, power_dbm: float) -> dict[str, Any]:
    return {
        "id": channel_id,
        "dwdm_channel": dwdm_channel,
        "launch_power_dbm": power_dbm,
        "direction": "a_to_b",
        "rate_class": "10G",
    }


# What the controller reads -------------------------------------------------------------------------------


def test_every_fibre_shows_its_channels_with_their_floors_and_its_quantum_channels(
    operator: Any, plant: EmulatorClient
) -> None:
    seen = fibre(operator)
    lit = channels(seen)
    assert len(lit) == 17  # 1 x 100G + 16 x 10G, as in Madrid
    assert lit["c100g-36"]["rate_class"] == "100G"
    assert lit["c100g-36"]["floor_dbm"] == pytest.approx(FLOOR_100G_DBM, abs=0.01)
    ten = [channel for channel in lit.values() if channel["rate_class"] == "10G"]
    assert len(ten) == 16
    assert all(channel["floor_dbm"] == pytest.approx(FLOOR_10G_DBM, abs=0.01) for channel in ten)
    assert all(channel["actual_power_dbm"] == channel["requested_power_dbm"] for channel in lit.values())
    (quantum,) = seen["quantum_channels"]
    assert quantum["link"] == FIBRE
    assert quantum["dwdm_channel"] == 59
    assert quantum["target_bps"] == pytest.approx(TARGET_BPS)
    assert quantum["raman_noise_snu"] > 0
    norte_quintin = fibre(operator, "norte-quintin")["quantum_channels"][0]
    truth = emulated_rates(plant)["norte-quintin"]
    assert norte_quintin["predicted_skr_bps"] == pytest.approx(truth, rel=1e-3)
    assert norte_quintin["measured_skr_bps"] == pytest.approx(truth, rel=0.02)


# protect-qkd --------------------------------------------------------------------------------------------


def test_a_louder_fibre_is_brought_back_to_target_with_no_channel_below_its_floor_and_undone(
    operator: Any, plant: EmulatorClient
) -> None:
    before = channels(fibre(operator))
    first_action = len(actions(operator))
    plant.set_power(FIBRE, "c100g-36", 15.0)
    for number in NEXT_TO_QUANTUM:
        plant.add_channel(FIBRE, ten_gig(f"near-{number}", number, 3.0))

    def restored(seen: dict[str, Any]) -> bool:
        lit = channels(seen)
        return len(lit) == 21 and all(q["at_target"] for q in seen["quantum_channels"])

    seen = wait_for(lambda: fibre(operator), restored, SETTLE_S, "concepcion-norte back at target")
    lit = channels(seen)
    assert all(c["actual_power_dbm"] >= c["floor_dbm"] - 1e-6 for c in lit.values())
    assert lit["c100g-36"]["requested_power_dbm"] == 15.0  # the operator's request is kept apart
    assert lit["c100g-36"]["actual_power_dbm"] < 15.0
    wait_for(
        lambda: emulated_rates(plant),
        lambda rates: all(rate >= TARGET_BPS for rate in rates.values()),
        SETTLE_S,
        "every active pair at target at the emulator",
    )
    done = actions(operator)[first_action:]
    lowered = [a for a in done if a["kind"] == "lower_power" and a["target"] == "c100g-36"]
    assert lowered, done
    assert lowered[0]["before"] == 15.0
    assert lowered[0]["after"] >= FLOOR_100G_DBM - 1e-6
    assert lowered[0]["fibre"] == FIBRE
    assert lowered[0]["predicted_after_bps"] >= lowered[0]["predicted_before_bps"]

    # Room returns: the four go, c100g-36 goes back up towards what it was asked.
    lowered_to = lit["c100g-36"]["actual_power_dbm"]
    undo_from = len(actions(operator))
    for number in NEXT_TO_QUANTUM:
        plant.remove_channel(FIBRE, f"near-{number}")
    # Raised in steps: wait for a state with c100g-36 well up and every quantum channel at target.
    wait_for(
        lambda: fibre(operator),
        lambda seen: (
            channels(seen)["c100g-36"]["actual_power_dbm"] > lowered_to + 1.0
            and all(q["at_target"] for q in seen["quantum_channels"])
        ),
        SETTLE_S,
        "c100g-36 raised again, every link at target",
    )
    assert any(
        a["kind"] == "raise_power" and a["target"] == "c100g-36" for a in actions(operator)[undo_from:]
    )
    plant.set_power(FIBRE, "c100g-36", before["c100g-36"]["requested_power_dbm"])
    wait_for(
        lambda: channels(fibre(operator))["c100g-36"],
        lambda c: (
            c["actual_power_dbm"] == c["requested_power_dbm"] == before["c100g-36"]["requested_power_dbm"]
        ),
        SETTLE_S,
        "c100g-36 back as it was",
    )


# Admission ----------------------------------------------------------------------------------------------


def test_a_channel_far_from_the_quantum_channel_is_accepted_as_asked_and_can_be_removed(
    operator: Any, plant: EmulatorClient
) -> None:
    response = operator.post(f"/api/v1/optical/fibres/{FIBRE}/channels", json=ten_gig("far-14", 14, -6.0))
    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["decision"] == "accepted"
    assert answer["channel"]["dwdm_channel"] == 14
    assert answer["channel"]["launch_power_dbm"] == -6.0
    assert {p["link"] for p in answer["predictions"]} == {FIBRE}
    assert all(p["predicted_skr_bps"] >= p["target_bps"] for p in answer["predictions"])
    at_plant = {c["id"]: c for f in plant.fibres() if f["id"] == FIBRE for c in f["channels"]}
    assert at_plant["far-14"]["launch_power_dbm"] == -6.0
    assert operator.delete(f"/api/v1/optical/fibres/{FIBRE}/channels/far-14").status_code == 204
    assert "far-14" not in {c["id"] for f in plant.fibres() if f["id"] == FIBRE for c in f["channels"]}
    assert operator.delete(f"/api/v1/optical/fibres/{FIBRE}/channels/far-14").status_code == 404


def test_a_loud_tunable_channel_next_to_the_quantum_channel_is_placed_elsewhere(
    operator: Any, plant: EmulatorClient
) -> None:
    spec = {**ten_gig("loud-60", 60, 12.0), "rate_class": "100G"}
    response = operator.post(f"/api/v1/optical/fibres/{FIBRE}/channels", json=spec)
    assert response.status_code == 201, response.text
    answer = response.json()
    try:
        assert answer["decision"] == "adjusted"
        assert answer["adjustments"]
        placed = answer["channel"]
        assert (placed["dwdm_channel"], placed["launch_power_dbm"]) != (60, 12.0)
        assert placed["launch_power_dbm"] >= FLOOR_100G_DBM - 1e-6
        assert all(p["predicted_skr_bps"] >= p["target_bps"] for p in answer["predictions"])
        at_plant = {c["id"]: c for f in plant.fibres() if f["id"] == FIBRE for c in f["channels"]}
        assert at_plant["loud-60"]["dwdm_channel"] == placed["dwdm_channel"]
        assert at_plant["loud-60"]["launch_power_dbm"] == pytest.approx(placed["launch_power_dbm"])
    finally:
        operator.delete(f"/api/v1/optical/fibres/{FIBRE}/channels/loud-60")


def test_a_fixed_channel_on_the_quantum_channel_is_refused_with_the_predicted_impact(
    operator: Any, plant: EmulatorClient
) -> None:
    present = {c["id"] for f in plant.fibres() if f["id"] == FIBRE for c in f["channels"]}
    response = operator.post(f"/api/v1/optical/fibres/{FIBRE}/channels", json=ten_gig("on-59", 59, 0.0))
    assert response.status_code == 409, response.text
    details = response.json()["details"]
    (impact,) = [d for d in details if d["link"] == FIBRE]
    assert impact["predicted_skr_bps"] < impact["target_bps"] == pytest.approx(TARGET_BPS)
    assert {c["id"] for f in plant.fibres() if f["id"] == FIBRE for c in f["channels"]} == present


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/optical/fibres/nowhere/channels", ten_gig("x", 14, 0.0), 404),
        (f"/api/v1/optical/fibres/{FIBRE}/channels", {"dwdm_channel": 14}, 400),
        (f"/api/v1/optical/fibres/{FIBRE}/channels", {**ten_gig("x", 14, 0.0), "rate_class": "1T"}, 400),
        (f"/api/v1/optical/fibres/{FIBRE}/channels", ten_gig("c100g-36", 14, 0.0), 400),  # id taken
    ],
)
def test_bad_admissions_get_an_error_and_change_nothing(
    operator: Any, plant: EmulatorClient, path: str, body: dict[str, Any], status: int
) -> None:
    before = plant.fibres()
    response = operator.post(path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["message"]
    assert plant.fibres() == before


# observe ------------------------------------------------------------------------------------------------


def test_observe_only_reports_and_raises_the_alarm_then_protect_restores_and_clears_it(
    operator: Any, plant: EmulatorClient
) -> None:
    assert operator.get("/api/v1/optical/policy").json()["mode"] == "protect-qkd"
    assert operator.put("/api/v1/optical/policy", json={"mode": "observe"}).status_code == 200
    try:
        first_action = len(actions(operator))
        plant.set_power("norte-quintin", "c100g-36", 15.0)
        wait_for(
            lambda: active_alarms(operator),
            lambda alarms: any(a["kind"] == "optical_target_missed" for a in alarms),
            SETTLE_S,
            "the optical_target_missed alarm",
        )
        seen = fibre(operator, "norte-quintin")
        assert channels(seen)["c100g-36"]["actual_power_dbm"] == 15.0  # observe changes nothing
        (quantum,) = seen["quantum_channels"]
        assert not quantum["at_target"]
        assert quantum["predicted_skr_bps"] < TARGET_BPS
        assert all(a["kind"] in ("target_missed", "switch_port") for a in actions(operator)[first_action:])
    finally:
        assert operator.put("/api/v1/optical/policy", json={"mode": "protect-qkd"}).status_code == 200
    wait_for(
        lambda: (fibre(operator, "norte-quintin"), active_alarms(operator)),
        lambda seen: (
            all(q["at_target"] for q in seen[0]["quantum_channels"])
            and not any(a["kind"] == "optical_target_missed" for a in seen[1])
        ),
        SETTLE_S,
        "norte-quintin restored and the alarm cleared",
    )
    plant.set_power("norte-quintin", "c100g-36", -2.0)


def test_a_policy_other_than_the_two_is_refused(operator: Any) -> None:
    response = operator.put("/api/v1/optical/policy", json={"mode": "ignore"})
    assert response.status_code == 400
    assert operator.get("/api/v1/optical/policy").json()["mode"] == "protect-qkd"


# The switched transmitter -------------------------------------------------------------------------------


def test_the_switch_shows_its_port_its_receivers_and_their_shares(
    operator: Any, plant: EmulatorClient
) -> None:
    (switch,) = operator.get("/api/v1/switches").json()["switches"]
    assert switch["id"] == "concepcion-switch"
    assert switch["transmitter"] == "concepcion-tx"
    at_plant = {s["id"]: s for s in plant.switches()}["concepcion-switch"]
    assert switch["port"] == at_plant["connected_port"]
    receivers = {r["port"]: r for r in switch["receivers"]}
    assert set(receivers) == {"to-norte", "to-quintin"}
    assert receivers["to-norte"]["link"] == "concepcion-norte"
    assert receivers["to-quintin"]["node"] == "quintin"
    assert [r["connected"] for r in receivers.values()].count(True) == 1
    assert receivers[switch["port"]]["connected"]
    assert 0.99 <= sum(r["share"] for r in receivers.values()) <= 1.0 + 1e-9
    assert switch["schedule"]["dead_time_s"] == pytest.approx(3.0 / TIME_SCALE, abs=1e-3)
    assert operator.get("/api/v1/switches/concepcion-switch").json()["id"] == "concepcion-switch"
    assert operator.get("/api/v1/switches/nowhere").status_code == 404
