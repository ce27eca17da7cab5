"""``sdqkd optical``: the controller's optical layer from the command line, against a fake controller that
answers as docs/optical.md says (the HTTP exchange is real, over ``httpx.MockTransport``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sdqkd.controller.client import ControllerClient
from sdqkd.runtime import status

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]


def _classical(
    channel_id: str, grid: int, actual: float, requested: float, rate_class: str = "10G"
) -> dict[str, Any]:
    return {
        "id": channel_id,
        "dwdm_channel": grid,
        "wavelength_nm": None,
        "frequency_thz": 190.0 + grid / 10,
        "direction": "a_to_b",
        "label": rate_class,
        "rate_class": rate_class,
        "tunable": rate_class == "100G",
        "requested_power_dbm": requested,
        "actual_power_dbm": actual,
        "floor_dbm": -14.1 if rate_class == "100G" else -18.1,
        "requested_dwdm_channel": grid,
        "raman_share": 0.6,
    }


class FakeController:
    """The optical part of a controller's API over one fibre, with what it was asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.policy = {"mode": "protect-qkd", "target_margin": 0.05}
        self.fibre = {
            "id": "concepcion-norte",
            "a": "concepcion",
            "b": "norte",
            "length_km": 8.1,
            "loss_db": 2.9,
            "cut": False,
            "classical_channels": [_classical("c100g-36", 36, -14.1, 15.0, "100G")],
            "quantum_channels": [
                {
                    "link": "concepcion-norte",
                    "dwdm_channel": 59,
                    "frequency_thz": 195.9,
                    "status": "up",
                    "raman_noise_snu": 0.0123,
                    "excess_noise_snu": 0.0223,
                    "predicted_skr_bps": 42300.0,
                    "measured_skr_bps": 42120,
                    "target_bps": 42000.0,
                    "at_target": True,
                },
            ],
        }

    def _predictions(self, predicted_bps: float) -> list[dict[str, Any]]:
        return [{"link": "concepcion-norte", "predicted_skr_bps": predicted_bps, "target_bps": 42000.0}]

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path, method = request.url.path, request.method
        self.requests.append((method, path, body))
        fibre_path = "/api/v1/optical/fibres/concepcion-norte"
        if (method, path) == ("GET", "/api/v1/optical/fibres"):
            return httpx.Response(200, json={"fibres": [self.fibre], "plant_error": None})
        if (method, path) == ("GET", fibre_path):
            return httpx.Response(200, json=self.fibre)
        if method == "GET" and path.startswith("/api/v1/optical/fibres/"):
            return httpx.Response(404, json={"message": "no fibre 'nowhere'", "details": []})
        if (method, path) == ("POST", fibre_path + "/channels"):
            return self._admit(body)
        if method == "DELETE" and path.startswith(fibre_path + "/channels/"):
            channel = path.rsplit("/", 1)[1]
            known = [c for c in self.fibre["classical_channels"] if c["id"] == channel]
            if not known:
                return httpx.Response(
                    404, json={"message": f"no classical channel {channel!r}", "details": []}
                )
            self.fibre["classical_channels"].remove(known[0])
            return httpx.Response(204)
        if (method, path) == ("GET", "/api/v1/optical/actions"):
            return httpx.Response(200, json={"actions": [_ACTION]})
        if (method, path) == ("GET", "/api/v1/optical/policy"):
            return httpx.Response(200, json=self.policy)
        if (method, path) == ("PUT", "/api/v1/optical/policy"):
            self.policy = body
            return httpx.Response(200, json=body)
        if (method, path) == ("GET", "/api/v1/switches"):
            return httpx.Response(200, json={"switches": [_SWITCH]})
        return httpx.Response(404, json={"message": "not found", "details": []})

    def _admit(self, spec: dict[str, Any]) -> httpx.Response:
        if spec["launch_power_dbm"] > 10:
            message = (
                f"{spec['id']} on concepcion-norte would take a QKD link below its target wherever it goes"
            )
            return httpx.Response(409, json={"message": message, "details": self._predictions(31000.0)})
        placed = dict(spec)
        if spec["dwdm_channel"] == 60:
            placed.update(dwdm_channel=14, launch_power_dbm=-2.5)
            answer = {
                "decision": "adjusted",
                "channel": placed,
                "predictions": self._predictions(42100.0),
                "adjustments": ["dwdm_channel 60 → 14", "launch_power_dbm 3 → -2.50"],
            }
        else:
            answer = {"decision": "accepted", "channel": placed, "predictions": self._predictions(43000.0)}
        self.fibre["classical_channels"].append(
            _classical(
                spec["id"], placed["dwdm_channel"], placed["launch_power_dbm"], placed["launch_power_dbm"]
            )
        )
        return httpx.Response(201, json=answer)


