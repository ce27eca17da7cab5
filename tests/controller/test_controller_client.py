"""The controller's northbound client: answers as data, refusals as one error that keeps the status and
the body's ``message`` and ``details`` (a refused channel's predictions), over ``httpx.MockTransport``."""

from __future__ import annotations

import json

import httpx
import pytest

from sdqkd.controller.client import ControllerClient, ControllerClientError
from sdqkd.errors import Unavailable


def _client(handler: httpx.MockTransport) -> ControllerClient:
    return ControllerClient("https://controller.test/", http_client=httpx.Client(transport=handler))


def test_a_refused_channel_keeps_the_status_message_and_predictions() -> None:
    details = [{"link": "concepcion-norte", "predicted_skr_bps": 31000.0, "target_bps": 42000.0}]

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            409, json={"message": "x would take a QKD link below its target", "details": details}
        )

    with pytest.raises(ControllerClientError) as refused:
        _client(httpx.MockTransport(refuse)).admit_channel("concepcion-norte", {"id": "x"})

    assert refused.value.status_code == 409
    assert refused.value.message == "x would take a QKD link below its target"
    assert refused.value.details == details
    assert str(refused.value) == (
        "controller refused POST /api/v1/optical/fibres/concepcion-norte/channels: "
        "x would take a QKD link below its target"
    )
    assert isinstance(refused.value, Unavailable)


def test_removing_a_channel_answers_nothing_and_quotes_the_names() -> None:
    seen: list[str] = []

    def remove(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(204)

    assert _client(httpx.MockTransport(remove)).remove_channel("a/b", "c d") is None
    assert seen == ["/api/v1/optical/fibres/a%2Fb/channels/c%20d"]


def test_setting_the_mode_keeps_the_target_margin() -> None:
    sent: list[dict[str, object]] = []

    def policy(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            sent.append(json.loads(request.content))
            return httpx.Response(200, json=sent[-1])
        return httpx.Response(200, json={"mode": "protect-qkd", "target_margin": 0.1})

    answer = _client(httpx.MockTransport(policy)).set_policy("observe")

    assert sent == [{"mode": "observe", "target_margin": 0.1}]
    assert answer == {"mode": "observe", "target_margin": 0.1}


def test_an_answer_that_is_not_json_and_a_controller_that_is_not_there_are_client_errors() -> None:
    def html(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>")

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ControllerClientError, match="not JSON"):
        _client(httpx.MockTransport(html)).switches()
    with pytest.raises(ControllerClientError, match="cannot reach the controller") as missing:
        _client(httpx.MockTransport(unreachable)).links()
    assert missing.value.status_code is None


def test_a_client_without_a_certificate_is_refused() -> None:
    with pytest.raises(ControllerClientError, match="needs a certificate"):
        ControllerClient("https://controller.test")


def test_the_service_calls_send_the_intent_and_keep_the_admissions_refusal() -> None:
    seen: list[tuple[str, str, object]] = []

    def services(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        seen.append((request.method, request.url.raw_path.decode(), body))
        if request.method == "POST":
            return httpx.Response(409, json={"message": "no QKD link or relay path joins n1 and n3 now"})
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json=[] if request.url.path.endswith("services") else {"id": "s 1"})

    client = _client(httpx.MockTransport(services))
    intent = {"type": "encrypted-tunnel", "a": {"node": "n1", "listen": "127.0.0.1:9000"}}
    with pytest.raises(ControllerClientError) as refused:
        client.create_service(intent)
    assert refused.value.status_code == 409
    assert refused.value.message == "no QKD link or relay path joins n1 and n3 now"
    assert client.services() == []
    assert client.service("s 1") == {"id": "s 1"}
    assert client.delete_service("s 1") is None
    assert seen == [
        ("POST", "/api/v1/services", intent),
        ("GET", "/api/v1/services", None),
        ("GET", "/api/v1/services/s%201", None),
        ("DELETE", "/api/v1/services/s%201", None),
    ]
