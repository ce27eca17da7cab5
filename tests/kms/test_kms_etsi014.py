"""ETSI GS QKD 014 at two KMEs (n1, n2) over mutual TLS on loopback, key pulled from an emulated QKD
link: every route, the limits, multicast, and delivery once to the right slave SAE only."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from kms_support import Network, etsi, refusal, rows

from sdqkd.etsi014 import Etsi014Client, KeyContainer

pytestmark = pytest.mark.integration

_NOT_YOURS = "one or more key IDs are not available to this SAE"
_STATUS_FIELDS = {
    "source_KME_ID", "target_KME_ID", "master_SAE_ID", "slave_SAE_ID", "key_size", "stored_key_count",
    "max_key_count", "max_key_per_request", "max_key_size", "min_key_size", "max_SAE_ID_count",
}  # fmt: skip


def enc(network: Network, **request: Any) -> KeyContainer:
    """New keys n1-app gets at n1 for n2-app."""
    return etsi(network, "n1", network.pki.n1_app, lambda c: c.enc_keys("n2-app", **request))


def dec(network: Network, key_ids: list[uuid.UUID], *, use_get: bool = False) -> KeyContainer:
    """The keys n2-app fetches at n2 from n1-app."""
    return etsi(network, "n2", network.pki.n2_app, lambda c: c.dec_keys("n1-app", key_ids, use_get=use_get))


def ids(container: KeyContainer) -> list[uuid.UUID]:
    return [key.key_id for key in container.keys]


def materials(container: KeyContainer) -> list[bytes]:
    return [key.material() for key in container.keys]


# Status ----------------------------------------------------------------------------------------------


def test_status_has_exactly_the_spec_fields_with_sensible_values(network: Network) -> None:
    with network.http("n1", network.pki.n1_app) as http:
        response = http.get("/api/v1/keys/n2-app/status")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    status = response.json()
    assert set(status) == _STATUS_FIELDS
    assert {k: status[k] for k in ("source_KME_ID", "target_KME_ID", "master_SAE_ID", "slave_SAE_ID")} == {
        "source_KME_ID": "n1", "target_KME_ID": "n2", "master_SAE_ID": "n1-app", "slave_SAE_ID": "n2-app",
    }  # fmt: skip
    assert (status["key_size"], status["min_key_size"], status["max_key_size"]) == (256, 64, 4096)
    assert (status["max_key_per_request"], status["max_SAE_ID_count"]) == (128, 8)
    assert status["max_key_count"] == 512  # the pool target, in keys of the default size
    assert 0 < status["stored_key_count"] <= status["max_key_count"]


def test_status_from_the_other_end_names_the_other_kme_as_source(network: Network) -> None:
    status = etsi(network, "n2", network.pki.n2_other, lambda c: c.status("n1-app"))
    assert (status.source_kme_id, status.target_kme_id) == ("n2", "n1")
    assert (status.master_sae_id, status.slave_sae_id) == ("n2-other", "n1-app")


@pytest.mark.parametrize("slave", ["nobody", "n1-app"])
def test_status_for_a_slave_without_a_key_association_is_400(network: Network, slave: str) -> None:
    # unknown, or the master itself (SAEs of the same KME: tests/kms/test_kms_local.py)
    error = refusal(network, "n1", network.pki.n1_app, lambda c: c.status(slave))
    assert error.status_code == 400
    assert slave in error.message


# Get key / Get key with key IDs ---------------------------------------------------------------------


@pytest.mark.parametrize("use_get", [False, True])
def test_enc_keys_defaults_to_one_key_of_the_default_size(network: Network, use_get: bool) -> None:
    delivered = enc(network, use_get=use_get)
    assert len(delivered.keys) == 1
    assert len(delivered.keys[0].material()) == 32
    assert materials(dec(network, ids(delivered))) == materials(delivered)


@pytest.mark.parametrize("size", [64, 72, 128, 200, 256, 264, 512, 1000, 2048, 4096])
def test_every_size_from_64_to_4096_bits_in_whole_bytes_is_served(network: Network, size: int) -> None:
    delivered = enc(network, number=3, size=size, use_get=size % 16 == 0)
    assert [len(material) for material in materials(delivered)] == [size // 8] * 3
    assert len(set(materials(delivered))) == 3
    fetched = dec(network, ids(delivered))
    assert ids(fetched) == ids(delivered)
    assert materials(fetched) == materials(delivered)


def test_dec_keys_get_form_fetches_one_key(network: Network) -> None:
    delivered = enc(network, number=2)
    first = dec(network, ids(delivered)[:1], use_get=True)
    second = dec(network, ids(delivered)[1:], use_get=True)
    assert materials(first) + materials(second) == materials(delivered)


def test_the_most_keys_a_request_may_ask_for_are_served(network: Network) -> None:
    delivered = enc(network, number=128, size=64)
    assert len(set(ids(delivered))) == 128
    assert materials(dec(network, ids(delivered))) == materials(delivered)


@pytest.mark.parametrize(
    ("request_", "said"),
    [
        ({"size": 12}, "multiple of 8"),
        ({"size": 60}, "multiple of 8"),
        ({"size": 56}, "multiple of 8 from 64 to 4096"),
        ({"size": 32}, "from 64 to 4096"),
        ({"size": 8192}, "from 64 to 4096"),
        ({"number": 129}, "max_key_per_request (128)"),
    ],
)
@pytest.mark.parametrize("use_get", [False, True])
def test_requests_outside_the_limits_are_400_and_take_nothing(
    network: Network, request_: dict[str, Any], said: str, use_get: bool
) -> None:
    keys_before = rows(network.stores["n1"].path, "SELECT COUNT(*) FROM keys")
    error = refusal(
        network, "n1", network.pki.n1_app, lambda c: c.enc_keys("n2-app", **request_, use_get=use_get)
    )
    assert error.status_code == 400
    assert said in error.message
    assert rows(network.stores["n1"].path, "SELECT COUNT(*) FROM keys") == keys_before


@pytest.mark.parametrize("body", [{"number": 0}, {"number": "2"}, {"size": True}, {"number": 1.5}])
def test_malformed_key_requests_are_400_with_an_error_body(network: Network, body: dict[str, Any]) -> None:
    with network.http("n1", network.pki.n1_app) as http:
        response = http.post("/api/v1/keys/n2-app/enc_keys", json=body)
    assert response.status_code == 400
    assert response.headers["cache-control"] == "no-store"
    assert set(response.json()) <= {"message", "details"}
    assert response.json()["message"] == "bad request format"


def test_a_mandatory_extension_is_refused_with_400_and_the_error_body(network: Network) -> None:
    with network.http("n1", network.pki.n1_app) as http:
        response = http.post(
            "/api/v1/keys/n2-app/enc_keys", json={"number": 1, "extension_mandatory": [{"abc_route": "x"}]}
        )
    assert response.status_code == 400
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "message": "unsupported mandatory extension",
        "details": [{"extension_mandatory": ["abc_route"]}],
    }


def test_an_optional_extension_is_ignored(network: Network) -> None:
    delivered = enc(network, number=2, extension_optional=[{"abc_qos": {"priority": 1}}])
    assert materials(dec(network, ids(delivered))) == materials(delivered)


def test_enc_keys_for_an_unknown_slave_is_400(network: Network) -> None:
    error = refusal(network, "n1", network.pki.n1_app, lambda c: c.enc_keys("nobody"))
    assert error.status_code == 400
    assert error.message == "no key association with SAE 'nobody' from this KME"


def test_not_enough_key_material_is_503_and_takes_nothing(network: Network) -> None:
    before = network.stores["n1"].levels("n1-n2").ready_self
    # 128 keys of 4096 bits need 2048 blocks: more than the pool ever holds (512)
    error = refusal(network, "n1", network.pki.n1_app, lambda c: c.enc_keys("n2-app", number=128, size=4096))
    assert error.status_code == 503
    assert "not enough key material" in error.message
    assert network.stores["n1"].levels("n1-n2").ready_self >= before  # the supply only adds


def test_the_blocks_keys_take_are_counted_at_the_master_kme_only(network: Network) -> None:
    before = {node: network.pools(node).get("blocks_used_for_keys", 0) for node in ("n1", "n2")}
    delivered = enc(network, number=3, size=512)  # 2 blocks of 256 bits each
    dec(network, ids(delivered))
    after = {node: network.pools(node)["blocks_used_for_keys"] for node in ("n1", "n2")}
    assert after == {"n1": before["n1"] + 6, "n2": before["n2"]}
    refusal(network, "n1", network.pki.n1_app, lambda c: c.enc_keys("n2-app", number=128, size=4096))
    assert network.pools("n1")["blocks_used_for_keys"] == after["n1"]  # a refused request takes nothing


# Multicast -------------------------------------------------------------------------------------------


def test_a_multicast_key_reaches_both_slaves_once_each_with_equal_bytes(network: Network) -> None:
    pki = network.pki
    delivered = enc(network, number=2, size=512, additional_slave_sae_ids=["n2-other"])
    by_app = dec(network, ids(delivered))
    by_other = etsi(network, "n2", pki.n2_other, lambda c: c.dec_keys("n1-app", ids(delivered)))
    assert materials(by_app) == materials(by_other) == materials(delivered)
    for certificate in (pki.n2_app, pki.n2_other):
        again = refusal(network, "n2", certificate, lambda c: c.dec_keys("n1-app", ids(delivered)[:1]))
        assert (again.status_code, again.message) == (401, _NOT_YOURS)


def test_the_key_bytes_stay_at_the_slave_kme_until_every_slave_has_them(network: Network) -> None:
    delivered = enc(network, additional_slave_sae_ids=["n2-other"])
    etsi(network, "n2", network.pki.n2_other, lambda c: c.dec_keys("n1-app", ids(delivered)))
    path, key_id = network.stores["n2"].path, str(ids(delivered)[0])
    (material,) = rows(path, "SELECT material FROM keys WHERE key_id = ?", key_id)
    assert material == (delivered.keys[0].material(),)
    dec(network, ids(delivered))
    assert rows(path, "SELECT material FROM keys WHERE key_id = ?", key_id) == [(None,)]


@pytest.mark.parametrize("additional", [["n1-other"], ["stranger"], ["n2-other", "n1-app"]])
def test_an_additional_slave_not_attached_to_the_slave_kme_is_400(
    network: Network, additional: list[str]
) -> None:
    error = refusal(
        network, "n1", network.pki.n1_app,
        lambda c: c.enc_keys("n2-app", additional_slave_sae_ids=additional),
    )  # fmt: skip
    assert error.status_code == 400
    assert "is not attached to KME 'n2'" in error.message


def test_more_additional_slaves_than_max_sae_id_count_is_400(network: Network) -> None:
    error = refusal(
        network, "n1", network.pki.n1_app,
        lambda c: c.enc_keys("n2-app", additional_slave_sae_ids=[f"n2-extra-{i}" for i in range(9)]),
    )  # fmt: skip
    assert error.status_code == 400
    assert "at most 8 additional slave SAEs" in error.message


# Delivery to the right slave, once ---------------------------------------------------------------


def test_a_key_is_delivered_to_its_slave_once(network: Network) -> None:
    delivered = enc(network, number=2)
    assert materials(dec(network, ids(delivered))) == materials(delivered)
    again = refusal(network, "n2", network.pki.n2_app, lambda c: c.dec_keys("n1-app", ids(delivered)))
    assert (again.status_code, again.message) == (401, _NOT_YOURS)
    one = refusal(network, "n2", network.pki.n2_app, lambda c: c.dec_keys("n1-app", ids(delivered)[1:]))
    assert (one.status_code, one.message) == (401, _NOT_YOURS)


def test_another_sae_at_the_slave_kme_gets_the_same_401_as_for_an_unknown_key(network: Network) -> None:
    delivered = enc(network)
    foreign = refusal(network, "n2", network.pki.n2_other, lambda c: c.dec_keys("n1-app", ids(delivered)))
    unknown = refusal(network, "n2", network.pki.n2_other, lambda c: c.dec_keys("n1-app", [uuid.uuid4()]))
    assert (foreign.status_code, foreign.message) == (unknown.status_code, unknown.message)
    assert (foreign.status_code, foreign.message) == (401, _NOT_YOURS)
    assert materials(dec(network, ids(delivered))) == materials(delivered)  # still there for n2-app


@pytest.mark.parametrize("master", ["n1-other", "n2-other", "nobody"])
def test_the_slave_must_name_the_right_master(network: Network, master: str) -> None:
    delivered = enc(network)
    error = refusal(network, "n2", network.pki.n2_app, lambda c: c.dec_keys(master, ids(delivered)))
    assert (error.status_code, error.message) == (401, _NOT_YOURS)
    assert materials(dec(network, ids(delivered))) == materials(delivered)


def test_an_unknown_key_id_is_401_and_spoils_nothing_asked_with_it(network: Network) -> None:
    delivered = enc(network, number=2)
    error = refusal(
        network, "n2", network.pki.n2_app, lambda c: c.dec_keys("n1-app", [*ids(delivered), uuid.uuid4()])
    )
    assert (error.status_code, error.message) == (401, _NOT_YOURS)
    repeated = refusal(network, "n2", network.pki.n2_app, lambda c: c.dec_keys("n1-app", ids(delivered) * 2))
    assert repeated.status_code == 401
    assert materials(dec(network, ids(delivered))) == materials(delivered)


def test_the_master_cannot_fetch_its_own_keys_at_its_kme(network: Network) -> None:
    delivered = enc(network)
    error = refusal(network, "n1", network.pki.n1_app, lambda c: c.dec_keys("n2-app", ids(delivered)))
    assert (error.status_code, error.message) == (401, _NOT_YOURS)


def test_keys_are_fetched_in_any_grouping_and_order(network: Network) -> None:
    delivered = enc(network, number=4)
    key_ids = ids(delivered)
    later = dec(network, [key_ids[3], key_ids[1]])
    earlier = dec(network, [key_ids[2], key_ids[0]])
    by_id = {key.key_id: key.material() for key in [*later.keys, *earlier.keys]}
    assert by_id == {key.key_id: key.material() for key in delivered.keys}


def test_a_dec_keys_with_more_ids_than_max_key_per_request_is_400_and_spoils_nothing(
    network: Network,
) -> None:
    delivered = enc(network, number=1)
    asked = [*ids(delivered), *(uuid.uuid4() for _ in range(128))]
    error = refusal(network, "n2", network.pki.n2_app, lambda c: c.dec_keys("n1-app", asked))
    assert error.status_code == 400
    assert "max_key_per_request (128)" in error.message
    assert materials(dec(network, ids(delivered))) == materials(delivered)


def test_dec_keys_with_a_million_ids_is_refused_quickly(network: Network) -> None:
    body = {"key_IDs": [{"key_ID": str(uuid.uuid4())} for _ in range(1_000_000)]}
    started = time.perf_counter()
    with network.http("n2", network.pki.n2_app) as http:
        response = http.post("/api/v1/keys/n1-app/dec_keys", json=body, timeout=60)
    elapsed_s = time.perf_counter() - started
    assert response.status_code in (400, 413)  # 413: a body size cap, where the server has one
    assert len(response.content) < 4096
    assert elapsed_s < 9.0  # it took 9 s, blocking every other SAE, when the list was looked up


# Headers and the published API -----------------------------------------------------------------------


def test_every_etsi_answer_is_marked_no_store(network: Network) -> None:
    with network.http("n1", network.pki.n1_app) as http:
        answers = [
            http.get("/api/v1/keys/n2-app/status"),
            http.post("/api/v1/keys/n2-app/enc_keys", json={}),
            http.get("/api/v1/keys/n2-app/enc_keys", params={"size": 12}),
            http.post("/api/v1/keys/n2-app/dec_keys", json={"key_IDs": [{"key_ID": str(uuid.uuid4())}]}),
        ]
    assert [answer.status_code for answer in answers] == [200, 200, 400, 401]
    assert all(answer.headers["cache-control"] == "no-store" for answer in answers)


def test_the_published_openapi_lists_the_etsi_014_paths(network: Network) -> None:
    with network.http("n1", network.pki.n1_app) as http:
        assert http.get("/openapi.json").status_code == 401  # the operator's, not the SAEs'
    with network.http("n1", network.pki.operator) as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert {
        "/api/v1/keys/{slave_SAE_ID}/status",
        "/api/v1/keys/{slave_SAE_ID}/enc_keys",
        "/api/v1/keys/{master_SAE_ID}/dec_keys",
    } <= set(document["paths"])
    assert set(document["paths"]["/api/v1/keys/{slave_SAE_ID}/enc_keys"]) == {"get", "post"}
    assert document["components"]["securitySchemes"]["mutualTLS"]["type"] == "mutualTLS"


def test_concurrent_requests_on_one_connection_pool_are_all_served(network: Network) -> None:
    async def burst(client: Etsi014Client) -> list[KeyContainer]:
        return list(await asyncio.gather(*(client.enc_keys("n2-app", number=2) for _ in range(20))))

    containers = etsi(network, "n1", network.pki.n1_app, burst)
    key_ids = [key_id for container in containers for key_id in ids(container)]
    assert len(set(key_ids)) == 40
    fetched = dec(network, key_ids)
    assert materials(fetched) == [m for container in containers for m in materials(container)]