_ACTION = {
    "id": 7,
    "time": "2026-12-02T22:10:03.120Z",
    "fibre": "concepcion-norte",
    "kind": "lower_power",
    "target": "c100g-36",
    "before": 15.0,
    "after": -14.1,
    "reason": "concepcion-norte predicted 28417 < 42000",
    "predicted_before_bps": 28417.0,
    "predicted_after_bps": 42310.0,
    "measured_before_bps": 28400,
    "measured_after_bps": None,
}
_SWITCH = {
    "id": "concepcion-switch",
    "node": "concepcion",
    "transmitter": "concepcion-tx",
    "port": "to-norte",
    "since": "2026-12-02T22:10:00.000Z",
    "moves": 12,
    "schedule": {"low_water_bits": 262144, "min_dwell_s": 10.0, "dead_time_s": 0.3, "window_s": 300.0},
    "receivers": [
        {
            "port": "to-norte",
            "link": "concepcion-norte",
            "node": "norte",
            "connected": True,
            "share": 0.48,
            "target_share": 0.5,
            "demand_bps": 20000.0,
            "rate_bps": 451000.0,
            "pool_bits": 1200000,
            "available": True,
            "status": "up",
        },
        {
            "port": "to-quintin",
            "link": "concepcion-quintin",
            "node": "quintin",
            "connected": False,
            "share": 0.52,
            "target_share": 0.5,
            "demand_bps": 0.0,
            "rate_bps": 537000.0,
            "pool_bits": 900000,
            "available": True,
            "status": "standby",
        },
    ],
}


@pytest.fixture
def controller(monkeypatch: pytest.MonkeyPatch) -> FakeController:
    """The fake controller every ``sdqkd optical`` command of the test reaches."""
    fake = FakeController()

    def client(run: Any) -> ControllerClient:
        return ControllerClient(
            "https://controller.test", http_client=httpx.Client(transport=httpx.MockTransport(fake.handle))
        )

    monkeypatch.setattr(status, "controller_client", client)
    return fake


