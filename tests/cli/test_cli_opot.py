"""``sdqkd opot``: profiles for a path written owner-only and read back as the same scheme, a node
whose settings do not fit its place on the path ends with one line and status 1 before anything listens,
and ``send`` drives a controller's OPoT service with one fault at a time."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import sdqkd.cli.opot as opot_cli
from sdqkd.apps.opot import PathProfile
from sdqkd.apps.opot_traffic import Fault, Inject, Skip, Swap, TrafficResult
from sdqkd.controller.client import ControllerClient
from sdqkd.runtime import status

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]


def test_help_lists_profile_and_node(sdqkd: Sdqkd) -> None:
    result = sdqkd("opot", "--help")
    assert result.returncode == 0
    assert "profile" in result.stdout
    assert "node" in result.stdout
    assert "--refresh-packets" in sdqkd("opot", "node", "--help").stdout


def test_a_profile_is_written_owner_only_and_reads_back_for_the_path(sdqkd: Sdqkd, tmp_path: Path) -> None:
    out = tmp_path / "path.json"
    result = sdqkd("opot", "profile", "--path", "n1, n2,n3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    profile = PathProfile.from_json(out.read_text())
    assert [n.node for n in profile.nodes] == ["n1", "n2", "n3"]
    assert profile.verifier.node == "n3"


def test_a_path_of_one_node_gets_no_profile(sdqkd: Sdqkd, tmp_path: Path) -> None:
    result = sdqkd("opot", "profile", "--path", "n1", "--out", str(tmp_path / "p.json"))
    assert result.returncode == 1
    assert "at least an ingress and a verifier" in result.stderr
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(
    ("node", "extra", "message"),
    [
        ("n9", ["--next", "127.0.0.1:1"], "not on the profile's path"),
        ("n3", ["--next", "127.0.0.1:1"], "verifier: give --forward"),
        ("n1", ["--forward", "127.0.0.1:1"], "not the path's verifier: give --next"),
        ("n2", ["--next", "nowhere"], "--next 'nowhere' is not HOST:PORT"),
        ("n1", ["--next", "127.0.0.1:1", "--refresh-packets", "-1"], "0 or more"),
        ("n2", ["--next", "127.0.0.1:1", "--window", "0"], "replay window"),
    ],
)
def test_bad_node_settings_end_with_one_line(
    sdqkd: Sdqkd, tmp_path: Path, node: str, extra: list[str], message: str
) -> None:
    profile = tmp_path / "path.json"
    assert sdqkd("opot", "profile", "--path", "n1,n2,n3", "--out", str(profile)).returncode == 0
    args = ["--run-dir", str(tmp_path), "--node", node, "--profile", str(profile), "--listen", "127.0.0.1:0"]
    result = sdqkd("opot", "node", *args, *extra)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_node_without_a_profile_or_a_running_network_ends_with_one_line(
    sdqkd: Sdqkd, tmp_path: Path
) -> None:
    args = ["--node", "n1", "--listen", "127.0.0.1:0", "--next", "127.0.0.1:1"]
    result = sdqkd(
        "opot", "node", "--run-dir", str(tmp_path), "--profile", str(tmp_path / "none.json"), *args
    )
    assert result.returncode == 1
    assert "--profile" in result.stderr
    profile = tmp_path / "path.json"
    sdqkd("opot", "profile", "--path", "n1,n2", "--out", str(profile))
    result = sdqkd("opot", "node", "--run-dir", str(tmp_path / "none"), "--profile", str(profile), *args)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1


# opot send: against a fake controller (the HTTP exchange is real, over httpx.MockTransport) -----------------

SERVICE_ID = "5d1c7a52-2b1e-4d7f-9c55-0a6b7e2f4c31"


class FakeController:
    """A controller with one OPoT service over n1 → n2 → n3 whose nodes serve (and count nothing)."""

    def __init__(self, service_type: str = "opot") -> None:
        self.requests: list[tuple[str, str, Any]] = []
        endpoint = {"state": "running", "pid": 4242, "stats": {"pid": 4242, "dropped": {}}}
        self.service = {
            "id": SERVICE_ID, "type": service_type, "state": "active", "path": ["n1", "n2", "n3"],
            "processes": {n: {"node": n, "args": {"listen": f"127.0.0.1:{9000 + i}"}} for i, n in
                          enumerate(["n1", "n2", "n3"])},
            "endpoints": {n: {"node": n, **endpoint} for n in ["n1", "n2", "n3"]},
        }  # fmt: skip

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        return httpx.Response(200, json=self.service)


def _controller(monkeypatch: pytest.MonkeyPatch, fake: FakeController) -> FakeController:
    def client(run: Any) -> ControllerClient:
        transport = httpx.MockTransport(fake.handle)
        return ControllerClient("https://controller.test", http_client=httpx.Client(transport=transport))

    monkeypatch.setattr(status, "controller_client", client)
    return fake


@pytest.mark.parametrize(
    "faults",
    [
        ["--skip", "n2", "--inject", "5"],
        ["--skip", "n2", "--swap", "n2,n3"],
        ["--swap", "n2,n3", "--inject", "5"],
    ],
)
def test_send_takes_one_fault_at_a_time_and_asks_the_controller_nothing_otherwise(
    sdqkd: Sdqkd, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, faults: list[str]
) -> None:
    controller = _controller(monkeypatch, FakeController())
    result = sdqkd("opot", "send", "--run-dir", str(tmp_path), "--service", SERVICE_ID, *faults)
    assert result.returncode == 2
    assert "one fault at a time: --skip, --swap or --inject" in result.stderr
    assert result.stderr.count("\n") == 1
    assert controller.requests == []


def test_send_takes_a_swap_of_two_nodes_only(
    sdqkd: Sdqkd, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    controller = _controller(monkeypatch, FakeController())
    result = sdqkd("opot", "send", "--run-dir", str(tmp_path), "--service", SERVICE_ID, "--swap", "n2")
    assert result.returncode == 2
    assert "--swap takes two nodes, A,B" in result.stderr
    assert controller.requests == []


@pytest.mark.parametrize(
    ("options", "fault"),
    [
        ([], None),
        (["--skip", "n2"], Skip("n2")),
        (["--swap", "n2, n3"], Swap("n2", "n3")),
        (["--inject", "7"], Inject(7)),
    ],
)
def test_send_drives_the_services_traffic_with_its_one_fault_and_prints_the_counts(
    sdqkd: Sdqkd, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, options: list[str], fault: Fault | None
) -> None:
    _controller(monkeypatch, FakeController())
    driven: list[tuple[Any, ...]] = []

    def driver(
        calls: Any, service_id: str, packets: int, fault: Fault | None, **options: Any
    ) -> TrafficResult:
        driven.append((service_id, packets, fault, options))
        return TrafficResult(packets + 1, packets - 2, 3, 0)

    monkeypatch.setattr(opot_cli, "send_to_service", driver)
    args = ["--service", SERVICE_ID, "--packets", "300", "--payload-bytes", "32", "--timeout-s", "9"]
    result = sdqkd("opot", "send", "--run-dir", str(tmp_path), *args, *options)
    assert result.returncode == 0, result.stderr
    assert driven == [(SERVICE_ID, 300, fault, {"payload_bytes": 32, "timeout_s": 9.0})]
    assert json.loads(result.stdout) == {"sent": 301, "valid": 298, "invalid": 3, "lost": 0}


def test_a_skip_is_asked_of_the_controller_as_a_route_and_the_path_put_back(
    sdqkd: Sdqkd, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    controller = _controller(monkeypatch, FakeController())
    args = ["--service", SERVICE_ID, "--packets", "0", "--skip", "n2"]
    result = sdqkd("opot", "send", "--run-dir", str(tmp_path), *args)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"sent": 0, "valid": 0, "invalid": 0, "lost": 0}
    service = f"/api/v1/services/{SERVICE_ID}"
    assert [r for r in controller.requests if r[0] == "PUT"] == [
        ("PUT", f"{service}/route", {"via": ["n1", "n3"]}),
        ("PUT", f"{service}/route", {"via": ["n1", "n2", "n3"]}),
    ]
    assert controller.requests[0] == ("GET", service, None)


@pytest.mark.parametrize(
    ("service_type", "options", "message"),
    [
        ("encrypted-tunnel", [], "is not an OPoT service"),
        ("opot", ["--skip", "n1"], "only a transit node can be skipped"),
        ("opot", ["--swap", "n1,n2"], "the ingress stays first"),
    ],
)
def test_send_to_no_opot_service_or_a_fault_the_path_cannot_take_ends_with_one_line(
    sdqkd: Sdqkd,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    service_type: str,
    options: list[str],
    message: str,
) -> None:
    controller = _controller(monkeypatch, FakeController(service_type))
    result = sdqkd("opot", "send", "--run-dir", str(tmp_path), "--service", SERVICE_ID, *options)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert all(method == "GET" for method, _, _ in controller.requests)  # no route changed
