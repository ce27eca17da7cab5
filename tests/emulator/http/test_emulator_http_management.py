"""The vendor-neutral management API: what a module says about itself and its status."""

from __future__ import annotations

import pytest
from emulator_http_support import EmulatorPki, HttpAs

from sdqkd.emulator.client import EmulatorClient
from sdqkd.topology.models import Topology

pytestmark = pytest.mark.integration

DESCRIBE_FIELDS = {
    "id", "node", "model", "technology", "protocol", "role", "profile", "wavelength_range_nm",
    "max_absorption_db", "attachment", "etsi014_path",
}  # fmt: skip
STATUS_FIELDS = {"state", "reason", "peers", "dwdm_channel", "wavelength_nm", "enabled", "paired_with"}


def test_every_module_describes_itself_with_the_documented_fields(
    operator: EmulatorClient, http_as: HttpAs, emulator_pki: EmulatorPki, madrid: Topology
) -> None:
    http = http_as(emulator_pki.operator)

    modules = operator.modules()

    assert [m["id"] for m in modules] == [m.id for m in madrid.qkd_modules]
    for module in modules:
        assert set(module) >= DESCRIBE_FIELDS
        assert module == http.get(f"/api/v1/modules/{module['id']}").json()
        assert module["technology"] == "CV-QKD"
        assert module["etsi014_path"] == f"/devices/{module['id']}"
        low, high = module["wavelength_range_nm"]
        assert 1200 < low < high < 1700


def test_a_switched_transmitter_describes_its_switch_attachment(
    http_as: HttpAs, emulator_pki: EmulatorPki, madrid: Topology
) -> None:
    profile = madrid.profile("madrid-2018")

    module = http_as(emulator_pki.agent_norte).get("/api/v1/modules/concepcion-tx").json()

    assert module["node"] == "concepcion"
    assert module["role"] == "transmitter"
    assert module["profile"] == "madrid-2018"
    assert (module["model"], module["protocol"]) == (profile.model, profile.protocol)
    assert module["wavelength_range_nm"] == [
        profile.quantum_wavelength_min_nm,
        profile.quantum_wavelength_max_nm,
    ]
    assert module["max_absorption_db"] == profile.max_absorption_db
    assert module["attachment"] == {"device": "switch", "id": "concepcion-switch", "port": "common"}


def test_a_receiver_on_a_fibre_describes_its_fibre_attachment(
    http_as: HttpAs, emulator_pki: EmulatorPki
) -> None:
    module = http_as(emulator_pki.controller).get("/api/v1/modules/norte-rx").json()

    assert (module["node"], module["role"]) == ("norte", "receiver")
    assert module["attachment"] == {"device": "fibre", "id": "concepcion-norte"}


def test_a_new_module_is_disabled_with_no_peers(operator: EmulatorClient) -> None:
    status = operator.module_status("norte-rx")

    assert set(status) >= STATUS_FIELDS
    assert status == {
        "id": "norte-rx", "state": "disabled", "reason": "not enabled", "peers": [], "dwdm_channel": None,
        "wavelength_nm": None, "enabled": False, "paired_with": None,
    }  # fmt: skip


def test_an_enabled_module_no_peer_names_back_is_unpaired(operator: EmulatorClient) -> None:
    status = operator.configure("norte-rx", ["concepcion-tx"], 59, enabled=True)

    assert status["state"] == "unpaired"
    assert status["paired_with"] is None
    assert status["wavelength_nm"] == pytest.approx(1530.33, abs=0.01)  # DWDM ch 59: 195.9 THz


def test_a_pair_on_different_quantum_channels_is_down(operator: EmulatorClient) -> None:
    operator.configure("norte-tx", ["quintin-rx2"], 59, enabled=True)

    status = operator.configure("quintin-rx2", ["norte-tx"], 58, enabled=True)

    assert status["state"] == "down"
    assert status["reason"] == "the modules use different quantum channels"
    assert status["paired_with"] == "norte-tx"
