"""``sdqkd service``: service intents from the command line, against a fake controller (the HTTP
exchange is real, over ``httpx.MockTransport``)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from sdqkd.controller.client import ControllerClient
from sdqkd.controller.service_intents import OpotChain
from sdqkd.runtime import status

Sdqkd = Callable[..., subprocess.CompletedProcess[str]]
SERVICE_ID = "0b7e1c52-8d4e-4f7a-9a51-3c2d1e0f9a10"


class FakeController:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.service: dict[str, Any] = {
            "id": SERVICE_ID,
            "type": "encrypted-tunnel",
            "a": {"node": "n1", "listen": "127.0.0.1:9000"},
            "b": {"node": "n3", "forward": "127.0.0.1:8080"},
            "rekey_s": 5.0,
            "min_rate_bps": 1000,
            "apps": ["6f1d1f2c-0000-4000-8000-000000000000"],
            "state": "degraded",
            "reason": "the entry at n1 is restarting",
        }

    @staticmethod
    def opot(intent: dict[str, Any]) -> dict[str, Any]:
        """An OPoT service as the controller answers its creation (its shares masked)."""
        path = intent["path"]
        listen = {node: f"127.0.0.1:{40001 + i}" for i, node in enumerate(reversed(path))}
        listen[path[0]] = intent.get("listen") or listen[path[0]]
        processes = {
            node: {"node": node, "kind": "opot-node", "args": {"share": "**********", "listen": listen[node]}}
            for node in reversed(path)
        }
        return {
            "id": SERVICE_ID, "type": "opot", "forward": None, **intent, "apps": [], "processes": processes,
            "route": path, "state": "instantiating", "reason": None,
        }  # fmt: skip

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        self.requests.append((request.method, request.url.path, body))
        if request.method == "POST" and body["type"] == "opot":
            return httpx.Response(201, json=self.opot(body))
        if request.method == "POST":
            if body["b"]["node"] == "n9":
                return httpx.Response(
                    400, json={"message": "node 'n9' has no service manager", "details": []}
                )
            return httpx.Response(201, json={**self.service, "state": "instantiating", "reason": None})
        if request.method == "DELETE":
            return httpx.Response(204)
        if request.url.path.endswith("/services"):
            return httpx.Response(200, json=[self.service])
        entry = {"node": "n1", "process": "e", "state": "restarting", "pid": None, "restarts": 1,
                 "stats": {"epochs": 3, "bytes_entry_to_exit": 10, "bytes_exit_to_entry": 12}}  # fmt: skip
        return httpx.Response(200, json={**self.service, "endpoints": {"entry": entry, "exit": None}})


@pytest.fixture
def controller(monkeypatch: pytest.MonkeyPatch) -> FakeController:
    fake = FakeController()

    def client(run: Any) -> ControllerClient:
        return ControllerClient(
            "https://controller.test", http_client=httpx.Client(transport=httpx.MockTransport(fake.handle))
        )

    monkeypatch.setattr(status, "controller_client", client)
    return fake


def test_create_sends_the_intent_and_prints_the_service(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = sdqkd(
        "service", "create", "encrypted-tunnel", "--run-dir", str(tmp_path), "--a", "n1",
        "--listen", "127.0.0.1:9000", "--b", "n3", "--forward", "127.0.0.1:8080", "--rekey-s", "5",
        "--min-rate-bps", "1000",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert controller.requests == [
        (
            "POST",
            "/api/v1/services",
            {
                "type": "encrypted-tunnel",
                "a": {"node": "n1", "listen": "127.0.0.1:9000"},
                "b": {"node": "n3", "forward": "127.0.0.1:8080"},
                "rekey_s": 5.0,
                "min_rate_bps": 1000,
            },
        )
    ]
    assert f"created {SERVICE_ID} encrypted-tunnel n1 127.0.0.1:9000 → n3 127.0.0.1:8080: instantiating" in (
        result.stdout
    )


def test_a_refused_intent_exits_non_zero_with_the_controllers_message(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = sdqkd(
        "service", "create", "encrypted-tunnel", "--run-dir", str(tmp_path), "--a", "n1",
        "--listen", "127.0.0.1:9000", "--b", "n9", "--forward", "127.0.0.1:8080",
    )  # fmt: skip
    assert result.returncode != 0
    assert "node 'n9' has no service manager" in result.stderr


def test_list_show_and_delete(sdqkd: Sdqkd, controller: FakeController, tmp_path: Path) -> None:
    listed = sdqkd("service", "list", "--run-dir", str(tmp_path), "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == [controller.service]
    shown = sdqkd("service", "show", SERVICE_ID, "--run-dir", str(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "degraded (the entry at n1 is restarting)" in shown.stdout
    assert "entry at n1: restarting, pid None, restarts 1, epochs 3" in shown.stdout
    deleted = sdqkd("service", "delete", SERVICE_ID, "--run-dir", str(tmp_path))
    assert deleted.returncode == 0, deleted.stderr
    assert controller.requests[-1][:2] == ("DELETE", f"/api/v1/services/{SERVICE_ID}")


def test_create_opot_sends_the_path_and_its_options_as_an_opot_intent(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = sdqkd(
        "service", "create", "opot", "--run-dir", str(tmp_path), "--path", "n1, n2,n3,",
        "--listen", "0.0.0.0:5000", "--forward", "127.0.0.1:8080", "--refresh-packets", "500",
        "--refresh-s", "5", "--min-rate-bps", "2000",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    ((method, path, intent),) = controller.requests
    assert (method, path) == ("POST", "/api/v1/services")
    assert intent == {
        "type": "opot",
        "path": ["n1", "n2", "n3"],
        "listen": "0.0.0.0:5000",
        "forward": "127.0.0.1:8080",
        "refresh_packets": 500,
        "refresh_s": 5.0,
        "min_rate_bps": 2000,
    }
    assert OpotChain.model_validate(intent).path == ["n1", "n2", "n3"]  # what the controller takes
    assert (
        f"created {SERVICE_ID} opot n1 0.0.0.0:5000 → n2 → n3 127.0.0.1:8080: instantiating" in result.stdout
    )


def test_create_opot_leaves_listen_and_forward_to_the_controller_when_not_given(
    sdqkd: Sdqkd, controller: FakeController, tmp_path: Path
) -> None:
    result = sdqkd(
        "service", "create", "opot", "--run-dir", str(tmp_path), "--path", "a,b", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    ((_, _, intent),) = controller.requests
    assert intent == {"type": "opot", "path": ["a", "b"], "refresh_packets": 10_000, "refresh_s": 60.0,
                      "min_rate_bps": 0}  # fmt: skip
    assert OpotChain.model_validate(intent).listen is None
    shown = json.loads(result.stdout)
    assert shown["processes"]["a"]["args"] == {"share": "**********", "listen": "127.0.0.1:40002"}
