"""The topology models on their own: channel frequencies, span loss, switch paths, cross-checks."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from sdqkd.topology import (
    ClassicalChannel,
    DeviceProfile,
    Direction,
    Fibre,
    OpticalSwitch,
    Provenance,
    QkdLink,
    SwitchPort,
    Topology,
)

_PROFILE: dict[str, Any] = {
    "id": "lab",
    "modulation_variance_snu": 4.0,
    "excess_noise_snu": 0.01,
    "efficiency": 0.6,
    "electronic_noise_snu": 0.05,
    "reconciliation_efficiency": 0.95,
    "symbol_rate_bd": 1e6,
}


def _span(fibre_id: str, a: str, b: str, length_km: float = 10.0) -> dict[str, Any]:
    return {"id": fibre_id, "a": a, "b": b, "length_km": length_km}


def _module(module_id: str, node: str, role: str, attachment: dict[str, str]) -> dict[str, Any]:
    return {"id": module_id, "node": node, "role": role, "profile": "lab", "attachment": attachment}


@pytest.fixture
def star() -> Topology:
    """A hub whose transmitter reaches x and y through a switch; x and y also have a direct pair,
    and y's receiver for the hub sits behind a switch of its own."""
    return Topology.model_validate(
        {
            "name": "star",
            "nodes": [{"id": n, "name": n.upper()} for n in ("hub", "x", "y")],
            "fibres": [_span("hub-x", "hub", "x"), _span("hub-y", "hub", "y"), _span("x-y", "x", "y", 3.0)],
            "switches": [
                {
                    "id": "hub-sw",
                    "node": "hub",
                    "ports": [{"id": "to-x", "fibre": "hub-x"}, {"id": "to-y", "fibre": "hub-y"}],
                },
                {"id": "y-sw", "node": "y", "ports": [{"id": "to-hub", "fibre": "hub-y"}]},
            ],
            "device_profiles": [_PROFILE],
            "qkd_modules": [
                _module("hub-tx", "hub", "transmitter", {"switch": "hub-sw"}),
                _module("x-rx", "x", "receiver", {"fibre": "hub-x"}),
                _module("y-rx", "y", "receiver", {"switch": "y-sw"}),
                _module("x-tx", "x", "transmitter", {"fibre": "x-y"}),
                _module("y-rx2", "y", "receiver", {"fibre": "x-y"}),
            ],
            "qkd_links": [
                {"id": "hub-x", "transmitter": "hub-tx", "receiver": "x-rx"},
                {"id": "hub-y", "transmitter": "hub-tx", "receiver": "y-rx"},
                {"id": "x-y", "transmitter": "x-tx", "receiver": "y-rx2"},
            ],
        }
    )


# Classical channels ------------------------------------------------------------------------------


def test_dwdm_channel_31_is_at_193_1_thz() -> None:
    channel = ClassicalChannel(id="c", dwdm_channel=31, launch_power_dbm=0.0, direction=Direction.A_TO_B)
    assert channel.frequency_thz == pytest.approx(193.1, abs=1e-9)


def test_dwdm_channels_are_100_ghz_apart() -> None:
    low = ClassicalChannel(id="c", dwdm_channel=20, launch_power_dbm=0.0, direction=Direction.A_TO_B)
    high = ClassicalChannel(id="c", dwdm_channel=59, launch_power_dbm=0.0, direction=Direction.A_TO_B)
    assert high.frequency_thz - low.frequency_thz == pytest.approx(39 * 0.1, abs=1e-9)


def test_a_channel_given_by_wavelength_1550_12_nm_is_at_193_40_thz() -> None:
    channel = ClassicalChannel(
        id="c", wavelength_nm=1550.12, launch_power_dbm=0.0, direction=Direction.B_TO_A
    )
    assert channel.frequency_thz == pytest.approx(193.40, abs=5e-3)


@pytest.mark.parametrize(
    "wavelength",
    [pytest.param({"dwdm_channel": 31, "wavelength_nm": 1550.12}, id="both"), pytest.param({}, id="neither")],
)
def test_a_channel_needs_exactly_one_of_dwdm_channel_and_wavelength(wavelength: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="exactly one of dwdm_channel or wavelength_nm"):
        ClassicalChannel(id="c", launch_power_dbm=0.0, direction=Direction.A_TO_B, **wavelength)


# Fibres --------------------------------------------------------------------------------------------