def _optical(sdqkd: Sdqkd, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return sdqkd("optical", *args, "--run-dir", str(tmp_path))


def test_fibres_shows_classical_and_quantum_channels_with_powers_floors_and_rates(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = _optical(sdqkd, tmp_path, "fibres")

    assert result.returncode == 0, result.stderr
    assert "fibre concepcion-norte: concepcion → norte, 8.1 km, 2.90 dB" in result.stdout
    row = next(line for line in result.stdout.splitlines() if "c100g-36" in line)
    assert [cell.strip() for cell in row.split("│")[2:8]] == [
        "36",
        "193.60",
        "100G",
        "15.0",
        "-14.1",
        "-14.1",
    ]
    quantum = next(line for line in result.stdout.splitlines() if "│ concepcion-norte" in line)
    assert [cell.strip() for cell in quantum.split("│")[5:10]] == ["0.0123", "42.3", "42.1", "42.0", "yes"]


def test_fibres_of_one_fibre_as_json_is_the_controller_answer(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = _optical(sdqkd, tmp_path, "fibres", "concepcion-norte", "--format", "json")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"fibres": [controller.fibre]}
    assert controller.requests[-1][:2] == ("GET", "/api/v1/optical/fibres/concepcion-norte")


def test_fibres_of_an_unknown_fibre_fails_with_the_controller_message(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = _optical(sdqkd, tmp_path, "fibres", "nowhere")

    assert result.returncode == 1
    assert result.stderr.startswith("sdqkd: error: controller refused GET /api/v1/optical/fibres/nowhere")
    assert "no fibre 'nowhere'" in result.stderr


def test_add_accepted_sends_the_channel_and_prints_the_predictions(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = _optical(
        sdqkd, tmp_path, "add", "concepcion-norte", "--id", "c10g-10", "--dwdm-channel", "10", "--power", "-3"
    )

    assert result.returncode == 0, result.stderr
    assert controller.requests[-1] == (
        "POST",
        "/api/v1/optical/fibres/concepcion-norte/channels",
        {
            "id": "c10g-10",
            "dwdm_channel": 10,
            "launch_power_dbm": -3.0,
            "direction": "a_to_b",
            "rate_class": "10G",
            "label": "10G",
        },
    )
    assert result.stdout.startswith(
        "accepted: c10g-10 lit on concepcion-norte at grid channel 10 at -3.0 dBm"
    )
    assert "43.0" in result.stdout


def test_add_adjusted_says_what_the_controller_changed(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = _optical(
        sdqkd,
        tmp_path,
        "add",
        "concepcion-norte",
        "--id",
        "c100g-60",
        "--dwdm-channel",
        "60",
        "--power",
        "3",
        "--rate-class",
        "100G",
        "--direction",
        "b_to_a",
    )

    assert result.returncode == 0, result.stderr
    sent = controller.requests[-1][2]
    assert (sent["rate_class"], sent["direction"], sent["label"]) == ("100G", "b_to_a", "100G")
    assert result.stdout.splitlines()[0] == (
        "adjusted: c100g-60 lit on concepcion-norte at grid channel 14 at -2.5 dBm "
        "(dwdm_channel 60 → 14; launch_power_dbm 3 → -2.50)"
    )


def test_add_refused_prints_predicted_rates_against_targets_and_exits_non_zero(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = _optical(
        sdqkd, tmp_path, "add", "concepcion-norte", "--id", "loud", "--dwdm-channel", "58", "--power", "12"
    )

    assert result.returncode == 1
    row = next(line for line in result.stdout.splitlines() if "concepcion-norte" in line and "│" in line)
    assert [cell.strip() for cell in row.split("│")[1:5]] == ["concepcion-norte", "31.0", "42.0", "no"]
    assert "would take a QKD link below its target" in result.stderr
    assert [c["id"] for c in controller.fibre["classical_channels"]] == ["c100g-36"]


def test_add_refused_as_json_gives_the_decision_and_details(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = _optical(
        sdqkd,
        tmp_path,
        "add",
        "concepcion-norte",
        "--id",
        "loud",
        "--dwdm-channel",
        "58",
        "--power",
        "12",
        "--format",
        "json",
    )

    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["decision"] == "refused"
    assert (
        answer["message"]
        == "loud on concepcion-norte would take a QKD link below its target wherever it goes"
    )
    assert answer["details"] == [
        {"link": "concepcion-norte", "predicted_skr_bps": 31000.0, "target_bps": 42000.0}
    ]


def test_add_rejects_an_unknown_rate_class_before_asking(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = _optical(
        sdqkd,
        tmp_path,
        "add",
        "concepcion-norte",
        "--id",
        "x",
        "--dwdm-channel",
        "10",
        "--power",
        "0",
        "--rate-class",
        "40G",
    )

    assert result.returncode == 2
    assert "--rate-class" in result.stderr
    assert controller.requests == []


def test_remove_deletes_the_channel_and_an_unknown_one_fails(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    removed = _optical(sdqkd, tmp_path, "remove", "concepcion-norte", "c100g-36")
    again = _optical(sdqkd, tmp_path, "remove", "concepcion-norte", "c100g-36")

    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == "concepcion-norte: removed channel c100g-36"
    assert controller.fibre["classical_channels"] == []
    assert again.returncode == 1
    assert "no classical channel 'c100g-36'" in again.stderr


def test_policy_shows_and_sets_the_mode_keeping_the_margin(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    shown = _optical(sdqkd, tmp_path, "policy")
    observe = _optical(sdqkd, tmp_path, "policy", "observe")
    margin = _optical(sdqkd, tmp_path, "policy", "--target-margin", "0.1", "--format", "json")

    assert shown.stdout.strip() == "optical policy protect-qkd, target margin 5 %"
    assert observe.stdout.strip() == "optical policy observe, target margin 5 %"
    assert (
        "PUT",
        "/api/v1/optical/policy",
        {"mode": "observe", "target_margin": 0.05},
    ) in controller.requests
    assert json.loads(margin.stdout) == {"mode": "observe", "target_margin": 0.1}


def test_policy_refuses_a_mode_that_does_not_exist(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = _optical(sdqkd, tmp_path, "policy", "aggressive")

    assert result.returncode == 2
    assert controller.policy["mode"] == "protect-qkd"


def test_actions_lists_kind_target_and_change(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = _optical(sdqkd, tmp_path, "actions", "--limit", "5")

    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "lower_power" in line)
    assert [cell.strip() for cell in row.split("│")[3:8]] == [
        "concepcion-norte",
        "lower_power",
        "c100g-36",
        "15 → -14.1",
        "28.4 → 42.3",
    ]


def test_switches_shows_each_receiver_share_and_which_is_connected(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = _optical(sdqkd, tmp_path, "switches")

    assert result.returncode == 0, result.stderr
    assert "switch concepcion-switch at concepcion (concepcion-tx): port to-norte" in result.stdout
    rows = [line for line in result.stdout.splitlines() if "concepcion-" in line and "│" in line]
    cells = [[cell.strip() for cell in row.split("│")[1:9]] for row in rows]
    assert cells == [
        ["▶ to-norte", "concepcion-norte", "norte", "up", "48 %", "50 %", "20.0", "1200"],
        ["to-quintin", "concepcion-quintin", "quintin", "standby", "52 %", "50 %", "0.0", "900"],
    ]


def test_optical_without_a_running_network_says_so(sdqkd: Sdqkd, tmp_path: Path) -> None:
    result = _optical(sdqkd, tmp_path, "fibres")

    assert result.returncode == 1
    assert "is a network running" in result.stderr
