"""Who may call what (docs/emulator.md, "Who may call"), and how the API says no: RFC 9457 problem
details on the management and plant APIs, ETSI GS QKD 014 Error bodies on a module's key delivery."""

from __future__ import annotations

import asyncio
import ssl

import httpx
import pytest
from emulator_http_support import ClientAs, EmulatorPki, HttpAs, assert_problem

from sdqkd.emulator.client import EmulatorClient, EmulatorClientError
from sdqkd.etsi014 import Error, Etsi014Client, Etsi014ClientError
from sdqkd.pki import IssuedCertificate
from sdqkd.server import BackgroundServer

pytestmark = pytest.mark.integration


def etsi014_refusal(
    server: BackgroundServer, pki: EmulatorPki, module: str, caller: IssuedCertificate
) -> int | None:
    """The status with which ``module``'s ETSI 014 status call refuses ``caller`` (None: admitted); a
    refusal must come as an ETSI 014 Error body."""

    async def call() -> Etsi014ClientError | None:
        async with Etsi014Client(
            f"{server.url}/devices/{module}", cert=caller.cert, key=caller.key, ca=pki.ca.cert_path
        ) as client:
            try:
                await client.status("norte")
            except Etsi014ClientError as exc:
                return exc
        return None

    refusal = asyncio.run(call())
    if refusal is None:
        return None
    assert "no ETSI 014 Error body" not in refusal.message
    return refusal.status_code


# Management and plant ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/modules"),
        ("GET", "/api/v1/links"),
        ("GET", "/api/v1/events"),
        ("PUT", "/api/v1/modules/concepcion-tx/config"),
        ("POST", "/api/v1/plant/fibres/concepcion-norte/cut"),
    ],
)
def test_a_kme_may_not_call_the_management_or_plant_api(
    http_as: HttpAs, emulator_pki: EmulatorPki, method: str, path: str
) -> None:
    body = {"peers": [], "enabled": False} if method == "PUT" else None

    response = http_as(emulator_pki.kme_concepcion).request(method, path, json=body)

    assert "kme:concepcion" in str(assert_problem(response, 403)["detail"])


def test_an_agent_configures_the_modules_of_its_own_node(
    client_as: ClientAs, emulator_pki: EmulatorPki
) -> None:
    agent = client_as(emulator_pki.agent_norte)

    status = agent.configure("norte-rx", ["concepcion-tx"], 59, enabled=True)

    assert (status["peers"], status["enabled"]) == (["concepcion-tx"], True)


def test_an_agent_may_not_configure_another_nodes_module(
    http_as: HttpAs, client_as: ClientAs, emulator_pki: EmulatorPki
) -> None:
    response = http_as(emulator_pki.agent_norte).put(
        "/api/v1/modules/concepcion-tx/config",
        json={"peers": ["norte-rx"], "dwdm_channel": 59, "enabled": True},
    )

    assert_problem(response, 403)
    assert client_as(emulator_pki.operator).module_status("concepcion-tx")["enabled"] is False


def test_an_agent_reads_the_plant_but_may_not_change_it(
    client_as: ClientAs, emulator_pki: EmulatorPki
) -> None:
    agent = client_as(emulator_pki.agent_norte)

    assert {f["id"] for f in agent.fibres()} == {"concepcion-norte", "concepcion-quintin", "norte-quintin"}
    for change in (
        lambda: agent.fibre_action("concepcion-norte", "cut"),
        lambda: agent.set_switch("concepcion-switch", "to-quintin"),
        lambda: agent.set_power("concepcion-norte", "c100g-36", 3.0),
        lambda: agent.module_action("norte-rx", "fail"),
    ):
        with pytest.raises(EmulatorClientError) as refused:
            change()
        assert refused.value.status_code == 403
    assert not any(f["cut"] for f in agent.fibres())


def test_the_controller_reads_and_writes(client_as: ClientAs, emulator_pki: EmulatorPki) -> None:
    controller = client_as(emulator_pki.controller)

    controller.configure("concepcion-tx", ["norte-rx"], 59, enabled=True)
    assert controller.fibre_action("norte-quintin", "cut")["cut"] is True
    assert controller.module_action("norte-tx", "fail")["state"] == "failed"


def test_an_unknown_module_is_not_found(http_as: HttpAs, emulator_pki: EmulatorPki) -> None:
    http = http_as(emulator_pki.operator)

    for response in (
        http.get("/api/v1/modules/nowhere"),
        http.get("/api/v1/modules/nowhere/status"),
        http.get("/api/v1/modules/nowhere/performance"),
        http.put("/api/v1/modules/nowhere/config", json={"peers": [], "enabled": True}),
        http.post("/api/v1/modules/nowhere/fail"),
    ):
        assert "nowhere" in str(assert_problem(response, 404)["detail"])


def test_unknown_plant_ids_are_not_found(http_as: HttpAs, emulator_pki: EmulatorPki) -> None:
    http = http_as(emulator_pki.operator)

    assert_problem(http.get("/api/v1/plant/fibres/nowhere"), 404)
    assert_problem(http.post("/api/v1/plant/fibres/nowhere/cut"), 404)
    assert_problem(
        http.put("/api/v1/plant/fibres/norte-quintin/channels/nothing", json={"launch_power_dbm": 1}), 404
    )
    assert_problem(http.put("/api/v1/plant/switches/nowhere", json={"port": None}), 404)
    assert_problem(http.put("/api/v1/plant/switches/concepcion-switch", json={"port": "to-mars"}), 404)