def test_fibre_loss_is_length_times_attenuation_plus_extra_loss() -> None:
    fibre = Fibre(id="f", a="a", b="b", length_km=12.0, attenuation_db_per_km=0.25, extra_loss_db=1.5)
    assert fibre.loss_db == pytest.approx(12.0 * 0.25 + 1.5, abs=1e-12)


def test_fibre_loss_defaults_to_0_2_db_per_km_and_no_extra_loss() -> None:
    assert Fibre(id="f", a="a", b="b", length_km=10.0).loss_db == pytest.approx(2.0, abs=1e-12)


def test_a_fibre_cannot_join_a_node_to_itself() -> None:
    with pytest.raises(ValidationError, match="two different nodes"):
        Fibre(id="f", a="a", b="a", length_km=1.0)


@pytest.mark.parametrize("length_km", [0.0, -1.0, 500.1])
def test_a_fibre_length_must_be_positive_and_at_most_500_km(length_km: float) -> None:
    with pytest.raises(ValidationError, match="length_km"):
        Fibre(id="f", a="a", b="b", length_km=length_km)


def test_other_end_of_a_fibre_is_the_node_across_it() -> None:
    fibre = Fibre(id="f", a="a", b="b", length_km=1.0)
    assert (fibre.other_end("a"), fibre.other_end("b")) == ("b", "a")


# Provenance and profiles ---------------------------------------------------------------------------


def test_provenance_must_name_fields_of_its_model() -> None:
    with pytest.raises(ValidationError, match=r"unknown field.*colour"):
        Fibre(
            id="f",
            a="a",
            b="b",
            length_km=1.0,
            provenance={"colour": Provenance(kind="assumption", source="a guess")},
        )


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param({"kind": "guess", "source": "x"}, id="unknown-kind"),
        pytest.param({"kind": "published", "source": ""}, id="empty-source"),
    ],
)
def test_provenance_needs_a_known_kind_and_a_source(entry: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Provenance.model_validate(entry)


def test_a_profile_quantum_band_must_run_from_low_to_high_wavelength() -> None:
    with pytest.raises(ValidationError, match="quantum_wavelength_min_nm must be below"):
        DeviceProfile.model_validate(
            {**_PROFILE, "quantum_wavelength_min_nm": 1568.0, "quantum_wavelength_max_nm": 1528.0}
        )


def test_a_switch_can_only_be_connected_to_one_of_its_ports() -> None:
    with pytest.raises(ValidationError, match="connected_port 'p9'"):
        OpticalSwitch(id="s", node="n", ports=[SwitchPort(id="p1", fibre="f")], connected_port="p9")


# Link paths ----------------------------------------------------------------------------------------


def test_link_path_of_a_switched_link_goes_through_the_switch_port_of_its_fibre(star: Topology) -> None:
    fibre, hops = star.link_path(star.link("hub-x"))
    assert fibre.id == "hub-x"
    assert [(switch.id, port.id) for switch, port in hops] == [("hub-sw", "to-x")]


def test_link_path_through_a_switch_at_each_end_has_two_hops(star: Topology) -> None:
    fibre, hops = star.link_path(star.link("hub-y"))
    assert fibre.id == "hub-y"
    assert [(switch.id, port.id) for switch, port in hops] == [("hub-sw", "to-y"), ("y-sw", "to-hub")]


def test_link_path_of_a_direct_link_has_no_switch_hop(star: Topology) -> None:
    fibre, hops = star.link_path(star.link("x-y"))
    assert (fibre.id, hops) == ("x-y", [])


def test_link_path_refuses_modules_that_share_no_fibre(star: Topology) -> None:
    stray = QkdLink(id="stray", transmitter="x-tx", receiver="y-rx")  # x-y fibre vs y's switch to hub
    with pytest.raises(ValueError, match="no fibre joins module 'x-tx'"):
        star.link_path(stray)


def test_look_ups_of_unknown_ids_raise_key_error(star: Topology) -> None:
    with pytest.raises(KeyError, match="no fibre 'nowhere'"):
        star.fibre("nowhere")


def test_a_topology_refuses_a_link_between_modules_of_different_profiles(star: Topology) -> None:
    raw = star.model_dump(mode="json")
    raw["device_profiles"].append({**_PROFILE, "id": "other"})
    raw["qkd_modules"][1]["profile"] = "other"  # x-rx
    with pytest.raises(ValidationError, match="QKD link 'hub-x': its modules use different device profiles"):
        Topology.model_validate(raw)
