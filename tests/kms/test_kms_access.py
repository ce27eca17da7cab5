"""Who may call a KME (mutual TLS on loopback): SAEs only its own and only through ETSI 014, the
KME↔KME API only the peer KME of the link, pool levels only the operators; strangers not at all."""

from __future__ import annotations

import asyncio
import ssl
import uuid

import httpx
import pytest
from kms_support import LINK, Network, etsi, refusal

from sdqkd.etsi014 import Etsi014Client, Etsi014ClientError
from sdqkd.pki import IssuedCertificate

pytestmark = pytest.mark.integration

_NOT_YOURS = "one or more key IDs are not available to this SAE"


def holder(network: Network, name: str) -> IssuedCertificate:
    certificate = getattr(network.pki, name)
    assert isinstance(certificate, IssuedCertificate)
    return certificate


# ETSI 014: SAEs attached to this KME only ----------------------------------------------------------


@pytest.mark.parametrize("name", ["n2_app", "n2_other", "stranger", "kme_n1", "kme_n2", "operator"])
def test_only_saes_attached_to_the_kme_get_keys_from_it(network: Network, name: str) -> None:
    # n1's SAEs are n1-app and n1-other: another node's SAE, an SAE in no directory, the KMEs
    # themselves and the operator are all 401 on every route
    certificate = holder(network, name)
    for action in (
        lambda c: c.status("n2-app"),
        lambda c: c.enc_keys("n2-app"),
        lambda c: c.enc_keys("n2-app", use_get=True),
        lambda c: c.dec_keys("n2-app", [uuid.uuid4()]),
        lambda c: c.dec_keys("n2-app", [uuid.uuid4()], use_get=True),
    ):
        error = refusal(network, "n1", certificate, action)
        assert error.status_code == 401, name


def test_an_sae_of_another_kme_cannot_fetch_its_keys_there(network: Network) -> None:
    pki = network.pki
    delivered = etsi(network, "n1", pki.n1_app, lambda c: c.enc_keys("n2-app"))
    key_ids = [key.key_id for key in delivered.keys]
    # n2-app asks n1 (the master's KME) instead of its own: not served, and the key is not spent
    error = refusal(network, "n1", pki.n2_app, lambda c: c.dec_keys("n1-app", key_ids))
    assert (error.status_code, error.message) == (401, "sae:n2-app may not POST /api/v1/keys/n1-app/dec_keys")
    fetched = etsi(network, "n2", pki.n2_app, lambda c: c.dec_keys("n1-app", key_ids))
    assert fetched.keys[0].material() == delivered.keys[0].material()


def test_a_stranger_learns_nothing_about_keys(network: Network) -> None:
    delivered = etsi(network, "n1", network.pki.n1_app, lambda c: c.enc_keys("n2-app"))
    key_ids = [key.key_id for key in delivered.keys]
    real = refusal(network, "n2", network.pki.stranger, lambda c: c.dec_keys("n1-app", key_ids))
    made_up = refusal(network, "n2", network.pki.stranger, lambda c: c.dec_keys("n1-app", [uuid.uuid4()]))
    assert (real.status_code, real.message) == (made_up.status_code, made_up.message)
    assert real.status_code == 401


def test_a_certificate_of_another_ca_cannot_connect(network: Network) -> None:
    error = refusal(network, "n1", network.pki.foreign_sae, lambda c: c.enc_keys("n2-app"))
    assert error.status_code is None
    assert isinstance(error.__cause__, httpx.TransportError)


def test_a_client_without_a_certificate_cannot_connect(network: Network) -> None:
    async def attempt() -> Etsi014ClientError:
        context = ssl.create_default_context(cafile=str(network.pki.ca.cert_path))
        async with (
            httpx.AsyncClient(verify=context, timeout=5) as http,
            Etsi014Client(network.urls["n1"], http_client=http) as client,
        ):
            try:
                await client.status("n2-app")
            except Etsi014ClientError as exc:
                return exc
        raise AssertionError("served without a client certificate")

    error = asyncio.run(attempt())
    assert error.status_code is None
    assert isinstance(error.__cause__, httpx.TransportError)


def test_a_kme_of_another_ca_is_not_trusted_by_the_sae(network: Network) -> None:
    async def attempt() -> Etsi014ClientError:
        sae = network.pki.n1_app
        async with Etsi014Client(
            network.urls["n1"], cert=sae.cert, key=sae.key, ca=network.pki.foreign_ca.cert_path, timeout_s=5
        ) as client:
            try:
                await client.status("n2-app")
            except Etsi014ClientError as exc:
                return exc
        raise AssertionError("a KME of another CA was trusted")

    assert "CERTIFICATE_VERIFY_FAILED" in str(asyncio.run(attempt()))


