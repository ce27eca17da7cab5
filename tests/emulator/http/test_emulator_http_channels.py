"""``PUT /api/v1/plant/fibres/{f}/channels/{c}``: a classical channel's launch power and grid channel,
as the operator (``sdqkd plant``) and the controller's optical manager change them; what the plant
refuses (409), what is malformed (400), and the events each change publishes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from emulator_http_support import EmulatorPki, HttpAs, assert_problem, event_stream, events_until

from sdqkd.controller.optical.plant import PlantClient
from sdqkd.emulator.client import EmulatorClient
from sdqkd.errors import PlantRefused
from sdqkd.planning.budget import link_budget
from sdqkd.server import BackgroundServer
from sdqkd.topology.models import Topology

pytestmark = pytest.mark.integration

FIBRE = "norte-quintin"
NORTE_QUINTIN = ("norte-tx", "quintin-rx2")
PATH = f"/api/v1/plant/fibres/{FIBRE}/channels/c100g-36"


def channel_of(fibre: dict[str, Any], channel_id: str) -> dict[str, Any]:
    return next(c for c in fibre["channels"] if c["id"] == channel_id)


def rate_of(client: EmulatorClient, pair: tuple[str, str]) -> float:
    link = next(lk for lk in client.links() if (lk["transmitter"], lk["receiver"]) == pair)
    return float(link["skr_bps"])


def planned_rate_bps(madrid: Topology, **update: Any) -> float:
    """The Norte–Quintín rate the link budget predicts with c100g-36 of its fibre updated."""
    fibre = madrid.fibre(FIBRE)
    channels = [c.model_copy(update=update) if c.id == "c100g-36" else c for c in fibre.classical_channels]
    changed = fibre.model_copy(update={"classical_channels": channels})
    topology = madrid.model_copy(update={"fibres": [changed if f.id == FIBRE else f for f in madrid.fibres]})
    return link_budget(topology, topology.link(FIBRE)).secret_key_rate_bps


def test_each_channel_carries_its_transceiver_resolved_from_its_class(network: EmulatorClient) -> None:
    fibre = next(f for f in network.fibres() if f["id"] == FIBRE)

    def transceiver(channel_id: str) -> tuple[Any, ...]:
        found = channel_of(fibre, channel_id)
        return tuple(
            found[k] for k in ("rate_class", "receiver_sensitivity_dbm", "required_margin_db", "tunable")
        )

    assert transceiver("c10g-20") == ("10G", -24.0, 3.0, False)
    assert transceiver("c100g-36") == ("100G", -20.0, 3.0, True)


def test_moving_a_tunable_channel_moves_it_and_the_rate_follows_the_link_budget(
    network: EmulatorClient, madrid: Topology
) -> None:
    before = rate_of(network, NORTE_QUINTIN)

    fibre = network.set_channel(FIBRE, "c100g-36", dwdm_channel=50)

    moved = channel_of(fibre, "c100g-36")
    assert (moved["dwdm_channel"], moved["launch_power_dbm"]) == (50, 0.0)
    assert moved["frequency_thz"] == pytest.approx(195.0)
    assert "wavelength_nm" not in moved
    after = rate_of(network, NORTE_QUINTIN)
    assert after == pytest.approx(planned_rate_bps(madrid, dwdm_channel=50), rel=1e-9)
    assert after != pytest.approx(before, rel=1e-6)


def test_power_and_grid_channel_change_together(network: EmulatorClient, madrid: Topology) -> None:
    fibre = network.set_channel(FIBRE, "c100g-36", launch_power_dbm=5.0, dwdm_channel=45)

    assert {"dwdm_channel": 45, "launch_power_dbm": 5.0}.items() <= channel_of(fibre, "c100g-36").items()
    assert rate_of(network, NORTE_QUINTIN) == pytest.approx(
        planned_rate_bps(madrid, dwdm_channel=45, launch_power_dbm=5.0), rel=1e-9
    )


def test_a_move_publishes_channel_tuned_and_a_power_change_channel_power(
    network: EmulatorClient, http_as: HttpAs, emulator_pki: EmulatorPki
) -> None:
    with event_stream(http_as(emulator_pki.operator, read_timeout_s=1.0)) as events:
        network.set_channel(FIBRE, "c100g-36", dwdm_channel=50)
        network.set_channel(FIBRE, "c100g-36", launch_power_dbm=2.0)
        network.set_channel(FIBRE, "c100g-36", launch_power_dbm=1.0, dwdm_channel=50)  # on it already
        seen = events_until(
            events, lambda got: [e.type for e in got].count("channel_power") == 2, within_s=1.0
        )

    plant = [e for e in seen if e.type.startswith("channel_")]
    assert [(e.type, {k: v for k, v in e.data.items() if k not in ("time", "modules")}) for e in plant] == [
        (
            "channel_tuned",
            {"fibre": FIBRE, "channel": "c100g-36", "dwdm_channel": 50, "launch_power_dbm": 0.0},
        ),
        ("channel_power", {"fibre": FIBRE, "channel": "c100g-36", "launch_power_dbm": 2.0}),
        ("channel_power", {"fibre": FIBRE, "channel": "c100g-36", "launch_power_dbm": 1.0}),
    ]
    assert all(e.data["modules"] == [] for e in plant)


@pytest.mark.parametrize(
    ("channel_id", "body", "mentions"),
    [
        pytest.param("c10g-20", {"dwdm_channel": 50}, "fixed-wavelength", id="not-tunable"),
        pytest.param("c100g-36", {"dwdm_channel": 70}, "C band", id="outside-the-c-band"),
        pytest.param("c100g-36", {"dwdm_channel": 25, "launch_power_dbm": 3.0}, "c10g-25", id="occupied"),
    ],
)
def test_a_move_the_plant_cannot_make_is_a_conflict_and_changes_nothing(
    network: EmulatorClient, http_as: HttpAs, emulator_pki: EmulatorPki, channel_id: str,
    body: dict[str, Any], mentions: str,
) -> None:  # fmt: skip
    before = next(f for f in network.fibres() if f["id"] == FIBRE)

    response = http_as(emulator_pki.operator).put(
        f"/api/v1/plant/fibres/{FIBRE}/channels/{channel_id}", json=body
    )

    assert mentions in str(assert_problem(response, 409)["detail"])
    assert next(f for f in network.fibres() if f["id"] == FIBRE) == before


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="neither"),
        pytest.param({"launch_power_dbm": None, "dwdm_channel": None}, id="both-null"),
        pytest.param({"dwdm_channel": 100}, id="off-the-grid-numbering"),
        pytest.param({"dwdm_channel": "fifty"}, id="not-a-number"),
        pytest.param({"frequency_thz": 195.0}, id="unknown-member"),
    ],
)
def test_a_channel_change_without_a_power_or_a_grid_channel_is_a_bad_request(
    network: EmulatorClient, http_as: HttpAs, emulator_pki: EmulatorPki, body: dict[str, Any]
) -> None:
    assert_problem(http_as(emulator_pki.operator).put(PATH, json=body), 400)


def test_the_controllers_plant_client_moves_a_channel_and_hears_the_refusals(
    network: EmulatorClient, server: BackgroundServer, emulator_pki: EmulatorPki
) -> None:
    async def as_the_controller() -> None:
        controller = emulator_pki.controller
        plant = PlantClient(server.url, controller.cert, controller.key, emulator_pki.ca.cert_path)
        try:
            await plant.set_channel(FIBRE, "c100g-36", dwdm_channel=48)
            await plant.set_channel(FIBRE, "c100g-36", launch_power_dbm=-3.0)
            with pytest.raises(PlantRefused, match="fixed-wavelength") as refused:
                await plant.set_channel(FIBRE, "c10g-20", dwdm_channel=48)
            assert refused.value.status_code == 409
        finally:
            await plant.aclose()

    asyncio.run(as_the_controller())

    moved = channel_of(next(f for f in network.fibres() if f["id"] == FIBRE), "c100g-36")
    assert (moved["dwdm_channel"], moved["launch_power_dbm"]) == (48, -3.0)