def test_a_launch_power_the_channel_cannot_have_is_refused_and_changes_nothing(
    http_as: HttpAs, operator: EmulatorClient, emulator_pki: EmulatorPki
) -> None:
    response = http_as(emulator_pki.operator).put(
        "/api/v1/plant/fibres/norte-quintin/channels/c100g-36", json={"launch_power_dbm": 99}
    )

    assert "launch_power_dbm" in str(assert_problem(response, 409)["detail"])
    fibre = next(f for f in operator.fibres() if f["id"] == "norte-quintin")
    assert next(c for c in fibre["channels"] if c["id"] == "c100g-36")["launch_power_dbm"] == 0.0


def test_a_quantum_channel_outside_the_tuning_range_is_refused_by_the_device(
    http_as: HttpAs, emulator_pki: EmulatorPki
) -> None:
    response = http_as(emulator_pki.operator).put(
        "/api/v1/modules/norte-rx/config",
        json={"peers": ["concepcion-tx"], "dwdm_channel": 1, "enabled": True},
    )

    assert "tuning range" in str(assert_problem(response, 409)["detail"])


@pytest.mark.parametrize(
    ("method", "path", "content"),
    [
        ("PUT", "/api/v1/modules/norte-rx/config", b'{"peers": ["concepcion-tx"'),
        ("PUT", "/api/v1/plant/fibres/norte-quintin/channels/c100g-36", b"launch_power_dbm=3"),
        ("PUT", "/api/v1/plant/switches/concepcion-switch", b"{'port': 'to-quintin'}"),
        ("POST", "/api/v1/plant/fibres/norte-quintin/channels", b"[1, 2"),
    ],
)
def test_malformed_json_is_a_bad_request(
    http_as: HttpAs, emulator_pki: EmulatorPki, method: str, path: str, content: bytes
) -> None:
    response = http_as(emulator_pki.operator).request(
        method, path, content=content, headers={"content-type": "application/json"}
    )

    assert_problem(response, 400)


def test_a_config_of_the_wrong_shape_is_a_bad_request(http_as: HttpAs, emulator_pki: EmulatorPki) -> None:
    response = http_as(emulator_pki.operator).put(
        "/api/v1/modules/norte-rx/config", json={"peers": "concepcion-tx", "dwdm_channel": 200}
    )

    assert_problem(response, 400)


def test_an_unknown_action_is_a_bad_request(http_as: HttpAs, emulator_pki: EmulatorPki) -> None:
    http = http_as(emulator_pki.operator)

    assert_problem(http.post("/api/v1/modules/norte-rx/explode"), 400)
    assert_problem(http.post("/api/v1/plant/fibres/norte-quintin/bend"), 400)


# ETSI GS QKD 014 of a module ---------------------------------------------------------------------


def test_the_kme_of_the_modules_node_is_served(
    network: EmulatorClient, server: BackgroundServer, emulator_pki: EmulatorPki
) -> None:
    assert etsi014_refusal(server, emulator_pki, "concepcion-tx", emulator_pki.kme_concepcion) is None


def test_an_sae_may_not_take_keys_from_a_module(
    server: BackgroundServer, http_as: HttpAs, emulator_pki: EmulatorPki
) -> None:
    assert etsi014_refusal(server, emulator_pki, "concepcion-tx", emulator_pki.sae_x) == 401
    response = http_as(emulator_pki.sae_x).get("/devices/concepcion-tx/api/v1/keys/norte/status")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert set(response.json()) <= {"message", "details"}
    assert Error.model_validate(response.json()).message


def test_the_kme_of_another_node_may_not_take_a_modules_keys(
    network: EmulatorClient, server: BackgroundServer, emulator_pki: EmulatorPki
) -> None:
    assert etsi014_refusal(server, emulator_pki, "concepcion-tx", emulator_pki.kme_quintin) == 401
    assert etsi014_refusal(server, emulator_pki, "norte-rx", emulator_pki.kme_concepcion) == 401


@pytest.mark.parametrize("caller", ["controller", "agent_norte"])
def test_the_controller_and_agents_may_not_take_keys(
    network: EmulatorClient, server: BackgroundServer, emulator_pki: EmulatorPki, caller: str
) -> None:
    issued: IssuedCertificate = getattr(emulator_pki, caller)

    assert etsi014_refusal(server, emulator_pki, "norte-rx", issued) == 401


def test_a_caller_without_a_client_certificate_cannot_connect(
    server: BackgroundServer, emulator_pki: EmulatorPki
) -> None:
    anonymous = ssl.create_default_context(cafile=str(emulator_pki.ca.cert_path))

    with (
        httpx.Client(base_url=server.url, verify=anonymous, timeout=5) as client,
        pytest.raises(httpx.TransportError),
    ):
        client.get("/api/v1/modules")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/modules/norte-rx/config", {"peers": ["concepcion-tx"], "dwdm_channel": 59, "enable": True}),
        ("/api/v1/plant/fibres/norte-quintin/channels/c100g-36", {"launch_power_dbm": 3, "power_dbm": 5}),
        ("/api/v1/plant/switches/concepcion-switch", {"port": "to-quintin", "ports": None}),
    ],
)
def test_a_misspelt_member_is_a_bad_request_and_changes_nothing(
    http_as: HttpAs, operator: EmulatorClient, emulator_pki: EmulatorPki, path: str, body: dict[str, object]
) -> None:
    before = (operator.module_status("norte-rx"), operator.fibres(), operator.switches())

    response = http_as(emulator_pki.operator).put(path, json=body)

    assert_problem(response, 400)
    assert (operator.module_status("norte-rx"), operator.fibres(), operator.switches()) == before