# KME↔KME: the peer KME of the link only -------------------------------------------------------------


def kme_api(network: Network, node: str, name: str, path: str, body: object) -> httpx.Response:
    with network.http(node, holder(network, name)) as http:
        return http.post(path, json=body)


_ASK = {"key_IDs": [str(uuid.uuid4())], "slave": "n2-app"}
_HOLD = {"block_ids": [str(uuid.uuid4())]}


@pytest.mark.parametrize("name", ["operator", "kme_n3", "kme_n1", "n2_app", "n1_app"])
@pytest.mark.parametrize(("operation", "body"), [("assignments", _ASK), ("blocks", _HOLD)])
def test_the_kme_api_refuses_everyone_but_the_peer_kme(
    network: Network, name: str, operation: str, body: object
) -> None:
    response = kme_api(network, "n1", name, f"/kmeapi/v1/links/{LINK}/{operation}", body)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["cache-control"] == "no-store"
    problem = response.json()
    assert (problem["status"], problem["title"]) == (403, "Forbidden")
    assert problem["detail"].endswith(f"may not POST /kmeapi/v1/links/{LINK}/{operation}")


def test_the_peer_kme_is_refused_on_a_link_it_is_not_on(network: Network) -> None:
    response = kme_api(network, "n1", "kme_n2", "/kmeapi/v1/links/n1-n3/assignments", _ASK)
    assert response.status_code == 403


def test_the_peer_kme_learns_assignments_for_the_slave_it_names_only(network: Network) -> None:
    delivered = etsi(network, "n1", network.pki.n1_app, lambda c: c.enc_keys("n2-app", size=512))
    (key,) = delivered.keys
    path = f"/kmeapi/v1/links/{LINK}/assignments"
    for_app = kme_api(network, "n1", "kme_n2", path, {"key_IDs": [str(key.key_id)], "slave": "n2-app"})
    for_other = kme_api(network, "n1", "kme_n2", path, {"key_IDs": [str(key.key_id)], "slave": "n2-other"})
    assert for_app.status_code == for_other.status_code == 200
    (assignment,) = for_app.json()["assignments"]
    assert set(assignment) == {"key_ID", "master_SAE_ID", "slave_SAE_IDs", "size", "block_IDs"}
    assert (assignment["key_ID"], assignment["master_SAE_ID"]) == (str(key.key_id), "n1-app")
    assert (assignment["slave_SAE_IDs"], assignment["size"], len(assignment["block_IDs"])) == (
        ["n2-app"],
        512,
        2,
    )
    assert for_other.json() == {"assignments": []}
    assert "key" not in for_app.text.replace("key_ID", "")  # metadata only: never key material


def test_the_kme_api_refuses_malformed_bodies_with_a_problem(network: Network) -> None:
    response = kme_api(network, "n1", "kme_n2", f"/kmeapi/v1/links/{LINK}/assignments", {"key_IDs": []})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "content",
    [
        # which slave would it mean?
        b'{"key_IDs": ["%s"], "slave": "n2-other", "slave": "n2-app"}' % str(uuid.uuid4()).encode(),
        b'{"key_IDs": ["%s"], "slave": "n2-app", "x": ' % str(uuid.uuid4()).encode()
        + b"[" * 100_000
        + b"]" * 100_000
        + b"}",
    ],
    ids=["repeated-member", "deep-nesting"],
)
def test_the_kme_api_refuses_bodies_that_are_not_strict_json_with_a_problem(
    network: Network, content: bytes
) -> None:
    with network.http("n1", network.pki.kme_n2) as http:
        response = http.post(
            f"/kmeapi/v1/links/{LINK}/assignments",
            content=content,
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "JSON decode error" in response.json()["detail"]


# Pool levels: the operator (controller, agent) only --------------------------------------------------


@pytest.mark.parametrize("name", ["n1_app", "kme_n2"])
def test_pool_levels_are_not_for_saes_or_kmes(network: Network, name: str) -> None:
    # known callers of another role: 403 (the management API has one; ETSI 014 would say 401)
    with network.http("n1", holder(network, name)) as http:
        response = http.get("/api/v1/kme")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].endswith("may not GET /api/v1/kme")


def test_the_operator_reads_the_pool_levels(network: Network) -> None:
    levels = network.pools("n1")
    assert levels["peer_kme_id"] == "n2"
    assert levels["block_bits"] == 256
    assert levels["ready_blocks"] > 0
    assert levels["blocks_held_for_peer"] > 0
