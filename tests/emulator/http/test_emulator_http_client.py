"""The emulator's client: refusals, transport failures and answers that are not JSON become one
EmulatorClientError (an Unavailable)."""

from __future__ import annotations

import httpx
import pytest
from emulator_http_support import ClientAs, EmulatorPki

from sdqkd.emulator.client import EmulatorClient, EmulatorClientError
from sdqkd.errors import Unavailable
from sdqkd.server import BackgroundServer

pytestmark = pytest.mark.integration


def test_a_refusal_carries_the_status_and_the_problems_detail(
    client_as: ClientAs, emulator_pki: EmulatorPki
) -> None:
    with pytest.raises(EmulatorClientError) as refused:
        client_as(emulator_pki.operator).module_status("nowhere")

    assert refused.value.status_code == 404
    assert "no QKD module 'nowhere'" in str(refused.value)


def test_an_emulator_that_is_not_there_is_a_client_error_without_a_status(emulator_pki: EmulatorPki) -> None:
    operator = emulator_pki.operator
    with (
        EmulatorClient(
            "https://localhost:1", operator.cert, operator.key, emulator_pki.ca.cert_path
        ) as client,
        pytest.raises(EmulatorClientError, match="cannot reach the emulator") as failed,
    ):
        client.links()

    assert failed.value.status_code is None


def test_a_key_that_is_not_the_certificates_is_a_client_error(
    server: BackgroundServer, emulator_pki: EmulatorPki
) -> None:
    with pytest.raises(EmulatorClientError, match="cannot use certificate"):
        EmulatorClient(
            server.url, emulator_pki.operator.cert, emulator_pki.agent_norte.key, emulator_pki.ca.cert_path
        )


def test_a_missing_certificate_is_a_client_error(server: BackgroundServer, emulator_pki: EmulatorPki) -> None:
    missing = emulator_pki.operator.cert.with_name("nobody.crt")

    with pytest.raises(EmulatorClientError, match=r"nobody\.crt"):
        EmulatorClient(server.url, missing, emulator_pki.operator.key, emulator_pki.ca.cert_path)


def test_an_answer_that_is_not_json_is_a_client_error(
    server: BackgroundServer, emulator_pki: EmulatorPki
) -> None:
    operator = emulator_pki.operator
    with EmulatorClient(server.url, operator.cert, operator.key, emulator_pki.ca.cert_path) as client:
        client._http.close()
        # a proxy's page where the emulator's JSON should be
        page = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>gateway</html>"))
        client._http = httpx.Client(base_url=server.url, transport=page)
        with pytest.raises(EmulatorClientError, match="not JSON") as failed:
            client.links()

    assert isinstance(failed.value, Unavailable)
    assert failed.value.status_code == 200
